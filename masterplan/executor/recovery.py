"""The workspace and its git history after a crash, rebuilt from what the store and the repository say.

A kill can land between any two of a task's steps: its files written and checked, its completion stored,
its commit made, its ``task.committed`` event written. On restart:

- what the work tree holds beyond HEAD is no finished task's (an attempt cut off in its checks, say) and is
  discarded, so no later commit takes it in;
- a completed task whose commit was lost gets it now, with its own files only;
- a commit whose event was lost gets its event (``recovered``: true).

So each completed task ends up with one commit of its own files, and every task commit has its event.
Without git the stored outputs are simply written again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from masterplan.executor.context import RunContext
from masterplan.executor.gitrepo import GitRepo, changed_paths, task_commit_message
from masterplan.executor.workspace import INTERNAL_DIRS
from masterplan.models import TaskState, TaskStatus

EVENT_PAGE = 5_000


@dataclass
class CommitLedger:
    """Which task commits the history holds and which of them have their ``task.committed`` event."""

    latest: dict[str, str] = field(default_factory=dict)
    """The newest commit of each task, by task id."""
    recorded: set[str] = field(default_factory=set)
    """Commits that have their event."""


async def rebuild_workspace(ctx: RunContext, tasks: list[TaskState], git: GitRepo | None) -> CommitLedger:
    """Make the workspace and its history whole again; the completed tasks join the run's logs."""
    completed = sorted(
        (task for task in tasks if task.status is TaskStatus.COMPLETED and task.output is not None),
        key=lambda task: (task.updated_at, task.position),
    )
    ledger = CommitLedger()
    resuming = (ctx.workspace.root / ".git").exists()  # a directory, or a worktree's file
    ctx.workspace.ensure()
    if git is None or not git.available:
        for task in completed:
            assert task.output is not None
            ctx.workspace.write(task.output.files)
            ctx.workspace.remove(task.output.deletes)
    else:
        await git.init()
        if resuming or completed:
            ledger = await _repair_history(ctx, git, completed)
    for task in completed:
        assert task.output is not None
        if task.task_id not in ctx.outputs:
            ctx.log_completed(task.task_id, task.output.summary or task.definition.title, task.output)
    return ledger


async def _repair_history(ctx: RunContext, git: GitRepo, completed: list[TaskState]) -> CommitLedger:
    await git.discard_uncommitted(keep=[f"{name}/" for name in INTERNAL_DIRS])
    ledger = CommitLedger(recorded=await _recorded_commits(ctx))
    for commit in await git.task_commits():
        ledger.latest[commit.task_id] = commit.sha
        if commit.sha not in ledger.recorded:
            await _record(ctx, ledger, commit.task_id, commit.sha)
    # Commits are made one at a time in completion order, so the lost ones are the last completions: their
    # files go on top of HEAD in that order, each task committing its own.
    for task in completed:
        assert task.output is not None
        if task.task_id in ledger.latest:
            continue
        ctx.workspace.write(task.output.files)
        ctx.workspace.remove(task.output.deletes)
        sha = await git.commit_all(
            task_commit_message(task.task_id, task.definition.title), changed_paths(task.output), allow_empty=True
        )
        if sha is not None:
            ledger.latest[task.task_id] = sha
            await _record(ctx, ledger, task.task_id, sha)
    return ledger


async def _record(ctx: RunContext, ledger: CommitLedger, task_id: str, sha: str) -> None:
    await ctx.journal.event(ctx.run.id, "task.committed", {"task_id": task_id, "commit": sha, "recovered": True})
    ledger.recorded.add(sha)


async def _recorded_commits(ctx: RunContext) -> set[str]:
    """The commits named by the run's ``task.committed`` events."""
    recorded: set[str] = set()
    after = 0
    while True:
        async with ctx.journal.read() as tx:
            page = await tx.events_after(ctx.run.id, after, limit=EVENT_PAGE)
        recorded |= {str(event.data.get("commit")) for event in page if event.type == "task.committed"}
        if len(page) < EVENT_PAGE:
            return recorded
        after = page[-1].seq
