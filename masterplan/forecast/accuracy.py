"""Forecast against actual: what the approved plan was forecast to cost and take, and what the run did.

Computed once, when the run's report is written (at its end, or when it stops early), from the stored
``FORECAST.json``, the run's task rows, its call records and its events; stored as
``FORECAST_ACCURACY.json``, shown in REPORT.md and ``GET /runs/{id}``, and fed to the Prometheus histogram
of forecast errors (only for runs whose every task ended: a run cancelled half-way says nothing about the
forecast).

Every error is ``(forecast - actual) / actual``: positive when the forecast was too high, ``None`` when the
actual is zero. Costs compare the forecast's expected figure and say whether the actual fell inside the
[low, high] range. The run's cost is all of it (discovery and planning included, as the forecast's is);
tokens and calls are those of the calls the forecast lays out (tasks with their re-asks and continuations,
QA reviews, phase summaries). A task's time runs from its first ``task.started`` to the event that ended it;
the run's wall time from the run's move to ``executing`` to the moment the report is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

from masterplan.executor.calling import TASK_PHASE
from masterplan.forecast.compute import QA_PHASE, SUMMARY_PHASE
from masterplan.forecast.report import CostRange, Forecast, TaskForecast
from masterplan.models import TASK_END_EVENTS, Event, LLMCallRecord, Record, Run, TaskState, Usage

EXECUTION_PHASES = frozenset({TASK_PHASE, QA_PHASE, SUMMARY_PHASE})
"""The phases of the calls a forecast lays out."""
COUNTED_RUN_STATUSES = frozenset({"completed", "completed_with_failures"})
"""Runs whose forecast error is worth counting: every task of the plan ran to its end."""

RangePosition = Literal["below", "inside", "above"]


class Measured(Record):
    forecast: float
    actual: float
    error: float | None
    """(forecast - actual) / actual; None when the actual is zero."""


class CostAccuracy(Record):
    low_usd: Decimal
    expected_usd: Decimal
    high_usd: Decimal
    actual_usd: Decimal
    error: float | None
    """(expected - actual) / actual; None when nothing was spent."""
    position: RangePosition
    """Where the actual fell: below the low estimate, inside [low, high], or above the high one."""


class TokenAccuracy(Record):
    forecast: Usage
    actual: Usage
    error: dict[str, float | None]
    """Per kind of token (input_tokens, cache_write_tokens, cache_read_tokens, output_tokens)."""


class TaskAccuracy(Record):
    task_id: str
    title: str
    status: str
    """The task's status when the report was written (``pending`` when it never ran)."""
    model: str
    """The model the forecast routed or the user pinned."""
    cost: CostAccuracy
    tokens: TokenAccuracy
    attempts: Measured
    duration_s: Measured


class ForecastAccuracy(Record):
    """A run's forecast beside what the run did; see the module docstring for what each figure counts."""

    run_status: str
    counted: bool
    """Every task ended and the run completed (with or without failures): the errors say how good the
    forecast was, and the Prometheus histogram counts them."""
    cost: CostAccuracy
    tokens: TokenAccuracy
    calls: Measured
    cache_read_share: Measured
    wall_time_s: Measured
    wall_time_tier: str
    wall_time_concurrency: int
    tasks: list[TaskAccuracy]


def compare_forecast(
    forecast: Forecast,
    run: Run,
    tasks: Sequence[TaskState],
    calls: Sequence[LLMCallRecord],
    events: Iterable[Event],
    *,
    now: datetime,
) -> ForecastAccuracy | None:
    """``run`` as it is being reported (its status may be the terminal one it is about to take); None when
    the run never began executing (stopped at the gate or before)."""
    spans = _task_spans(events, now)
    started = spans.pop("", None)
    if started is None:
        return None
    execution_s = (now - started[0]).total_seconds()
    executed = [call for call in calls if call.phase in EXECUTION_PHASES and call.outcome != "started"]
    states = {task.task_id: task for task in tasks}
    task_calls: dict[str, list[LLMCallRecord]] = defaultdict(list)
    for call in executed:
        if call.phase == TASK_PHASE and call.task_id is not None:
            task_calls[call.task_id].append(call)
    used = _usage(executed)
    status = run.status.value
    return ForecastAccuracy(
        run_status=status,
        counted=status in COUNTED_RUN_STATUSES and all(task.status.value in TASK_END_EVENTS.values() for task in tasks),
        cost=cost_accuracy(forecast.cost, run.cost_usd),
        tokens=token_accuracy(forecast.tokens, used),
        calls=measured(forecast.calls, len(executed)),
        cache_read_share=measured(forecast.cache_read_share, round(used.cache_read_share, 4)),
        wall_time_s=measured(forecast.wall_time.seconds, round(execution_s, 1)),
        wall_time_tier=forecast.wall_time.tier,
        wall_time_concurrency=forecast.wall_time.concurrency,
        tasks=[
            _task_accuracy(
                task,
                states.get(task.task_id),
                task_calls[task.task_id],
                spans.get(task.task_id),
            )
            for task in forecast.tasks
        ],
    )


def _task_accuracy(
    forecast: TaskForecast,
    state: TaskState | None,
    calls: Sequence[LLMCallRecord],
    span: tuple[datetime, datetime] | None,
) -> TaskAccuracy:
    duration = (span[1] - span[0]).total_seconds() if span else 0.0
    return TaskAccuracy(
        task_id=forecast.task_id,
        title=forecast.title,
        status=state.status.value if state is not None else "pending",
        model=forecast.model,
        cost=cost_accuracy(forecast.cost, sum((call.cost_usd for call in calls), Decimal(0))),
        tokens=token_accuracy(forecast.expected_tokens or forecast.tokens, _usage(calls)),
        attempts=measured(forecast.expected_attempts, state.attempts if state is not None else 0),
        duration_s=measured(forecast.duration_s, round(duration, 2)),
    )


def cost_accuracy(forecast: CostRange, actual: Decimal) -> CostAccuracy:
    position: RangePosition = "inside"
    if actual < forecast.low_usd:
        position = "below"
    elif actual > forecast.high_usd:
        position = "above"
    return CostAccuracy(
        low_usd=forecast.low_usd,
        expected_usd=forecast.expected_usd,
        high_usd=forecast.high_usd,
        actual_usd=actual,
        error=_error(float(forecast.expected_usd), float(actual)),
        position=position,
    )


def token_accuracy(forecast: Usage, actual: Usage) -> TokenAccuracy:
    kinds = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")
    return TokenAccuracy(
        forecast=forecast,
        actual=actual,
        error={kind: _error(getattr(forecast, kind), getattr(actual, kind)) for kind in kinds},
    )


def measured(forecast: float, actual: float) -> Measured:
    return Measured(forecast=forecast, actual=actual, error=_error(forecast, actual))


def _error(forecast: float, actual: float) -> float | None:
    return round((forecast - actual) / actual, 4) if actual else None


def _usage(calls: Iterable[LLMCallRecord]) -> Usage:
    total = Usage()
    for call in calls:
        total = total + call.usage
    return total


def _task_spans(events: Iterable[Event], now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """Task id -> (first start, end; ``now`` while it runs); key ``""`` -> when the run began executing."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for event in events:
        if event.type == "run.status" and event.data.get("status") == "executing" and "" not in spans:
            spans[""] = (event.ts, now)
            continue
        task_id = event.data.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            continue
        if event.type == "task.started":
            start = spans[task_id][0] if task_id in spans else event.ts
            spans[task_id] = (start, now)
        elif event.type in TASK_END_EVENTS and task_id in spans:
            spans[task_id] = (spans[task_id][0], event.ts)
    return spans
