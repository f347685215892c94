"""compare_forecast on hand-made records: what is counted, how errors are signed, how task times are read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from masterplan.forecast.accuracy import compare_forecast, cost_accuracy, measured
from masterplan.forecast.report import BudgetCheck, CostRange, Forecast, TaskForecast, WallTime
from masterplan.models import (
    Event,
    LLMCallRecord,
    PlanTask,
    Run,
    RunOptions,
    RunStatus,
    TaskState,
    TaskStatus,
    Usage,
)

START = datetime(2026, 12, 1, tzinfo=UTC)


def usd(low: str, expected: str, high: str) -> CostRange:
    return CostRange(low_usd=Decimal(low), expected_usd=Decimal(expected), high_usd=Decimal(high))


def task_forecast(task_id: str) -> TaskForecast:
    return TaskForecast(
        task_id=task_id,
        title=f"task {task_id}",
        phase="P1",
        complexity="low",
        task_type="service",
        model="claude-haiku-4-5",
        tokens=Usage(input_tokens=1000, output_tokens=500),
        expected_tokens=Usage(input_tokens=1050, output_tokens=525),
        output_low=300,
        output_high=900,
        expected_attempts=1.05,
        cost=usd("0.001", "0.002", "0.004"),
        duration_s=4.0,
    )


FORECAST = Forecast(
    tasks=[task_forecast("T01"), task_forecast("T02")],
    calls=3,
    tokens=Usage(input_tokens=2100, output_tokens=1050),
    cost=usd("0.010", "0.012", "0.020"),
    cache_read_share=0.0,
    tasks_cost=usd("0.002", "0.004", "0.008"),
    phase_summaries=usd("0", "0", "0"),
    qa=usd("0", "0", "0"),
    retries=usd("0", "0", "0"),
    wall_time=WallTime(tier="1", concurrency=1, seconds=9.0, bound="critical_path"),
    budget=BudgetCheck(budget_usd=Decimal(5), exceeded=False),
)


def run(status: RunStatus, cost: str) -> Run:
    return Run(
        id="r1",
        request="x",
        options=RunOptions(),
        status=status,
        budget_usd=Decimal(5),
        cost_usd=Decimal(cost),
        workspace="/tmp/w",
    )


def state(task_id: str, status: TaskStatus, attempts: int = 1) -> TaskState:
    definition = PlanTask(
        task_id=task_id, title="t", description="d", phase="P1", milestone="M1", complexity="low", task_type="service"
    )
    return TaskState(run_id="r1", task_id=task_id, position=0, definition=definition, status=status, attempts=attempts)


def call(task_id: str | None, phase: str, cost: str, **tokens: int) -> LLMCallRecord:
    return LLMCallRecord(
        run_id="r1",
        task_id=task_id,
        phase=phase,
        role="developer",
        prompt_name="developer",
        prompt_version=1,
        model="claude-haiku-4-5",
        cost_usd=Decimal(cost),
        **tokens,
    )


def event(seq: int, at_s: float, type_: str, **data: Any) -> Event:
    return Event(run_id="r1", seq=seq, type=type_, ts=START + timedelta(seconds=at_s), data=data)


EVENTS = [
    event(1, 0, "run.status", status="planning"),
    event(2, 2, "run.status", status="executing"),
    event(3, 2, "task.started", task_id="T01"),
    event(4, 5, "task.completed", task_id="T01"),
    event(5, 5, "task.started", task_id="T02"),
    event(6, 6, "task.started", task_id="T02"),  # resumed after a restart: the first start counts
    event(7, 9, "task.failed", task_id="T02"),
]
CALLS = [
    call(None, "master_plan", "0.004", input_tokens=900, output_tokens=2000),
    call("T01", "task_execution", "0.003", input_tokens=1000, output_tokens=600),
    call("T02", "task_execution", "0.002", input_tokens=1100, cache_read_tokens=100, output_tokens=400),
    call("T02", "task_execution", "0.001", input_tokens=1200, output_tokens=100),
    call(None, "phase_summary", "0.0005", input_tokens=50, output_tokens=20),
]


def test_a_finished_run_is_compared_per_task_and_in_total() -> None:
    tasks = [state("T01", TaskStatus.COMPLETED), state("T02", TaskStatus.FAILED, attempts=2)]
    accuracy = compare_forecast(
        FORECAST,
        run(RunStatus.COMPLETED_WITH_FAILURES, "0.015"),
        tasks,
        CALLS,
        EVENTS,
        now=START + timedelta(seconds=12),
    )
    assert accuracy is not None
    assert accuracy.counted
    assert (accuracy.cost.actual_usd, accuracy.cost.position) == (Decimal("0.015"), "inside")
    assert accuracy.cost.error == pytest.approx(0.012 / 0.015 - 1, abs=1e-4)  # negative: the forecast was low
    # The plan call is the run's cost, not the execution's tokens or calls.
    assert accuracy.tokens.actual == Usage(input_tokens=3350, cache_read_tokens=100, output_tokens=1120)
    assert accuracy.calls.actual == 4
    assert accuracy.tokens.error["cache_read_tokens"] == -1.0
    assert accuracy.tokens.error["cache_write_tokens"] is None  # nothing to measure against
    assert accuracy.wall_time_s.actual == 10.0  # from executing to the report
    first, second = accuracy.tasks
    assert (first.cost.actual_usd, first.duration_s.actual, first.attempts.actual) == (Decimal("0.003"), 3.0, 1)
    assert (second.cost.actual_usd, second.duration_s.actual, second.status) == (Decimal("0.003"), 4.0, "failed")
    assert second.tokens.actual.output_tokens == 500
    assert second.tokens.forecast == Usage(input_tokens=1050, output_tokens=525)


def test_a_run_stopped_half_way_is_shown_but_not_counted() -> None:
    tasks = [state("T01", TaskStatus.COMPLETED), state("T02", TaskStatus.PENDING, attempts=0)]
    accuracy = compare_forecast(FORECAST, run(RunStatus.CANCELLED, "0.008"), tasks, CALLS[:2], EVENTS[:4], now=START)
    assert accuracy is not None
    assert not accuracy.counted
    assert accuracy.tasks[1].status == "pending"
    assert accuracy.tasks[1].duration_s.actual == 0
    assert accuracy.cost.position == "below"


def test_a_completed_status_with_a_task_left_pending_is_not_counted() -> None:
    tasks = [state("T01", TaskStatus.COMPLETED), state("T02", TaskStatus.RUNNING)]
    accuracy = compare_forecast(FORECAST, run(RunStatus.COMPLETED, "0.015"), tasks, CALLS, EVENTS, now=START)
    assert accuracy is not None
    assert not accuracy.counted


def test_a_run_that_never_executed_has_no_comparison() -> None:
    assert compare_forecast(FORECAST, run(RunStatus.CANCELLED, "0.004"), [], CALLS[:1], EVENTS[:1], now=START) is None


def test_errors_are_signed_and_none_when_nothing_was_measured() -> None:
    assert measured(12.0, 10.0).error == 0.2
    assert measured(8.0, 10.0).error == -0.2
    assert measured(3.0, 0).error is None
    assert cost_accuracy(usd("1", "2", "3"), Decimal(0)).error is None
    assert cost_accuracy(usd("1", "2", "3"), Decimal("3.01")).position == "above"
    assert cost_accuracy(usd("1", "2", "3"), Decimal(3)).position == "inside"
