"""A task's files, checked in a view of their own and merged into the run's workspace in completion order.

Concurrent tasks share one workspace, but their checks do not wait for each other: each attempt's
files are checked in a view (``views``) taken under the workspace lock and released at once. When
the task is done (checks passed, QA accepted), its files land under the lock: if nothing it wrote
changed meanwhile they are written as checked; if another task changed one of them, the two changes
are merged (``merging``) and the merge is checked again, in a new view, until the workspace holds
still long enough (the last round keeps the lock while it checks); overlapping changes are a
conflict, sent back to the model. No change is ever overwritten and no merge lands unchecked.

Files nobody else changed land as checked even when *other* files changed meanwhile (a rename in one
file, a caller in another): re-checking every landing would double the checks of concurrent runs. The
tasks that start after it check the combined workspace, and so does the run's final check.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from masterplan.executor.checks import CheckResult
from masterplan.executor.context import RunContext
from masterplan.executor.merging import FileMerge, merge_changes
from masterplan.executor.views import WorkspaceViews
from masterplan.executor.workspace import Workspace
from masterplan.models import GeneratedFile

T = TypeVar("T")

MAX_LANDING_ROUNDS = 3
"""Re-checks of a merge before the last one, which holds the workspace lock while it checks."""


@dataclass(frozen=True)
class Checked:
    files: list[GeneratedFile]
    """The files as checked: the task's own, merged with other tasks' changes where there were some."""
    base: dict[str, str | None]
    """What the workspace held at these paths when the view was taken."""
    check: CheckResult | None
    """The last check's result; None when the run has no checks."""
    deletes: dict[str, str | None] = field(default_factory=dict)
    """The paths the task deletes, with what they held when the view was taken."""


@dataclass(frozen=True)
class Refused:
    """The files cannot land: a check failed, or they conflict with another task's change."""

    feedback: str
    check: CheckResult | None = None
    conflicts: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    """Paths whose current content the next prompt must show: the conflicting ones, or the merged ones whose
    check failed (the next answer is written against them, so it keeps the other task's change)."""


