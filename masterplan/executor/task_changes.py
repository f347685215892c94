"""A task answer's edits and deletes, resolved against the workspace into what lands.

The model may answer with whole ``files``, search/replace ``edits`` of existing files and ``deletes``.
Edits are applied here, to each file's current content, so everything after (validation, syntax checks,
merging with concurrent tasks, the commit, a rebuild after a crash) sees whole files as before: the
resolved answer has the edited files in ``files`` and no edits left. An edit that does not match exactly
once, an edit of a file that does not exist, a file both edited and rewritten, a delete of a file that is
not there: each is a problem fed back to the model within the attempt, all at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from masterplan.executor.edits import EditMismatch, apply_edits
from masterplan.executor.workspace import FileProblem, Workspace, normalize, path_syntax_problems
from masterplan.models import FileEdit, GeneratedFile, TaskOutput


@dataclass(frozen=True)
class ResolvedChanges:
    output: TaskOutput | None
    """The answer with its edits applied (None when a problem refused it)."""
    mismatches: list[EditMismatch] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    """The paths the edits changed."""

    @property
    def feedback(self) -> str | None:
        if self.output is not None:
            return None
        lines = [f"- {mismatch}" for mismatch in self.mismatches]
        lines += [f"- {problem.path}: {problem.message}" for problem in self.problems]
        return (
            "The edits and deletes were refused before anything was written (copy each search text exactly "
            "from the file's current content; it must occur there once):\n" + "\n".join(lines)
        )


FileReader = Callable[[list[str]], dict[str, str | None]]
"""Paths -> their content (None: absent) as the answer's prompt showed the workspace."""


def resolve_changes(output: TaskOutput, workspace: Workspace, read: FileReader | None = None) -> ResolvedChanges:
    """``output`` with its edits applied to the files as ``read`` gives them (default: the workspace now), or
    the problems that refuse it. Reading the files as of the prompt keeps a change another task landed since
    out of this answer's version, so merging the two sees two changes, not one twice."""
    if not output.edits and not output.deletes:
        return ResolvedChanges(output)
    problems: list[FileProblem] = []
    written = {normalize(file.path) for file in output.files if not path_syntax_problems(file.path)}
    by_path: dict[str, list[FileEdit]] = defaultdict(list)
    for edit in output.edits:
        syntax = path_syntax_problems(edit.path, internal_dirs=workspace.internal_dirs)
        problems += [FileProblem(edit.path, message) for message in syntax]
        if not syntax:
            by_path[normalize(edit.path)].append(edit)
    deletes = _clean_deletes(output.deletes, workspace, problems)
    current = (read or workspace.read)([*by_path, *deletes])
    mismatches: list[EditMismatch] = []
    edited: list[GeneratedFile] = []
    for path, edits in by_path.items():
        problem = _edit_problem(path, written, deletes, current[path])
        if problem is not None:
            problems.append(FileProblem(path, problem))
            continue
        try:
            edited.append(GeneratedFile(path=path, content=apply_edits(path, current[path] or "", edits)))
        except EditMismatch as mismatch:
            mismatches.append(mismatch)
    for path in deletes:
        if path in written:
            problems.append(FileProblem(path, "the file is both deleted and written; give one or the other"))
        elif current[path] is None:
            problems.append(FileProblem(path, "there is no such file to delete"))
    if mismatches or problems:
        return ResolvedChanges(None, mismatches, problems)
    resolved = output.model_copy(update={"files": [*output.files, *edited], "edits": [], "deletes": deletes})
    return ResolvedChanges(resolved, edited=[file.path for file in edited])


def _edit_problem(path: str, written: set[str], deletes: list[str], content: str | None) -> str | None:
    if path in written:
        return "the file is both edited and written whole; give one or the other"
    if path in deletes:
        return "the file is both edited and deleted"
    if content is None:
        return "edits need an existing text file; write a new file whole in files"
    return None


def _clean_deletes(paths: list[str], workspace: Workspace, problems: list[FileProblem]) -> list[str]:
    clean: list[str] = []
    for path in paths:
        syntax = path_syntax_problems(path, internal_dirs=workspace.internal_dirs)
        if syntax:
            problems += [FileProblem(path, message) for message in syntax]
        elif normalize(path) not in clean:
            clean.append(normalize(path))
    return clean
