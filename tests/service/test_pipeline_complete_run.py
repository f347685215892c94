"""A whole run against the simulator, start to end: workspace, commits, report, audit trail and events.

One run per dialect is made once for the module and every test reads what it left behind:
12 tasks on SQLite, 3 on PostgreSQL (the same code paths, at a third of the cost).
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.forecast.report import Forecast
from masterplan.llm.pricing import PriceTable
from masterplan.llm.usage import TokenUsage
from masterplan.models import Event, LLMCallRecord, RunStatus, TaskStatus, Usage
from masterplan.service.assembly import open_service

from .pipeline_helpers import (
    RunRecord,
    git_subjects,
    load_record,
    markdown_rows,
    run_request,
    service_settings,
    sim_requests,
    simulator,
    summary_cells,
    workspace_pytest,
)


@dataclass(frozen=True)
class FinishedRun:
    tasks_asked: int
    record: RunRecord
    published: list[Event]
    stats: dict[str, Any]
    workspace: Path
    pytest: subprocess.CompletedProcess[str]
    commits: list[str]
    report_file: str
    python_files_prechecked: int


async def _finish(database_url: str, root: Path, tasks: int) -> FinishedRun:
    async with simulator(seed=3) as sim:
        async with open_service(service_settings(sim, database_url, root / "workspaces")) as service:
            with service.bus.subscribe(None) as subscription:
                run = await service.create(run_request(tasks))
                run = await service.wait(run.id)
                record = await load_record(service.store, run.id)
                # Events are published as their transactions commit: all of them are queued by now.
                async with asyncio.timeout(10):
                    published = [await subscription.get() for _ in record.events]
            prechecked = service.compile_pool.submitted
        stats = sim.stats()
    workspace = Path(record.run.workspace)
    return FinishedRun(
        tasks_asked=tasks,
        record=record,
        published=published,
        stats=stats,
        workspace=workspace,
        pytest=workspace_pytest(workspace),
        commits=git_subjects(workspace),
        report_file=(workspace / "REPORT.md").read_text(encoding="utf-8"),
        python_files_prechecked=prechecked,
    )


@pytest.fixture(scope="module", params=[("sqlite", 12), ("postgres", 3)], ids=["sqlite-12", "postgres-3"])
def finished(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    dialect, tasks = request.param
    root = tmp_path_factory.mktemp(f"complete-{dialect}")
    if dialect == "sqlite":
        database_url = f"sqlite://{root / 'masterplan.db'}"
    else:
        databases = request.getfixturevalue("postgres_databases")
        database_url = asyncio.run(databases.create(migrated=True))
    return asyncio.run(_finish(database_url, root, tasks))


# ------------------------------------------------------------------- outcome


def test_run_completes_with_every_planned_task_done(finished: FinishedRun) -> None:
    record = finished.record
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    assert record.run.error is None
    assert len(record.tasks) == finished.tasks_asked
    assert {task.status for task in record.tasks} == {TaskStatus.COMPLETED}


def test_workspace_passes_its_own_test_suite(finished: FinishedRun) -> None:
    assert finished.pytest.returncode == 0, finished.pytest.stdout[-3000:] + finished.pytest.stderr[-2000:]
    assert " passed" in finished.pytest.stdout


def test_every_completed_task_is_a_commit_in_the_workspace(finished: FinishedRun) -> None:
    expected = [f"{task.task_id}: {task.definition.title}" for task in finished.record.tasks]
    task_commits = [subject for subject in finished.commits if not subject.startswith("masterplan:")]
    assert sorted(task_commits) == sorted(expected)
    assert finished.commits[-1] == "masterplan: discovery, plan and report"


def test_workspace_holds_the_documents_of_the_store(finished: FinishedRun) -> None:
    for name in ("DISCOVERY.md", "MASTERPLAN.md", "REPORT.md"):
        stored = finished.record.artifacts[name].content
        assert (finished.workspace / name).read_text(encoding="utf-8") == stored


# -------------------------------------------------------------------- report


def test_report_shows_each_task_as_the_store_has_it(finished: FinishedRun) -> None:
    report = finished.record.artifacts["REPORT.md"].content
    assert finished.report_file == report
    prices = PriceTable.load()
    rows = {row["task"].strip("`"): row for row in markdown_rows(report, "Tasks")}
    assert set(rows) == {task.task_id for task in finished.record.tasks}
    for task in finished.record.tasks:
        row = rows[task.task_id]
        assert row["title"] == task.definition.title
        assert (row["status"], row["model"], row["attempts"]) == (task.status.value, task.model, str(task.attempts))
        assert row["cost"] == f"${task.cost_usd:.6f}"
        calls = [call for call in finished.record.calls if call.task_id == task.task_id]
        uncached = sum((prices.get(c.model).uncached_cost(TokenUsage.from_record(c)) for c in calls), Decimal(0))
        assert row["without caching"] == f"${uncached:.6f}"
        assert row["check"] == "passed"


def test_report_totals_are_the_stores(finished: FinishedRun) -> None:
    run = finished.record.run
    cells = summary_cells(finished.record.artifacts["REPORT.md"].content)
    assert cells["status"] == "**completed**"
    assert cells["tasks"] == f"{len(finished.record.tasks)} completed, 0 failed, 0 skipped, 0 pending of " + str(
        len(finished.record.tasks)
    )
    assert cells["cost"] == f"${run.cost_usd:.6f} of a ${run.budget_usd:.6f} budget"
    assert cells["LLM calls"] == f"{len(finished.record.calls)} (0 failed attempts)"
    usage = run.usage
    assert cells["tokens"] == (
        f"{usage.input_tokens} input, {usage.cache_write_tokens} cache write, "
        f"{usage.cache_read_tokens} cache read, {usage.output_tokens} output"
    )
    assert cells["final check"].startswith("passed")


def test_report_cost_by_phase_adds_up_to_the_run_cost(finished: FinishedRun) -> None:
    rows = markdown_rows(finished.record.artifacts["REPORT.md"].content, "Cost by phase")
    calls_by_phase: dict[str, int] = {}
    for call in finished.record.calls:
        calls_by_phase[call.phase] = calls_by_phase.get(call.phase, 0) + 1
    assert {row["phase"]: int(row["calls"]) for row in rows} == calls_by_phase
    shown = sum((Decimal(row["cost"].lstrip("$")) for row in rows), Decimal(0))
    assert abs(shown - finished.record.run.cost_usd) <= Decimal("0.0000005") * len(rows)  # each rounded to 6 places


# --------------------------------------------------------------- audit trail


def test_every_call_is_audited_with_an_existing_prompt_version_and_a_model(finished: FinishedRun) -> None:
    record = finished.record
    assert record.calls
    for call in record.calls:
        assert (call.prompt_name, call.prompt_version) in record.prompt_versions
        assert call.model in ("claude-haiku-4-5", "claude-sonnet-4-6")
        assert call.outcome == "ok"
        assert call.run_id == record.run.id


def test_every_audited_cost_is_the_price_table_cost_of_its_usage(finished: FinishedRun) -> None:
    prices = PriceTable.load()
    for call in finished.record.calls:
        assert call.cost_usd > 0
        assert call.cost_usd == prices.cost(call.model, TokenUsage.from_record(call))


def test_audit_trail_has_one_record_per_request_the_simulator_saw(finished: FinishedRun) -> None:
    assert len(finished.record.calls) == sim_requests(finished.stats)
    roles = finished.stats["requests_by_role"]
    assert roles["task_execution"] == sum(1 for call in finished.record.calls if call.phase == "task_execution")
    assert finished.stats["requests_by_task"] == {task.task_id: 1 for task in finished.record.tasks}


def test_run_cost_and_usage_are_the_sums_of_the_audit_trail(finished: FinishedRun) -> None:
    run, calls = finished.record.run, finished.record.calls
    assert run.cost_usd == sum((call.cost_usd for call in calls), Decimal(0))
    assert run.usage.input_tokens == sum(call.input_tokens for call in calls)
    assert run.usage.cache_write_tokens == sum(call.cache_write_tokens for call in calls)
    assert run.usage.cache_read_tokens == sum(call.cache_read_tokens for call in calls)
    assert run.usage.output_tokens == sum(call.output_tokens for call in calls)
    assert run.usage.input_tokens == finished.stats["tokens"]["input"]
    assert run.usage.output_tokens == finished.stats["tokens"]["output"]


def test_each_task_cost_is_the_sum_of_its_calls(finished: FinishedRun) -> None:
    for task in finished.record.tasks:
        own = [call.cost_usd for call in finished.record.calls if call.task_id == task.task_id]
        assert task.cost_usd == sum(own, Decimal(0))


# -------------------------------------------------------------------- events


def test_event_sequence_numbers_have_no_gaps(finished: FinishedRun) -> None:
    seqs = [event.seq for event in finished.record.events]
    assert seqs == list(range(1, len(seqs) + 1))


def test_live_subscribers_saw_the_stored_events_in_order(finished: FinishedRun) -> None:
    assert [(e.seq, e.type) for e in finished.published] == [(e.seq, e.type) for e in finished.record.events]


def test_run_status_moves_through_the_phases_in_order(finished: FinishedRun) -> None:
    record = finished.record
    assert record.events[0].type == "run.created"
    statuses = [event.data["status"] for event in record.events_of("run.status")]
    assert statuses == ["discovering", "planning", "executing", "completed"]
    froms = [event.data["from"] for event in record.events_of("run.status")]
    assert froms == ["queued", "discovering", "planning", "executing"]
    assert record.events[-1].type == "run.status"


def test_plan_and_every_task_are_announced(finished: FinishedRun) -> None:
    record = finished.record
    (plan,) = record.events_of("plan.completed")
    task_ids = [task.task_id for task in record.tasks]
    assert plan.data["task_ids"] == task_ids
    started = [event.data["task_id"] for event in record.events_of("task.started")]
    completed = [event.data["task_id"] for event in record.events_of("task.completed")]
    assert sorted(started) == sorted(task_ids)
    assert sorted(completed) == sorted(task_ids)
    seq_of = {(e.type, e.data.get("task_id")): e.seq for e in record.events}
    for task_id in task_ids:
        assert plan.seq < seq_of[("task.started", task_id)] < seq_of[("task.completed", task_id)]


def test_every_call_is_an_llm_call_event(finished: FinishedRun) -> None:
    record = finished.record
    call_events = record.events_of("llm.call")
    assert sum(event.data["attempts"] for event in call_events) == len(record.calls)
    assert sum(Decimal(event.data["cost_usd"]) for event in call_events) == record.run.cost_usd


def test_final_check_is_reported_before_the_run_completes(finished: FinishedRun) -> None:
    record = finished.record
    (final,) = record.events_of("check.final")
    assert final.data["passed"] is True
    assert final.seq < record.events_of("run.status")[-1].seq


def test_python_files_are_compiled_while_the_answers_stream(finished: FinishedRun) -> None:
    written = [
        file.path
        for task in finished.record.tasks
        if task.output
        for file in task.output.files
        if file.path.endswith(".py")
    ]
    # The worker starts with the run; from the first task on, every Python file streamed is compiled by it.
    assert len(written) / 2 <= finished.python_files_prechecked


# ------------------------------------------------------- forecast vs actual


def _accuracy(finished: FinishedRun) -> tuple[Forecast, ForecastAccuracy]:
    artifacts = finished.record.artifacts
    forecast = Forecast.model_validate_json(artifacts["FORECAST.json"].content)
    return forecast, ForecastAccuracy.model_validate_json(artifacts["FORECAST_ACCURACY.json"].content)


def _usage_of(calls: list[LLMCallRecord]) -> Usage:
    return sum((call.usage for call in calls), Usage())


def test_forecast_is_compared_with_what_the_run_did(finished: FinishedRun) -> None:
    record = finished.record
    forecast, accuracy = _accuracy(finished)
    assert accuracy.counted
    assert accuracy.run_status == "completed"
    assert accuracy.cost.actual_usd == record.run.cost_usd
    assert accuracy.cost.expected_usd == forecast.cost.expected_usd
    expected_error = float(forecast.cost.expected_usd / record.run.cost_usd - 1)
    assert accuracy.cost.error == pytest.approx(expected_error, abs=1e-4)
    low, high, actual = forecast.cost.low_usd, forecast.cost.high_usd, record.run.cost_usd
    assert accuracy.cost.position == ("below" if actual < low else "above" if actual > high else "inside")
    executed = [c for c in record.calls if c.phase in ("task_execution", "qa_review", "phase_summary")]
    assert accuracy.tokens.forecast == forecast.tokens
    assert accuracy.tokens.actual == _usage_of(executed)
    assert accuracy.calls.actual == len(executed)
    executing = next(e for e in record.events if e.type == "run.status" and e.data["status"] == "executing")
    ended = record.events_of("run.status")[-1]
    assert 0 < accuracy.wall_time_s.actual <= (ended.ts - executing.ts).total_seconds() + 0.1
    assert accuracy.wall_time_s.forecast == forecast.wall_time.seconds


def test_each_task_is_compared_with_its_own_calls(finished: FinishedRun) -> None:
    record = finished.record
    forecast, accuracy = _accuracy(finished)
    assert [task.task_id for task in accuracy.tasks] == [task.task_id for task in forecast.tasks]
    states = {task.task_id: task for task in record.tasks}
    for compared, predicted in zip(accuracy.tasks, forecast.tasks, strict=True):
        own = [c for c in record.calls if c.task_id == compared.task_id and c.phase == "task_execution"]
        assert compared.cost.actual_usd == sum((c.cost_usd for c in own), Decimal(0))
        assert compared.cost.expected_usd == predicted.cost.expected_usd
        assert compared.tokens.actual == _usage_of(own)
        assert compared.tokens.forecast == predicted.expected_tokens
        assert compared.attempts.actual == states[compared.task_id].attempts
        assert compared.status == "completed"
        assert compared.duration_s.actual > 0


def test_report_and_event_carry_the_comparison(finished: FinishedRun) -> None:
    _, accuracy = _accuracy(finished)
    report = finished.record.artifacts["REPORT.md"].content
    totals = {row[""]: row for row in markdown_rows(report, "Forecast against actual")}
    assert totals["cost"]["actual"].startswith(f"${accuracy.cost.actual_usd:.6f}, {accuracy.cost.position}")
    assert totals["output tokens"]["actual"] == str(accuracy.tokens.actual.output_tokens)
    assert totals["calls"]["actual"] == str(int(accuracy.calls.actual))
    rows = {row["task"].strip("`"): row for row in markdown_rows(report, "Forecast against actual, per task")}
    assert set(rows) == {task.task_id for task in accuracy.tasks}
    for task in accuracy.tasks:
        assert rows[task.task_id]["actual"] == f"${task.cost.actual_usd:.6f}"
        assert rows[task.task_id]["output"] == (
            f"{task.tokens.forecast.output_tokens} / {task.tokens.actual.output_tokens}"
        )
    types = [event.type for event in finished.record.events]
    assert types.index("forecast.compared") < len(types) - 1 - types[::-1].index("run.status")
    (event,) = finished.record.events_of("forecast.compared")
    assert event.data["counted"] is True
    assert event.data["cost"]["actual_usd"] == str(accuracy.cost.actual_usd)
