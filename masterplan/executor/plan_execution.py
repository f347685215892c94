"""All tasks of a plan: rebuild what a crash left (``recovery``), run the rest, summarise each finished phase.

A phase's summary is a side call: it runs beside the task slots, so the next task starts while
it is being written. It joins the prompt context of later tasks at a fixed point: a task that
began after the summary started waits for it when the task ends (a summary takes a fraction
of a task's time, so this almost never waits), so with one task at a time every prompt is
the same from one run to the next. The run waits for every summary before it ends.
"""

from __future__ import annotations

import asyncio

from masterplan.executor.context import RunCancelled, RunContext
from masterplan.executor.gitrepo import GitRepo
from masterplan.executor.ordering import TaskGraph
from masterplan.executor.recovery import rebuild_workspace
from masterplan.executor.scheduler import RateWaits, SchedulerStopped, TaskScheduler
from masterplan.executor.tags import canonical_json, json_artifact, tag
from masterplan.executor.task_runner import TaskRunner, accepted, qa_feedback
from masterplan.models import Artifact, MasterPlan, PhaseSummary, QAReport, TaskState, TaskStatus

SUMMARY_PREFIX = "summary-"
MILESTONE_QA_PREFIX = "qa-"
FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED})


class PlanExecution:
    def __init__(
        self, ctx: RunContext, plan: MasterPlan, git: GitRepo | None, *, rate_waits: RateWaits | None = None
    ) -> None:
        self.ctx = ctx
        self.plan = plan
        self.git = git
        self.rate_waits = rate_waits
        self.runner = TaskRunner(ctx, git)
        self._states: dict[str, TaskState] = {}
        self._summarized: set[str] = set()
        self._reviewed: set[str] = set()
        self._summaries: list[asyncio.Task[PhaseSummary | None]] = []
        self._joined = 0
        """Summaries before this index are in the prompt context (joined in the order they started)."""

    async def run(self) -> list[TaskState]:
        async with self.ctx.journal.read() as tx:
            tasks = await tx.list_tasks(self.ctx.run.id)
            artifacts = await tx.list_artifacts(self.ctx.run.id)
        self._load_summaries(artifacts)
        self.runner.max_attempts = await self.ctx.caller.attempts_allowed("task_execution")
        self.runner.commits = await rebuild_workspace(self.ctx, tasks, self.git)
        await self.runner.landing.clear()  # views a killed process left behind
        self._states = {task.task_id: task for task in tasks}
        self.runner.graph = TaskGraph([task.definition for task in tasks])
        # A task's expected duration is its expected answer size (earlier runs' statistics, or the prior).
        expected = await self.ctx.caller.expected_task_output_tokens([task.definition for task in tasks])
        durations = {task_id: float(tokens) for task_id, tokens in expected.items()}
        scheduler = TaskScheduler(
            tasks, concurrency=self._concurrency(len(tasks)), durations=durations, rate_waits=self.rate_waits
        )
        try:
            states = await scheduler.run(self._execute, self._skip, self.ctx.cancel.is_set)
        except SchedulerStopped:
            await self._cancel_summaries()
            if self.ctx.cancel.is_set():
                raise RunCancelled(self.ctx.run.id) from None
            raise
        except BaseException:
            await self._cancel_summaries()
            raise
        finally:
            await self.ctx.drain()  # pending commits are short: a finished task keeps its own commit
            await self.runner.landing.clear()
        self._summarize_finished_phases()
        await self._join_summaries(len(self._summaries))
        return states

    def _concurrency(self, tasks: int) -> int:
        """Batch mode starts every ready task at once: their calls go as one batch, which answers them all."""
        if self.ctx.run.options.mode == "batch":
            return max(tasks, 1)
        return self.ctx.run.options.concurrency

    async def _join_summaries(self, upto: int) -> None:
        """The summaries started before the ``upto``-th are finished and in the prompt context, in start order."""
        while self._joined < upto:
            index = self._joined
            summary = await self._summaries[index]
            if self._joined == index:  # another task's end may have joined it meanwhile
                self._joined += 1
                if summary is not None:
                    self.ctx.log_phase_summary(summary)

    async def _cancel_summaries(self) -> None:
        for call in self._summaries:
            call.cancel()
        await asyncio.gather(*self._summaries, return_exceptions=True)

    def _load_summaries(self, artifacts: list[Artifact]) -> None:
        for artifact in artifacts:
            if artifact.name.startswith(MILESTONE_QA_PREFIX):
                self._reviewed.add(artifact.name.removeprefix(MILESTONE_QA_PREFIX).removesuffix(".json"))
            if artifact.name.startswith(SUMMARY_PREFIX):
                summary = PhaseSummary.model_validate_json(artifact.content)
                self._summarized.add(summary.phase)
                self.ctx.log_phase_summary(summary)

    async def _execute(self, state: TaskState) -> TaskState:
        summaries_before = len(self._summaries)
        state = await self.runner.execute(state)
        await self._join_summaries(summaries_before)
        self._states[state.task_id] = state
        if self.ctx.run.options.qa == "milestone":
            state = await self._review_finished_milestones(state)
        self._summarize_finished_phases()
        return state

    async def _review_finished_milestones(self, current: TaskState) -> TaskState:
        """QA per milestone: once its tasks are finished, review them together; tasks an issue points at get one
        rework round. Returns ``current`` as it is after any rework."""
        for milestone in self.plan.milestones:
            key = milestone.milestone_id
            members = [s for s in self._states.values() if s.definition.milestone == key]
            if key in self._reviewed or not members or any(s.status not in FINISHED for s in members):
                continue
            self._reviewed.add(key)
            completed = [s for s in members if s.status is TaskStatus.COMPLETED and s.output is not None]
            report = await self._review_milestone(key, completed)
            if report is None or accepted(report):
                continue
            for state in _tasks_named_by(report, completed):
                reworked = await self.runner.rework(state, qa_feedback(report))
                self._states[reworked.task_id] = reworked
        return self._states[current.task_id]

    async def _review_milestone(self, milestone_id: str, completed: list[TaskState]) -> QAReport | None:
        milestone = next(m for m in self.plan.milestones if m.milestone_id == milestone_id)
        outputs = [
            {"task_id": s.task_id, "files": [f.model_dump() for f in s.output.files] if s.output else []}
            for s in completed
        ]
        checks = "; ".join(f"{s.task_id}: {'passed' if s.check_passed else 'not run'}" for s in completed)
        tail = "\n".join(
            [
                tag("task", canonical_json(milestone)),
                tag("task_output", canonical_json(outputs)),
                tag("check_result", checks or "no completed tasks"),
            ]
        )
        result = await self.ctx.caller.call("qa_review", QAReport, tail=tail)
        report = result.value
        async with self.ctx.journal.write() as tx:
            if report is not None:
                await tx.put_artifact(
                    json_artifact(self.ctx.run.id, f"{MILESTONE_QA_PREFIX}{milestone_id}.json", report)
                )
            await tx.append_event(
                self.ctx.run.id,
                "qa.milestone",
                {
                    "milestone": milestone_id,
                    "passed": None if report is None else accepted(report),
                    "issues": [] if report is None else [issue.model_dump() for issue in report.issues],
                    "cause": result.feedback,
                },
            )
        return report

    async def _skip(self, state: TaskState, reason: str) -> TaskState:
        state = await self.runner.skip(state, reason)
        self._states[state.task_id] = state
        return state

    def _summarize_finished_phases(self) -> None:
        """Start the summary of every phase whose tasks have all finished, beside the task slots."""
        for phase in self.plan.phases:
            if phase.phase_id in self._summarized or self.ctx.cancel.is_set():
                continue
            members = [state for state in self._states.values() if state.definition.phase == phase.phase_id]
            if not members or any(state.status not in FINISHED for state in members):
                continue
            self._summarized.add(phase.phase_id)
            call = asyncio.create_task(self._summarize(phase.phase_id, members), name=f"summary {phase.phase_id}")
            self._summaries.append(call)

    async def _summarize(self, phase_id: str, members: list[TaskState]) -> PhaseSummary | None:
        """The phase's summary, stored; it joins the prompt context in ``_join_summaries``."""
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
        result = await self.ctx.caller.call_until_valid("phase_summary", PhaseSummary, tail=tail)
        if result.value is None:
            await self.ctx.journal.event(
                self.ctx.run.id, "phase.summary_failed", {"phase": phase_id, "cause": result.error}
            )
            return None
        summary = result.value.model_copy(update={"phase": phase_id})
        async with self.ctx.journal.write() as tx:
            await tx.put_artifact(json_artifact(self.ctx.run.id, f"{SUMMARY_PREFIX}{phase_id}.json", summary))
            await tx.append_event(self.ctx.run.id, "phase.summarized", {"phase": phase_id, "summary": summary.summary})
        return summary


def _tasks_named_by(report: QAReport, completed: list[TaskState]) -> list[TaskState]:
    """Completed tasks whose files (or id) an issue that requires a fix points at, in plan order."""
    locations = [issue.location for issue in report.issues if issue.fix_required and issue.location]
    named = []
    for state in sorted(completed, key=lambda s: s.position):
        paths = {file.path for file in state.output.files} if state.output else set()
        if any(loc.split(":")[0] in paths or loc.split(":")[0] == state.task_id for loc in locations):
            named.append(state)
    return named
