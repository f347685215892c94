"""All tasks of a plan: rebuild what a crash left, run the rest, summarise each finished phase."""

from __future__ import annotations

from masterplan.executor.context import RunContext
from masterplan.executor.gitrepo import GitRepo
from masterplan.executor.scheduler import TaskScheduler
from masterplan.executor.tags import canonical_json, tag
from masterplan.executor.task_runner import TaskRunner
from masterplan.models import Artifact, MasterPlan, PhaseSummary, TaskState, TaskStatus

SUMMARY_PREFIX = "summary-"
FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED})


async def rebuild_workspace(ctx: RunContext, tasks: list[TaskState], git: GitRepo | None) -> int:
    """Write every completed task's stored output again (in completion order) and refill the run's logs.

    After a crash the workspace may miss files or hold a half-finished attempt; the
    stored outputs are the truth. Returns how many tasks were restored.
    """
    ctx.workspace.ensure()
    if git is not None and git.available:
        await git.init()
    completed = sorted(
        (task for task in tasks if task.status is TaskStatus.COMPLETED and task.output is not None),
        key=lambda task: (task.updated_at, task.position),
    )
    for task in completed:
        assert task.output is not None
        if task.task_id in ctx.outputs:
            continue
        ctx.workspace.write(task.output.files)
        ctx.log_completed(task.task_id, task.output.summary or task.definition.title, task.output)
    if completed and git is not None and git.available:
        await git.commit_all("masterplan: workspace restored from stored task outputs")
    return len(completed)


class PlanExecution:
    def __init__(self, ctx: RunContext, plan: MasterPlan, git: GitRepo | None) -> None:
        self.ctx = ctx
        self.plan = plan
        self.git = git
        self.runner = TaskRunner(ctx, git)
        self._states: dict[str, TaskState] = {}
        self._summarized: set[str] = set()

    async def run(self) -> list[TaskState]:
        async with self.ctx.journal.read() as tx:
            tasks = await tx.list_tasks(self.ctx.run.id)
            artifacts = await tx.list_artifacts(self.ctx.run.id)
        self._load_summaries(artifacts)
        await rebuild_workspace(self.ctx, tasks, self.git)
        self._states = {task.task_id: task for task in tasks}
        scheduler = TaskScheduler(tasks, concurrency=self.ctx.run.options.concurrency)
        try:
            states = await scheduler.run(self._execute, self._skip, self.ctx.cancel.is_set)
        finally:
            await self.ctx.drain()
        await self._summarize_finished_phases()
        return states

    def _load_summaries(self, artifacts: list[Artifact]) -> None:
        for artifact in artifacts:
            if artifact.name.startswith(SUMMARY_PREFIX):
                summary = PhaseSummary.model_validate_json(artifact.content)
                self._summarized.add(summary.phase)
                self.ctx.log_phase_summary(summary)

    async def _execute(self, state: TaskState) -> TaskState:
        state = await self.runner.execute(state)
        self._states[state.task_id] = state
        await self._summarize_finished_phases()
        return state

    async def _skip(self, state: TaskState, reason: str) -> TaskState:
        state = await self.runner.skip(state, reason)
        self._states[state.task_id] = state
        return state

    async def _summarize_finished_phases(self) -> None:
        for phase in self.plan.phases:
            if phase.phase_id in self._summarized or self.ctx.cancel.is_set():
                continue
            members = [state for state in self._states.values() if state.definition.phase == phase.phase_id]
            if not members or any(state.status not in FINISHED for state in members):
                continue
            self._summarized.add(phase.phase_id)
            await self._summarize(phase.phase_id, members)

    async def _summarize(self, phase_id: str, members: list[TaskState]) -> None:
        finished = [
            {
                "task_id": state.task_id,
                "title": state.definition.title,
                "status": state.status.value,
                "summary": state.output.summary if state.output else "",
                "files": [file.path for file in state.output.files] if state.output else [],
            }
            for state in sorted(members, key=lambda state: state.position)
        ]
        tail = "\n".join([tag("phase", phase_id), tag("phase_tasks", canonical_json(finished))])
        result = await self.ctx.caller.call("phase_summary", PhaseSummary, tail=tail)
        if result.value is None:
            await self.ctx.journal.event(
                self.ctx.run.id, "phase.summary_failed", {"phase": phase_id, "cause": result.feedback}
            )
            return
        summary = result.value.model_copy(update={"phase": phase_id})
        async with self.ctx.journal.write() as tx:
            await tx.put_artifact(
                Artifact(
                    run_id=self.ctx.run.id,
                    name=f"{SUMMARY_PREFIX}{phase_id}.json",
                    content_type="application/json",
                    content=canonical_json(summary),
                )
            )
            await tx.append_event(self.ctx.run.id, "phase.summarized", {"phase": phase_id, "summary": summary.summary})
        self.ctx.log_phase_summary(summary)
