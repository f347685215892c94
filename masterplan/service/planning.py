"""The master plan: one call, validated (schema, dependencies, cycles, sizes), one repair call if needed.

The plan is priced (``masterplan.forecast``) and stored with its forecast; with ``approval: manual`` the run
then waits in ``awaiting_approval``. A replan the user asked for at the gate comes back here: one call of the
``plan_repair`` phase with the current plan and the feedback, validated the same way, then review again.
"""

from __future__ import annotations

from pydantic import ValidationError

from masterplan.executor.context import CallResult, RunContext
from masterplan.executor.journal import JournalTx
from masterplan.executor.ordering import plan_problems
from masterplan.executor.tags import canonical_json, tag
from masterplan.forecast.run_forecast import forecast_run
from masterplan.llm.pricing import PriceTable
from masterplan.models import MAX_TASKS, DiscoveryDocument, MasterPlan, RunStatus
from masterplan.service.errors import PhaseFailed
from masterplan.service.plan_store import (
    ReviewedPlan,
    forecast_summary,
    load_reviewed,
    pending_replan,
    plan_artifacts,
    replan_artifact,
)


def _tolerance(target: int, *, change: bool = False) -> tuple[int, int]:
    """The plan may miss the target task count by a little, never wildly. A change to an existing repository
    takes as few tasks as it needs: the target is then only the most it may take (with the same slack)."""
    slack = max(2, target // 2)
    return 1 if change else max(1, target - slack), min(MAX_TASKS, target + slack)


async def stored_plan(ctx: RunContext) -> MasterPlan | None:
    async with ctx.journal.read() as tx:
        reviewed = await load_reviewed(tx, ctx.run.id)
    return reviewed.plan if reviewed else None


def _problems(result: CallResult[MasterPlan], target: int, *, change: bool) -> list[str]:
    if result.value is None:
        return [result.error or "the answer was not a master plan"]
    low, high = _tolerance(target, change=change)
    return [problem.message for problem in plan_problems(result.value, min_tasks=low, max_tasks=high)]


async def make_plan(ctx: RunContext, document: DiscoveryDocument, prices: PriceTable) -> MasterPlan:
    """Plan (or load the stored plan, or replan it with the user's feedback), price it and store both.

    The run moves to ``awaiting_approval`` with ``approval: manual`` (nothing more is spent until the user
    approves), else straight to ``executing`` with the plan's tasks.
    """
    async with ctx.journal.read() as tx:
        reviewed = await load_reviewed(tx, ctx.run.id)
        feedback = await pending_replan(tx, ctx.run.id)
    if reviewed is None:
        plan = await _generate(ctx)
        await _store(ctx, ReviewedPlan(plan, await forecast_run(ctx, plan, prices)), "plan.completed")
        return plan
    if feedback is None:  # stored before a restart, the run still planning: only the move on is left
        await _store(ctx, reviewed, None)
        return reviewed.plan
    revision = await _revise(ctx, reviewed.plan, feedback)
    if revision is None:  # the plan under review stays as it was; the request is answered all the same
        await _store(ctx, reviewed, None, feedback=feedback)
        return reviewed.plan
    kept = {task.task_id for task in revision.tasks}
    pins = {task_id: model for task_id, model in reviewed.pins.items() if task_id in kept}
    revised = ReviewedPlan(revision, await forecast_run(ctx, revision, prices, pinned=pins), pins)
    await _store(ctx, revised, "plan.replanned", feedback=feedback, previous=reviewed)
    return revision


async def _revise(ctx: RunContext, plan: MasterPlan, feedback: str) -> MasterPlan | None:
    """One call: the plan as it stands and the user's feedback; the answer is validated like a new plan.

    None (and a ``plan.replan_failed`` event) when the answer is not a valid plan.
    """
    tail = "\n".join(
        [
            tag("target_tasks", str(len(plan.tasks))),
            tag("previous_plan", canonical_json(plan)),
            tag("feedback", "The user reviewed the plan and asks for these changes:\n" + feedback),
        ]
    )
    result = await ctx.caller.call_until_valid("plan_repair", MasterPlan, tail=tail)
    problems = (
        [problem.message for problem in plan_problems(result.value, min_tasks=1, max_tasks=MAX_TASKS)]
        if result.value is not None
        else [result.error or "the answer was not a master plan"]
    )
    if problems:
        # The plan under review stays as it was; the user can approve it, edit it or ask again.
        await ctx.journal.event(ctx.run.id, "plan.replan_failed", {"problems": problems})
        return None
    assert result.value is not None
    return result.value


async def _generate(ctx: RunContext) -> MasterPlan:
    target = ctx.run.options.tasks
    tail = tag("target_tasks", str(target))
    change = ctx.run.options.repository is not None
    result = await ctx.caller.call_until_valid("master_plan", MasterPlan, tail=tail)
    problems = _problems(result, target, change=change)
    if not problems:
        assert result.value is not None
        return result.value
    await ctx.journal.event(ctx.run.id, "plan.invalid", {"problems": problems})
    if result.value is not None:
        previous, feedback = canonical_json(result.value), "\n".join(f"- {problem}" for problem in problems)
    else:
        previous, feedback = result.text, result.feedback or "\n".join(problems)
    repair_tail = "\n".join([tail, tag("previous_plan", previous), tag("feedback", feedback)])
    repaired = await ctx.caller.call_until_valid("plan_repair", MasterPlan, tail=repair_tail)
    remaining = _problems(repaired, target, change=change)
    if remaining:
        raise PhaseFailed("the master plan is invalid after one repair: " + "; ".join(remaining[:10]))
    assert repaired.value is not None
    await ctx.journal.event(ctx.run.id, "plan.repaired", {"fixed": problems})
    return repaired.value


async def _store(
    ctx: RunContext,
    reviewed: ReviewedPlan,
    event: str | None,
    *,
    feedback: str | None = None,
    previous: ReviewedPlan | None = None,
) -> None:
    """The plan, its forecast, the events and the run's move on, in one transaction."""
    plan = reviewed.plan
    try:
        artifacts = plan_artifacts(ctx.run.id, reviewed)
    except (TypeError, ValidationError) as error:
        raise PhaseFailed(f"the master plan cannot be stored: {error}") from None
    waits = ctx.run.options.approval == "manual"

    async def write(tx: JournalTx) -> None:
        for artifact in artifacts:
            await tx.put_artifact(artifact)
        if feedback is not None:
            await tx.put_artifact(replan_artifact(ctx.run.id, feedback, pending=False))
        if event is not None:
            data: dict[str, object] = {
                "tasks": len(plan.tasks),
                "phases": [phase.phase_id for phase in plan.phases],
                "milestones": len(plan.milestones),
                "task_ids": [task.task_id for task in plan.tasks],
            }
            if previous is not None:
                data.update(feedback=feedback, old_forecast=forecast_summary(previous.forecast))
            await tx.append_event(ctx.run.id, event, data)
            await tx.append_event(ctx.run.id, "plan.forecast", forecast_summary(reviewed.forecast) or {})
        if waits:
            ctx.run, _ = await tx.transition_run(ctx.run.id, RunStatus.AWAITING_APPROVAL)
        else:
            await tx.insert_tasks(ctx.run.id, plan.tasks)
            ctx.run, _ = await tx.transition_run(ctx.run.id, RunStatus.EXECUTING)

    await ctx.journal.write_batch(write)  # fifty tasks and more: one trip to the database