class Landing:
    """Checks and lands the files of one run's tasks."""

    def __init__(self, ctx: RunContext, *, git: str | None) -> None:
        self.ctx = ctx
        self.views = WorkspaceViews(ctx.workspace)
        self.git = git
        self.landed_by: dict[str, str] = {}
        """The task whose files last landed at each path (to name it in a conflict)."""
        self.generation = 0
        """How many landings the workspace has had in this process; a prompt records the one it saw."""
        self._replaced: dict[str, list[tuple[int, str | None]]] = {}
        """Path -> (generation, what the path held before that landing) for every landing that changed it."""

    async def check(
        self,
        task_id: str,
        files: Sequence[GeneratedFile],
        since: int | None,
        known_base: Mapping[str, str | None] | None = None,
        deletes: Sequence[str] = (),
    ) -> Checked | Refused:
        """Check ``files``, written against the workspace as of generation ``since`` (None: as it is now).

        The base of the answer's changes is each path as of ``since``, shown in the prompt or not: a file the
        model wrote without seeing it replaced what the path held then, not what another task put there later.
        ``known_base`` gives it for paths whose generation this process does not know (after a restart).
        """
        paths = [file.path for file in files]
        known = known_base or {}
        async with self.ctx.workspace_lock:
            current = self.ctx.workspace.read(paths)
            base = {
                path: known[path] if path in known else self._content_at(path, since, current[path]) for path in paths
            }
            merge = await self._merge(task_id, base, current, files)
            if isinstance(merge, Refused):
                return merge
            # A delete removes the file as the prompt showed it; a change landed since is a conflict at landing.
            deleted = self.as_of(deletes, since)
            if not self.ctx.check_commands:
                return Checked(merge.files, current, None, deleted)
            view = await self.views.open(task_id)
        return await self._check_in(view, merge, current, deleted)

    async def land(self, task_id: str, checked: Checked, hand_over: Callable[[], None] | None) -> Checked | Refused:
        """Write ``checked`` into the workspace (merged and re-checked if it changed meanwhile).

        ``hand_over`` is called with the workspace lock held once the files are written, and must release it
        (a commit in the background does); without it the lock is released here.
        """
        lock = self.ctx.workspace_lock
        for landing_round in range(1, MAX_LANDING_ROUNDS + 1):
            await lock.acquire()
            held = True
            try:
                current = self.ctx.workspace.read([file.path for file in checked.files])
                merge = await self._merge(task_id, checked.base, current, checked.files)
                if isinstance(merge, Refused):
                    return merge
                refused = await self._deleted_meanwhile(task_id, checked.deletes)
                if refused is not None:
                    return refused
                if not merge.merged or not self.ctx.check_commands:
                    held = False
                    return self._write(task_id, dataclasses.replace(checked, files=merge.files), current, hand_over)
                view = await self.views.open(task_id)
                last = landing_round == MAX_LANDING_ROUNDS
                if not last:
                    lock.release()
                    held = False
                result = await self._check_in(view, merge, current, checked.deletes)
                if isinstance(result, Refused):
                    return result
                if last:
                    held = False
                    return self._write(task_id, result, current, hand_over)
                checked = result
            finally:
                if held:
                    lock.release()
        raise AssertionError("the last landing round always returns")

    async def clear(self) -> None:
        await self.views.clear()

    def as_of(self, paths: Sequence[str], generation: int | None) -> dict[str, str | None]:
        """What ``paths`` held at landing generation ``generation`` (None: now), as a prompt of then showed them."""
        current = self.ctx.workspace.read(list(paths))
        return {path: self._content_at(path, generation, current[path]) for path in paths}

    def _content_at(self, path: str, generation: int | None, current: str | None) -> str | None:
        if generation is not None:
            for landed, before in self._replaced.get(path, []):
                if landed > generation:
                    return before
        return current

    def _write(
        self,
        task_id: str,
        checked: Checked,
        before: Mapping[str, str | None],
        hand_over: Callable[[], None] | None,
    ) -> Checked:
        """Write under the held lock (``before``: what the paths hold, read under it), then hand the lock over."""
        try:
            self.ctx.workspace.write(checked.files)
            self.ctx.workspace.remove(list(checked.deletes))
            self.generation += 1
            for file in checked.files:
                if before[file.path] != file.content:
                    self._replaced.setdefault(file.path, []).append((self.generation, before[file.path]))
            for path, content in checked.deletes.items():
                self._replaced.setdefault(path, []).append((self.generation, content))
            self.landed_by.update((file.path, task_id) for file in checked.files)
            self.landed_by.update((path, task_id) for path in checked.deletes)
        except BaseException:
            self.ctx.workspace_lock.release()
            raise
        if hand_over is None:
            self.ctx.workspace_lock.release()
        else:
            hand_over()
        return checked

    async def _merge(
        self,
        task_id: str,
        base: Mapping[str, str | None],
        current: Mapping[str, str | None],
        files: Sequence[GeneratedFile],
    ) -> FileMerge | Refused:
        merge = await merge_changes(base, current, files, git=self.git)
        # What landed meanwhile may make a path unwritable (a directory where this task writes a file).
        blocked = [] if merge.conflicts else self.ctx.workspace.problems(merge.files)
        if blocked:
            merge = FileMerge([], conflicts=list(dict.fromkeys(problem.path for problem in blocked)))
        if merge.conflicts:
            return await self._conflict(task_id, merge.conflicts)
        if merge.merged:
            await self.ctx.journal.event(
                self.ctx.run.id,
                "task.merged",
                {
                    "task_id": task_id,
                    "files": merge.merged,
                    "other_tasks": self._others(merge.merged),
                    "rechecked": bool(self.ctx.check_commands),
                },
            )
        return merge

    def _others(self, paths: Sequence[str]) -> list[str]:
        return sorted({self.landed_by[path] for path in paths if path in self.landed_by})

    async def _deleted_meanwhile(self, task_id: str, deletes: Mapping[str, str | None]) -> Refused | None:
        """A file the task deletes that another task changed since: a conflict, never a silent loss."""
        now = self.ctx.workspace.read(list(deletes))
        changed = [path for path, content in deletes.items() if now[path] != content]
        return await self._conflict(task_id, changed) if changed else None

    async def _conflict(self, task_id: str, paths: list[str]) -> Refused:
        """The task's change of ``paths`` overlaps another task's: recorded, and sent back with their content."""
        await self.ctx.journal.event(
            self.ctx.run.id,
            "task.merge_conflict",
            {"task_id": task_id, "files": paths, "other_tasks": self._others(paths)},
        )
        return Refused(conflict_feedback(paths, self.landed_by), conflicts=paths, shown=paths)

    async def _check_in(
        self, view: Workspace, merge: FileMerge, base: dict[str, str | None], deletes: Mapping[str, str | None]
    ) -> Checked | Refused:
        """Run the checks on the merge's files (and without the deleted ones) in ``view``, then remove the view."""
        files = merge.files
        try:
            view.write(files)
            view.remove(list(deletes))
            results = await self.ctx.run_checks(view.root)
        finally:
            await self.views.close(view)
        results = [_relocated(result, view, self.ctx.workspace) for result in results]
        failed = next((result for result in results if not result.passed), None)
        if failed is not None:
            feedback = check_feedback(failed)
            if merge.merged:
                feedback = merged_check_feedback(merge.merged, self.landed_by) + feedback
            return Refused(feedback, check=failed, shown=merge.merged)
        return Checked(files, base, results[-1] if results else None, dict(deletes))


