"""The gate between a plan and its execution: the user reads the priced plan, edits it, sends it back or approves.

A run with ``approval: manual`` waits in ``awaiting_approval`` holding nothing but its row (no driver, no
call in flight), so a restart finds it waiting. Each change is checked against the run as stored, under the
row's lock, and recorded as an event with who made it (the surface: http, websocket, cli, dashboard) and
the forecast before and after:

- ``edit``: applied and validated like a generated plan (``plan_edits``), re-forecast, stored; refused as a
  whole (``PlanEditRefused``, every problem listed) with nothing changed;
- ``replan``: the feedback is stored and the run goes back to ``planning``: its driver makes one call
  (budgeted and recorded like any other), stores the new plan and forecast, and waits again;
- ``approve``: the plan's tasks are stored and the run moves to ``executing``; the caller starts its driver.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from masterplan.executor.context import RunContext
from masterplan.executor.journal import Journal
from masterplan.forecast.run_forecast import forecast_run
from masterplan.llm.pricing import PriceTable
from masterplan.models import Run, RunStatus
from masterplan.service.errors import RunConflict, require_run
from masterplan.service.pipeline import RunPipeline
from masterplan.service.plan_edits import PlanEdits, apply_edits
from masterplan.service.plan_store import (
    ReviewedPlan,
    forecast_summary,
    load_reviewed,
    put_reviewed,
    replan_artifact,
)

MAX_FEEDBACK_CHARS = 20_000


class PlanReview:
    def __init__(
        self, journal: Journal, pipeline: RunPipeline, prices: PriceTable, context: Callable[[Run], RunContext]
    ) -> None:
        """``context``: a run's context as its driver would have it (the forecast reads the run's store)."""
        self._journal = journal
        self._pipeline = pipeline
        self._prices = prices
        self._context = context

    async def plan(self, run_id: str) -> tuple[Run, ReviewedPlan]:
        """The run and its plan with the forecast (and pins); RunConflict if it has no plan yet."""
        async with self._journal.read() as tx:
            run = await require_run(tx, run_id)
            reviewed = await load_reviewed(tx, run_id)
        if reviewed is None:
            raise RunConflict(f"run {run_id} is {run.status} and has no plan yet")
        return run, reviewed

    async def edit(self, run_id: str, edits: PlanEdits, *, by: str) -> tuple[Run, ReviewedPlan]:
        """Apply ``edits`` to the waiting run's plan and re-forecast it; PlanEditRefused leaves the plan as it was."""
        run, current = await self.plan(run_id)
        _require_waiting(run)
        models = set(self._prices.models)
        plan, pins = apply_edits(current.plan, current.pins, edits, models=models)
        ctx = self._context(run)
        ctx.cache.project = await self._pipeline.project_context(ctx, await self._pipeline.require_discovery(ctx))
        edited = ReviewedPlan(plan, await forecast_run(ctx, plan, self._prices, pinned=pins), pins)
        async with self._journal.write() as tx:
            run = await require_run(tx, run_id, for_update=True)
            _require_waiting(run)
            stored = await load_reviewed(tx, run_id)
            if stored is None or stored.plan != current.plan or stored.pins != current.pins:
                raise RunConflict(f"the plan of run {run_id} changed while the edit was applied; read it again")
            await put_reviewed(tx, run_id, edited)
            await tx.append_event(
                run_id,
                "plan.edited",
                {
                    "by": by,
                    "edits": orjson.loads(edits.model_dump_json(exclude_defaults=True)),
                    "tasks": len(plan.tasks),
                    "task_ids": [task.task_id for task in plan.tasks],
                    "old_forecast": forecast_summary(current.forecast),
                    "new_forecast": forecast_summary(edited.forecast),
                },
            )
            await tx.append_event(run_id, "plan.forecast", forecast_summary(edited.forecast) or {})
        return run, edited

    async def approve(self, run_id: str, *, by: str) -> Run:
        """Store the plan's tasks and move the run to ``executing`` (the caller starts its driver)."""
        async with self._journal.write() as tx:
            run = await require_run(tx, run_id, for_update=True)
            _require_waiting(run)
            reviewed = await load_reviewed(tx, run_id)
            if reviewed is None:
                raise RunConflict(f"run {run_id} awaits approval but its plan is missing")
            await tx.insert_tasks(run_id, reviewed.plan.tasks)
            await tx.append_event(
                run_id,
                "plan.approved",
                {"by": by, "tasks": len(reviewed.plan.tasks), "forecast": forecast_summary(reviewed.forecast)},
            )
            run, _ = await tx.transition_run(run_id, RunStatus.EXECUTING)
        return run

    async def replan(self, run_id: str, feedback: str, *, by: str) -> Run:
        """Send the plan back with the user's feedback: the run plans again (the caller starts its driver)."""
        text = feedback.strip()
        if not text:
            raise RunConflict("the feedback is empty: say what the new plan should change")
        if len(text) > MAX_FEEDBACK_CHARS:
            raise RunConflict(f"the feedback has {len(text)} characters; at most {MAX_FEEDBACK_CHARS} are allowed")
        async with self._journal.write() as tx:
            run = await require_run(tx, run_id, for_update=True)
            _require_waiting(run)
            await tx.put_artifact(replan_artifact(run_id, text, pending=True))
            await tx.append_event(run_id, "plan.replan_requested", {"by": by, "feedback": text})
            run, _ = await tx.transition_run(run_id, RunStatus.PLANNING)
        return run


def _require_waiting(run: Run) -> None:
    if run.status is not RunStatus.AWAITING_APPROVAL:
        raise RunConflict(f"run {run.id} is {run.status}, not awaiting approval")
