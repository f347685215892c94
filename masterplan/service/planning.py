"""The master plan: one call, validated (schema, dependencies, cycles, sizes), one repair call if needed."""

from __future__ import annotations

from pydantic import ValidationError

from masterplan.executor.context import CallResult, RunContext
from masterplan.executor.journal import JournalTx
from masterplan.executor.ordering import plan_problems
from masterplan.executor.tags import canonical_json, tag
from masterplan.models import MAX_TASKS, Artifact, DiscoveryDocument, MasterPlan, RunStatus
from masterplan.service.documents import render_master_plan
from masterplan.service.errors import PhaseFailed

PLAN_JSON = "masterplan.json"


def _tolerance(target: int) -> tuple[int, int]:
    """The plan may miss the target task count by a little, never wildly."""
    slack = max(2, target // 2)
    return max(1, target - slack), min(MAX_TASKS, target + slack)


async def stored_plan(ctx: RunContext) -> MasterPlan | None:
    async with ctx.journal.read() as tx:
        artifact = await tx.get_artifact(ctx.run.id, PLAN_JSON)
    return MasterPlan.model_validate_json(artifact.content) if artifact else None


def _problems(result: CallResult[MasterPlan], target: int) -> list[str]:
    if result.value is None:
        return [result.error or "the answer was not a master plan"]
    low, high = _tolerance(target)
    return [problem.message for problem in plan_problems(result.value, min_tasks=low, max_tasks=high)]


async def make_plan(ctx: RunContext, document: DiscoveryDocument) -> MasterPlan:
    """Plan (or load the stored plan), store its tasks and move the run to ``executing``."""
    plan = await stored_plan(ctx)
    if plan is None:
        plan = await _generate(ctx)
        await _store(ctx, plan)
    return plan


async def _generate(ctx: RunContext) -> MasterPlan:
    target = ctx.run.options.tasks
    tail = tag("target_tasks", str(target))
    result = await ctx.caller.call_until_valid("master_plan", MasterPlan, tail=tail)
    problems = _problems(result, target)
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
    remaining = _problems(repaired, target)
    if remaining:
        raise PhaseFailed("the master plan is invalid after one repair: " + "; ".join(remaining[:10]))
    assert repaired.value is not None
    await ctx.journal.event(ctx.run.id, "plan.repaired", {"fixed": problems})
    return repaired.value


async def _store(ctx: RunContext, plan: MasterPlan) -> None:
    try:
        content = canonical_json(plan)
    except (TypeError, ValidationError) as error:
        raise PhaseFailed(f"the master plan cannot be stored: {error}") from None
    document = render_master_plan(plan)

    async def write(tx: JournalTx) -> None:
        await tx.put_artifact(
            Artifact(run_id=ctx.run.id, name=PLAN_JSON, content_type="application/json", content=content)
        )
        await tx.put_artifact(Artifact(run_id=ctx.run.id, name="MASTERPLAN.md", content=document))
        await tx.insert_tasks(ctx.run.id, plan.tasks)
        await tx.append_event(
            ctx.run.id,
            "plan.completed",
            {
                "tasks": len(plan.tasks),
                "phases": [phase.phase_id for phase in plan.phases],
                "milestones": len(plan.milestones),
                "task_ids": [task.task_id for task in plan.tasks],
            },
        )
        await tx.transition_run(ctx.run.id, RunStatus.EXECUTING)

    await ctx.journal.write_batch(write)  # fifty tasks and more: one trip to the database