def _relocated(result: CheckResult, view: Workspace, workspace: Workspace) -> CheckResult:
    """The check's output as if it had run in the workspace: the model never sees a view's path."""
    return dataclasses.replace(result, output=relocated_text(result.output, view.root, workspace.root))


def relocated_text(text: str, view: Path, workspace: Path) -> str:
    for path in dict.fromkeys([str(view), os.path.realpath(view)]):
        text = text.replace(path, str(workspace))
    return text


async def in_a_view(ctx: RunContext, label: str, work: Callable[[Path], Awaitable[T]]) -> T:
    """``work`` done in a fresh view of the workspace (taken under the lock), never in the workspace itself:
    a suite run there (the final check, a repository's baseline) can change nothing of the run's files or
    its git repository, which git then reads outside the sandbox.

    For when no task is under way (before the first, after the last): the run's views are all removed after.
    """
    views = WorkspaceViews(ctx.workspace)
    async with ctx.workspace_lock:
        view = await views.open(label)
    try:
        return await work(view.root)
    finally:
        await views.clear()


def check_feedback(result: CheckResult) -> str:
    status = "timed out" if result.timed_out else f"exited with {result.exit_code}"
    return f"The check `{result.command}` {status}. Its output:\n{result.output}"


def _changed_by(paths: Sequence[str], landed_by: Mapping[str, str]) -> str:
    return "\n".join(
        f"- {path}" + (f" (changed by task {landed_by[path]})" if path in landed_by else "") for path in paths
    )


def merged_check_feedback(paths: Sequence[str], landed_by: Mapping[str, str]) -> str:
    return (
        "While you worked, another task changed files you write; your changes were merged with theirs:\n"
        f"{_changed_by(paths, landed_by)}\n"
        "The check below ran on the merge and failed. Their current content is in <current_files> (or "
        "<dependency_outputs>): answer again with your change made on top of it, keeping the other task's work.\n"
    )


def conflict_feedback(paths: Sequence[str], landed_by: Mapping[str, str]) -> str:
    lines = _changed_by(paths, landed_by)
    return (
        "While you worked, another task changed files you write, and the two changes overlap:\n"
        f"{lines}\n"
        "Their current content is in <current_files> (or <dependency_outputs>). Answer again with your change "
        "made on top of it, keeping the other task's work."
    )
