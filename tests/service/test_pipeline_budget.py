"""A budget too small for the plan: the run stops before the call that might not fit, keeping what it finished."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .conftest import BUDGET_USD, FinishedRun
from .pipeline_helpers import git_subjects, load_record, run_request, service_settings, sim_requests, simulator


def test_run_ends_budget_exceeded_naming_the_call_that_did_not_fit(budget_run: FinishedRun) -> None:
    run = budget_run.record.run
    assert run.status is RunStatus.BUDGET_EXCEEDED, run.error
    assert run.error is not None
    assert run.error.startswith(
        f"budget exceeded: the run's budget is ${run.budget_usd}; the next call may cost up to $"
    )
    last = budget_run.record.events[-1]
    assert (last.type, last.data["status"]) == ("run.status", "budget_exceeded")
    assert Decimal(last.data["needed"]) > run.budget_usd - run.cost_usd
    assert "**budget_exceeded**" in budget_run.record.artifacts["REPORT.md"].content


def test_tasks_finished_before_the_refusal_are_kept(budget_run: FinishedRun) -> None:
    record = budget_run.record
    completed = record.task_ids("completed")
    assert 1 <= len(completed) < len(record.tasks)
    for task in record.tasks:
        if task.task_id in completed:
            assert task.output is not None
            assert task.check_passed is True
    titles = {task.task_id: task.definition.title for task in record.tasks}
    commits = git_subjects(Path(record.run.workspace))
    assert sorted(commits) == sorted(f"{task_id}: {titles[task_id]}" for task_id in completed)


def test_cost_stays_within_the_budget(budget_run: FinishedRun) -> None:
    run = budget_run.record.run
    assert run.budget_usd == BUDGET_USD
    assert 0 < run.cost_usd <= run.budget_usd
    assert run.cost_usd == sum((call.cost_usd for call in budget_run.record.calls), Decimal(0))


def test_no_request_is_sent_once_the_budget_refuses(budget_run: FinishedRun) -> None:
    record = budget_run.record
    assert sim_requests(budget_run.stats) == len(record.calls)
    assert all(call.outcome == "ok" for call in record.calls)
    asked = budget_run.stats["requests_by_task"]
    assert asked == {task_id: 1 for task_id in record.task_ids("completed")}
    last_call = record.events_of("llm.call")[-1]
    assert all(event.type != "llm.call" for event in record.events if event.seq > last_call.seq)


async def test_a_budget_too_small_for_the_first_call_sends_nothing(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(run_request(3, budget_usd=Decimal("0.01")))).id)
        record = await load_record(service.store, run.id)

        assert run.status is RunStatus.BUDGET_EXCEEDED
        assert run.error is not None
        assert "budget exceeded" in run.error
        assert record.calls == []
        assert run.cost_usd == 0
        assert sim_requests(sim.stats()) == 0
