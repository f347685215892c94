"""Prometheus metrics of the run service: tasks, runs, wasted cost, WebSocket clients.

Two feeds, both synchronous and quick: ``observe`` is an event-bus listener
(every committed run event), and ``on_call`` is a gateway observer (every LLM
attempt with its own cost). Neither raises on odd data (it logs instead). The
WebSocket handler reports its clients through ``client_connected`` /
``client_disconnected`` / ``slow_client_dropped``.

Wasted cost — money spent on answers that were thrown away — by reason:

- ``parse_failures``: an attempt whose answer could not be used (unparsable,
  truncated, or files that failed validation: ``task.answer_rejected``), at
  that attempt's cost;
- ``retries``: attempts that were retried: a billed attempt that failed in
  transport (a stream dropped after it started), and a task attempt whose
  parsed answer was then discarded (invalid files or failed checks): the cost
  of its successful developer calls, booked when ``task.retry`` or
  ``task.attempt_failed`` arrives;
- ``qa_rejections``: the developer calls of a task attempt that QA rejected
  (``qa.rejected``); the review itself did its job and is not counted.

Forecast accuracy — how far the approved plan's forecast was from what the run
did — is observed from ``forecast.compared`` for runs whose every task ended (the
event's ``counted``) as the ratio forecast / actual (1 is exact; the event's error
plus one, kept positive because Prometheus histogram sums must not fall), by
quantity (``cost``, ``wall_time``); where the actual cost fell against the
forecast's range is counted by position (``below``, ``inside``, ``above``).

A finished run's cost is the sum of its ``llm.call`` costs seen by this
process; a run resumed after a restart is observed with the cost paid since
the restart unless its terminal ``run.status`` event carries ``cost_usd``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from masterplan.llm.observer import GatewayObserver
from masterplan.models import TASK_END_EVENTS, TERMINAL_STATUSES, Event, LLMCallRecord

logger = logging.getLogger(__name__)

TASK_DURATION_BUCKETS_S = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_COST_BUCKETS_USD = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100)
TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)
FORECAST_RATIO_BUCKETS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5, 2)
FORECAST_QUANTITIES = {"cost": "cost", "wall_time": "wall_time_s"}
"""Metric label -> the event's field."""
RANGE_POSITIONS = ("below", "inside", "above")
WASTE_REASONS = ("retries", "parse_failures", "qa_rejections")
PARSE_FAILURES = frozenset({"parse_error", "validation_error", "truncated", "refused"})
RETRIED_FAILURES = frozenset({"rate_limited", "overloaded", "server_error", "connection_error"})


@dataclass
class _RunTally:
    """What the listener remembers about one run until it ends."""

    cost_usd: Decimal = Decimal(0)
    task_started: dict[str, datetime] = field(default_factory=dict)
    open_attempt_cost: dict[str, Decimal] = field(default_factory=dict)


