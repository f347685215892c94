"""The gate: a manual run waits with its priced plan; edits, replans and approval, on both databases."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from masterplan.forecast.report import Forecast
from masterplan.models import PlanTask, RunStatus
from masterplan.service.assembly import open_service
from masterplan.service.errors import RunConflict
from masterplan.service.plan_edits import PlanEditRefused, PlanEdits, TaskChange

from .pipeline_helpers import QUICK_CHECKS, load_record, run_request, service_settings, simulator

TASKS = 4
MANUAL = run_request(TASKS, approval="manual", checks=QUICK_CHECKS)


async def test_a_manual_run_waits_with_its_forecast_and_runs_once_approved(database_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, database_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(MANUAL)).id)

        assert run.status is RunStatus.AWAITING_APPROVAL
        assert service.active_runs == 0
        requests_before = sim.stats()["requests_by_role"]
        assert "developer" not in requests_before
        record = await load_record(service.store, run.id)
        assert record.tasks == []  # nothing of the plan is executable until it is approved
        forecast = Forecast.model_validate_json(record.artifacts["FORECAST.json"].content)
        assert len(forecast.tasks) == len(record.events_of("plan.completed")[0].data["task_ids"])
        assert forecast.cost.low_usd <= forecast.cost.expected_usd <= forecast.cost.high_usd
        assert forecast.spent_usd == run.cost_usd
        assert "## Forecast" in record.artifacts["MASTERPLAN.md"].content
        assert record.events_of("plan.forecast")[0].data["cost"]["expected_usd"] == str(forecast.cost.expected_usd)
        assert await service.resume_unfinished() == []

        approved = await service.approve(run.id, by="test")
        assert approved.status is RunStatus.EXECUTING
        finished = await service.wait(run.id)
        assert finished.status is RunStatus.COMPLETED
        record = await load_record(service.store, run.id)
        assert record.events_of("plan.approved")[0].data["by"] == "test"
        assert len(record.tasks) == len(forecast.tasks)
        with pytest.raises(RunConflict, match="not awaiting approval"):
            await service.approve(run.id, by="test")


async def test_an_edit_with_a_cycle_is_refused_with_the_cycle_named_and_nothing_changes(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(MANUAL)).id)
        _, before = await service.plan(run.id)
        first, last = before.plan.tasks[0].task_id, before.plan.tasks[-1].task_id
        assert first in [dep for task in before.plan.tasks for dep in task.depends_on]

        cycle = PlanEdits(change={first: TaskChange(depends_on=[last])}, remove=["no-such-task"])
        with pytest.raises(PlanEditRefused) as refused:
            await service.edit_plan(run.id, cycle, by="test")
        problems = " ".join(refused.value.problems)
        assert "cycle" in problems
        assert first in problems
        assert last in problems
        assert "no-such-task" in problems
        _, after = await service.plan(run.id)
        assert after == before


async def test_a_valid_edit_is_re_forecast_and_recorded(database_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, database_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(MANUAL)).id)
        _, before = await service.plan(run.id)
        assert before.forecast is not None
        low = next(task for task in before.plan.tasks if task.complexity != "high")
        removed = before.plan.tasks[-1]
        added = PlanTask(
            task_id="extra-docs",
            title="Write a usage guide",
            description="A README section on running the API.",
            phase=removed.phase,
            milestone=removed.milestone,
            complexity="low",
            task_type="docs",
            depends_on=[before.plan.tasks[0].task_id],
        )
        edits = PlanEdits(
            remove=[removed.task_id],
            change={low.task_id: TaskChange(complexity="high", title="Harder than planned")},
            add=[added],
        )
        _, after = await service.edit_plan(run.id, edits, by="test")

        assert after.forecast is not None
        assert after.forecast != before.forecast
        ids = [task.task_id for task in after.plan.tasks]
        assert removed.task_id not in ids
        assert "extra-docs" in ids
        changed = next(task for task in after.forecast.tasks if task.task_id == low.task_id)
        assert changed.complexity == "high"
        assert changed.model == service.settings.strong_model
        record = await load_record(service.store, run.id)
        edited = record.events_of("plan.edited")[0].data
        assert edited["by"] == "test"
        assert edited["old_forecast"]["cost"] == before.forecast.cost.model_dump(mode="json")
        assert edited["new_forecast"]["cost"] == after.forecast.cost.model_dump(mode="json")
        assert Forecast.model_validate_json(record.artifacts["FORECAST.json"].content) == after.forecast


async def test_a_pinned_model_answers_the_task_and_is_priced(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(MANUAL)).id)
        _, before = await service.plan(run.id)
        task = before.plan.tasks[0]
        strong = service.settings.strong_model
        _, pinned = await service.edit_plan(run.id, PlanEdits(change={task.task_id: TaskChange(model=strong)}), by="t")
        assert pinned.pins == {task.task_id: strong}
        assert pinned.forecast is not None
        assert pinned.forecast.tasks[0].model == strong
        assert pinned.forecast.tasks[0].pinned
        with pytest.raises(PlanEditRefused, match="not one of"):
            await service.edit_plan(run.id, PlanEdits(change={task.task_id: TaskChange(model="gpt-9")}), by="t")

        await service.approve(run.id, by="test")
        await service.wait(run.id)
        record = await load_record(service.store, run.id)
        assert {call.model for call in record.calls if call.task_id == task.task_id} == {strong}


async def test_replan_makes_one_billed_call_and_waits_again(database_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, database_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(MANUAL)).id)
        with pytest.raises(RunConflict, match="empty"):
            await service.replan(run.id, "  ", by="test")

        replanning = await service.replan(run.id, "Split the API work into smaller tasks.", by="test")
        assert replanning.status is RunStatus.PLANNING
        again = await service.wait(run.id)

        assert again.status is RunStatus.AWAITING_APPROVAL
        assert again.cost_usd > run.cost_usd
        record = await load_record(service.store, run.id)
        replan_calls = [call for call in record.calls if call.phase == "plan_repair"]
        assert len(replan_calls) == 1
        assert again.cost_usd - run.cost_usd == replan_calls[0].cost_usd
        replanned = record.events_of("plan.replanned")[0].data
        assert replanned["feedback"] == "Split the API work into smaller tasks."
        assert replanned["old_forecast"] is not None
        _, reviewed = await service.plan(run.id)
        assert reviewed.forecast is not None
        assert reviewed.forecast.spent_usd == again.cost_usd
        assert len(record.events_of("plan.forecast")) == 2


async def test_a_plan_over_budget_is_flagged_by_how_much(sqlite_url: str, tmp_path: Path) -> None:
    tight = run_request(TASKS, approval="manual", checks=QUICK_CHECKS, budget_usd=Decimal("0.30"))
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(tight)).id)
        _, reviewed = await service.plan(run.id)
        assert reviewed.forecast is not None
        budget = reviewed.forecast.budget
        assert budget.exceeded
        assert budget.over_by_usd == reviewed.forecast.cost.high_usd - Decimal("0.30")
        assert f"${budget.over_by_usd}" in budget.message
        record = await load_record(service.store, run.id)
        assert "Over budget" in record.artifacts["MASTERPLAN.md"].content
        assert record.events_of("plan.forecast")[0].data["budget"]["exceeded"] is True
