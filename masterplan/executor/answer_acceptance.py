"""Whether a developer answer can be used: its edits applied, its files valid, each problem fed back.

An unusable answer is re-asked within the attempt (``Caller.call_until_valid``) with what is wrong with it: an
edit that does not match once, a path leaving the workspace, a file too large, a syntax error. A usable one
comes back with its edits applied, as whole files, ready to be checked and landed.
"""

from __future__ import annotations

from masterplan.executor.context import RunContext
from masterplan.executor.landing import Landing
from masterplan.executor.precheck import SyntaxPrecheck
from masterplan.executor.syntax import syntax_problems
from masterplan.executor.task_changes import resolve_changes
from masterplan.executor.workspace import FileProblem, normalize
from masterplan.models import TaskOutput, TaskState

MAX_CAUSE_CHARS = 500


class AnswerAcceptance:
    def __init__(self, ctx: RunContext, landing: Landing) -> None:
        self.ctx = ctx
        self.landing = landing

    async def accepted(
        self, state: TaskState, output: TaskOutput, precheck: SyntaxPrecheck | None, since: int
    ) -> tuple[str | None, TaskOutput | None]:
        """Why the answer is unusable (feedback for a re-ask), or the answer with its edits applied.

        Edits apply to the files as the prompt showed them (landing generation ``since``); each one that does
        not match once is recorded with its cause.
        """
        changes = resolve_changes(output, self.ctx.workspace, lambda paths: self.landing.as_of(paths, since))
        for mismatch in changes.mismatches:
            self.ctx.journal.defer_event(
                state.run_id,
                "task.edit_mismatch",
                {"task_id": state.task_id, "path": mismatch.path, "edit": mismatch.index, "cause": mismatch.cause},
            )
        problems = changes.feedback
        if changes.output is not None:
            problems = await self.file_problems(changes.output, precheck)
        if problems is not None:
            self.ctx.journal.defer_event(
                state.run_id,
                "task.answer_rejected",
                {"task_id": state.task_id, "cause": clip(problems, MAX_CAUSE_CHARS)},
            )
            return problems, None
        if changes.edited:
            self.ctx.journal.defer_event(
                state.run_id, "task.edits_applied", {"task_id": state.task_id, "files": changes.edited}
            )
        return None, changes.output

    async def file_problems(self, output: TaskOutput, precheck: SyntaxPrecheck | None = None) -> str | None:
        """Why the answer's files cannot be written (paths, sizes, syntax), as feedback for the model; None if fine."""
        problems = self.ctx.workspace.problems(output.files) + await syntax_problems(
            output.files, precheck=precheck, sandbox=self.ctx.sandbox
        )
        return problems_feedback(problems) if problems else None


def with_normal_paths(output: TaskOutput) -> TaskOutput:
    """The paths as the workspace writes them (``./a//b.py`` is ``a/b.py``): one file, one key for merging."""
    files = [file.model_copy(update={"path": normalize(file.path)}) for file in output.files]
    deletes = [normalize(path) for path in output.deletes]
    if files == output.files and deletes == output.deletes:
        return output
    return output.model_copy(update={"files": files, "deletes": deletes})


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n[... truncated ...]"


def problems_feedback(problems: list[FileProblem]) -> str:
    lines = "\n".join(f"- {problem.path}: {problem.message}" for problem in problems)
    return f"The files were rejected before anything was written:\n{lines}"