class ServiceMetrics(GatewayObserver):
    """Tasks, runs, wasted cost and WebSocket clients; one instance per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tasks = Counter(
            "masterplan_tasks_total",
            "Tasks that ended, by status (completed, failed, skipped)",
            ["status"],
            registry=registry,
        )
        self.task_duration = Histogram(
            "masterplan_task_duration_seconds",
            "Time from a task's start to its completion or failure",
            ["status"],
            buckets=TASK_DURATION_BUCKETS_S,
            registry=registry,
        )
        self.runs_created = Counter("masterplan_runs_created_total", "Runs created", registry=registry)
        self.runs_finished = Counter(
            "masterplan_runs_finished_total",
            "Runs that reached a terminal status, by status "
            "(completed, completed_with_failures, failed, cancelled, budget_exceeded)",
            ["status"],
            registry=registry,
        )
        self.active_runs = Gauge(
            "masterplan_active_runs", "Runs being driven by this process right now", registry=registry
        )
        self.run_cost = Histogram(
            "masterplan_run_cost_usd",
            "Cost of finished runs in US dollars",
            buckets=RUN_COST_BUCKETS_USD,
            registry=registry,
        )
        self.wasted_cost = Counter(
            "masterplan_wasted_cost_usd_total",
            "LLM spend whose answer was thrown away, by reason (retries, parse_failures, qa_rejections)",
            ["reason"],
            registry=registry,
        )
        self.websocket_clients = Gauge(
            "masterplan_websocket_clients", "WebSocket clients following a run", registry=registry
        )
        self.slow_clients_dropped = Counter(
            "masterplan_websocket_slow_clients_dropped_total",
            "WebSocket clients closed because they fell too far behind",
            registry=registry,
        )
        self.forecast_ratio = Histogram(
            "masterplan_forecast_to_actual_ratio",
            "Forecast / actual of finished runs (1 is exact), by quantity (cost, wall_time)",
            ["quantity"],
            buckets=FORECAST_RATIO_BUCKETS,
            registry=registry,
        )
        self.forecast_cost_range = Counter(
            "masterplan_forecast_cost_range_total",
            "Finished runs by where their actual cost fell against the forecast's range (below, inside, above)",
            ["position"],
            registry=registry,
        )
        self.reasks = Counter(
            "masterplan_llm_reasks_total",
            "Calls that asked again for an unusable answer, by phase, what was wrong with it (parse_error, "
            "validation_error, truncated, refused, rejected) and whether the call sent its schema as "
            "output_config.format (structured_output true/false)",
            ["phase", "reason", "structured_output"],
            registry=registry,
        )
        for quantity in FORECAST_QUANTITIES:
            self.forecast_ratio.labels(quantity)
        for position in RANGE_POSITIONS:
            self.forecast_cost_range.labels(position)
        for reason in WASTE_REASONS:
            self.wasted_cost.labels(reason)
        for status in TASK_END_EVENTS.values():
            self.tasks.labels(status)
        for status in sorted(TERMINAL):
            self.runs_finished.labels(status)
        self._runs: dict[str, _RunTally] = {}

    # ----------------------------------------------------------- wiring

    def track_active_runs(self, count: Callable[[], int]) -> None:
        """Read the active-run gauge from ``count`` at every scrape (e.g. ``lambda: service.active_runs``)."""
        self.active_runs.set_function(lambda: float(count()))

    def client_connected(self) -> None:
        self.websocket_clients.inc()

    def client_disconnected(self) -> None:
        self.websocket_clients.dec()

    def slow_client_dropped(self) -> None:
        self.slow_clients_dropped.inc()

    # ------------------------------------------------------ LLM attempts

    def on_call(self, record: LLMCallRecord) -> None:
        """Gateway observer: every attempt, with the cost of that attempt alone."""
        if record.outcome in PARSE_FAILURES:
            self._waste("parse_failures", record.cost_usd)
        elif record.outcome in RETRIED_FAILURES:
            self._waste("retries", record.cost_usd)
        elif record.phase == "task_execution" and record.run_id is not None and record.task_id is not None:
            open_cost = self._runs.setdefault(record.run_id, _RunTally()).open_attempt_cost
            open_cost[record.task_id] = open_cost.get(record.task_id, Decimal(0)) + record.cost_usd

    # ----------------------------------------------------------- events

    def observe(self, event: Event) -> None:
        """Event-bus listener; quick, and never raises on odd data."""
        handler = _HANDLERS.get(event.type)
        if handler is None:
            return
        try:
            handler(self, event, self._runs.setdefault(event.run_id, _RunTally()))
        except (InvalidOperation, TypeError, ValueError, KeyError) as error:
            logger.warning("metrics skipped %s #%s of run %s: %s", event.type, event.seq, event.run_id, error)

    def _on_run_created(self, event: Event, tally: _RunTally) -> None:
        self.runs_created.inc()

    def _on_run_status(self, event: Event, tally: _RunTally) -> None:
        status = str(event.data.get("status", ""))
        if status not in TERMINAL:
            return
        self.runs_finished.labels(status).inc()
        del self._runs[event.run_id]
        cost = _usd(event.data["cost_usd"]) if "cost_usd" in event.data else tally.cost_usd
        self.run_cost.observe(float(cost))

    def _on_llm_call(self, event: Event, tally: _RunTally) -> None:
        tally.cost_usd += _usd(event.data.get("cost_usd", 0))
        reason = event.data.get("reask_of")
        if reason is not None:
            structured = "true" if event.data.get("structured_output") is True else "false"
            self.reasks.labels(str(event.data["phase"]), str(reason), structured).inc()

    def _on_task_started(self, event: Event, tally: _RunTally) -> None:
        task_id = str(event.data["task_id"])
        tally.task_started[task_id] = event.ts
        tally.open_attempt_cost.pop(task_id, None)

    def _on_task_ended(self, event: Event, tally: _RunTally) -> None:
        status = TASK_END_EVENTS[event.type]
        self.tasks.labels(status).inc()
        task_id = str(event.data["task_id"])
        started = tally.task_started.pop(task_id, None)
        if started is not None and status != "skipped":
            self.task_duration.labels(status).observe(max(0.0, (event.ts - started).total_seconds()))
        tally.open_attempt_cost.pop(task_id, None)

    def _on_answer_rejected(self, event: Event, tally: _RunTally) -> None:
        self._waste("parse_failures", tally.open_attempt_cost.pop(str(event.data["task_id"]), Decimal(0)))

    def _on_attempt_discarded(self, event: Event, tally: _RunTally) -> None:
        self._waste("retries", tally.open_attempt_cost.pop(str(event.data["task_id"]), Decimal(0)))

    def _on_qa_rejected(self, event: Event, tally: _RunTally) -> None:
        self._waste("qa_rejections", tally.open_attempt_cost.pop(str(event.data["task_id"]), Decimal(0)))

    def _on_forecast_compared(self, event: Event, tally: _RunTally) -> None:
        if event.data.get("counted") is not True:
            return
        for quantity, key in FORECAST_QUANTITIES.items():
            error = event.data[key]["error"]
            if error is not None:
                self.forecast_ratio.labels(quantity).observe(max(0.0, 1 + _finite(error)))
        position = str(event.data["cost"]["position"])
        if position not in RANGE_POSITIONS:
            raise ValueError(f"unknown range position {position!r}")
        self.forecast_cost_range.labels(position).inc()

    def _waste(self, reason: str, cost: Decimal) -> None:
        if cost > 0:
            self.wasted_cost.labels(reason).inc(float(cost))


def _usd(value: Any) -> Decimal:
    """Event costs are decimal strings (exact); numbers are accepted too."""
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise ValueError(f"cost {value!r} is not a finite number")
    return amount


def _finite(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


_HANDLERS: dict[str, Callable[[ServiceMetrics, Event, _RunTally], None]] = {
    "run.created": ServiceMetrics._on_run_created,
    "run.status": ServiceMetrics._on_run_status,
    "llm.call": ServiceMetrics._on_llm_call,
    "task.started": ServiceMetrics._on_task_started,
    "task.completed": ServiceMetrics._on_task_ended,
    "task.failed": ServiceMetrics._on_task_ended,
    "task.skipped": ServiceMetrics._on_task_ended,
    "task.answer_rejected": ServiceMetrics._on_answer_rejected,
    "task.retry": ServiceMetrics._on_attempt_discarded,
    "task.attempt_failed": ServiceMetrics._on_attempt_discarded,
    "qa.rejected": ServiceMetrics._on_qa_rejected,
    "forecast.compared": ServiceMetrics._on_forecast_compared,
}
