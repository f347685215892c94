"""ServiceMetrics fed by hand with the events and call records a run produces: how spend is attributed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from masterplan.metrics import ServiceMetrics
from masterplan.models import CallOutcome, Event, LLMCallRecord

START = datetime(2026, 1, 1, tzinfo=UTC)


class RunFeed:
    """Numbered events of one run, as the bus would deliver them."""

    def __init__(self, metrics: ServiceMetrics, run_id: str = "r1") -> None:
        self.metrics = metrics
        self.run_id = run_id
        self.seq = 0

    def event(self, type_: str, at_s: float = 0.0, **data: Any) -> None:
        self.seq += 1
        ts = START + timedelta(seconds=at_s)
        self.metrics.observe(Event(run_id=self.run_id, seq=self.seq, type=type_, ts=ts, data=data))

    def call(
        self, cost: str, *, task_id: str | None = "t1", outcome: CallOutcome = "ok", phase: str = "task_execution"
    ) -> None:
        record = LLMCallRecord(
            run_id=self.run_id,
            task_id=task_id,
            phase=phase,
            role="developer",
            prompt_name="developer",
            prompt_version=1,
            model="claude-sonnet-4-6",
            cost_usd=Decimal(cost),
            outcome=outcome,
        )
        self.metrics.on_call(record)
        self.event("llm.call", phase=phase, task_id=task_id, outcome=outcome, cost_usd=cost)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_qa_rejected_attempt_is_wasted_and_the_accepted_one_is_not() -> None:
    registry = CollectorRegistry()
    feed = RunFeed(ServiceMetrics(registry))
    feed.event("run.created")
    feed.event("task.started", 0, task_id="t1")
    feed.call("0.10")
    feed.call("0.02", phase="qa_review")
    feed.event("qa.rejected", task_id="t1")
    feed.event("task.retry", task_id="t1", attempt=1)
    feed.call("0.12")
    feed.call("0.02", phase="qa_review")
    feed.event("qa.passed", task_id="t1")
    feed.event("task.completed", 42, task_id="t1")
    feed.event("run.status", status="completed")

    assert value(registry, "masterplan_wasted_cost_usd_total", reason="qa_rejections") == pytest.approx(0.10)
    assert value(registry, "masterplan_wasted_cost_usd_total", reason="retries") == 0
    assert value(registry, "masterplan_task_duration_seconds_sum", status="completed") == 42
    assert value(registry, "masterplan_run_cost_usd_sum") == pytest.approx(0.26)
    assert value(registry, "masterplan_runs_finished_total", status="completed") == 1


def test_parse_failure_costs_only_its_attempt_and_a_failed_check_wastes_the_answer() -> None:
    registry = CollectorRegistry()
    feed = RunFeed(ServiceMetrics(registry))
    feed.event("task.started", 0, task_id="t1")
    feed.call("0.05", outcome="parse_error")
    feed.event("task.retry", task_id="t1", attempt=1)
    feed.call("0.07")
    feed.event("task.check_failed", task_id="t1")
    feed.event("task.attempt_failed", task_id="t1", attempt=2)
    feed.event("task.failed", 10, task_id="t1")
    feed.call("0.01", task_id=None, outcome="connection_error", phase="phase_summary")
    feed.event("run.status", status="failed", cost_usd="1.50")

    assert value(registry, "masterplan_wasted_cost_usd_total", reason="parse_failures") == pytest.approx(0.05)
    assert value(registry, "masterplan_wasted_cost_usd_total", reason="retries") == pytest.approx(0.08)
    assert value(registry, "masterplan_tasks_total", status="failed") == 1
    # a terminal event that carries the run's cost (e.g. after a resume) wins over what this process saw
    assert value(registry, "masterplan_run_cost_usd_sum") == pytest.approx(1.50)


def test_odd_event_data_is_counted_where_it_can_be_and_never_raises() -> None:
    registry = CollectorRegistry()
    feed = RunFeed(ServiceMetrics(registry))
    feed.event("llm.call", cost_usd="not money")
    feed.event("task.completed")
    feed.event("run.status", status="completed", cost_usd="NaN")
    feed.event("something.new", anything=True)

    assert value(registry, "masterplan_tasks_total", status="completed") == 1
    assert value(registry, "masterplan_runs_finished_total", status="completed") == 1
    assert value(registry, "masterplan_run_cost_usd_count") == 0


def compared(error: float | None, wall_error: float | None, position: str, *, counted: bool = True) -> dict[str, Any]:
    return {
        "counted": counted,
        "cost": {"expected_usd": "1.0", "actual_usd": "1.0", "error": error, "position": position},
        "wall_time_s": {"forecast": 10.0, "actual": 10.0, "error": wall_error},
    }


def test_forecast_error_is_observed_for_counted_runs_only() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    RunFeed(metrics, "r1").event("forecast.compared", **compared(0.04, -0.12, "inside"))
    RunFeed(metrics, "r2").event("forecast.compared", **compared(-0.4, None, "above"))
    RunFeed(metrics, "r3").event("forecast.compared", **compared(0.9, 0.5, "below", counted=False))

    ratio = "masterplan_forecast_to_actual_ratio"
    assert value(registry, f"{ratio}_count", quantity="cost") == 2
    assert value(registry, f"{ratio}_sum", quantity="cost") == pytest.approx(1.64)
    assert value(registry, f"{ratio}_bucket", quantity="cost", le="1.05") == 2
    assert value(registry, f"{ratio}_bucket", quantity="cost", le="0.7") == 1
    assert value(registry, f"{ratio}_sum", quantity="wall_time") == pytest.approx(0.88)
    assert value(registry, f"{ratio}_count", quantity="wall_time") == 1  # None: not measured
    assert value(registry, "masterplan_forecast_cost_range_total", position="inside") == 1
    assert value(registry, "masterplan_forecast_cost_range_total", position="above") == 1
    assert value(registry, "masterplan_forecast_cost_range_total", position="below") == 0


@pytest.mark.parametrize(
    "data",
    [
        {"counted": True},
        {"counted": True, "cost": "x", "wall_time_s": {"error": 0.1}},
        {"counted": True, "cost": {"error": "NaN", "position": "inside"}, "wall_time_s": {"error": 0}},
        {"counted": True, "cost": {"error": 0.1, "position": "sideways"}, "wall_time_s": {"error": 0}},
        {"counted": True, "cost": {"error": [1], "position": "inside"}, "wall_time_s": {"error": 0}},
    ],
)
def test_odd_forecast_comparisons_never_raise(data: dict[str, Any]) -> None:
    registry = CollectorRegistry()
    RunFeed(ServiceMetrics(registry)).event("forecast.compared", **data)
    assert value(registry, "masterplan_forecast_cost_range_total", position="sideways") == 0


def test_reasks_are_counted_by_reason_and_by_whether_the_schema_was_sent() -> None:
    registry = CollectorRegistry()
    feed = RunFeed(ServiceMetrics(registry))
    feed.event("run.created")
    answer = {"phase": "task_execution", "task_id": "t1", "cost_usd": "0.01", "outcome": "ok"}
    feed.event("llm.call", **answer, structured_output=False, reask_of=None)
    feed.event("llm.call", **answer, structured_output=False, reask_of="parse_error")
    feed.event("llm.call", **answer, structured_output=True, reask_of="refused")
    feed.event("llm.call", **answer, structured_output=True, reask_of="refused")
    name = "masterplan_llm_reasks_total"
    assert value(registry, name, phase="task_execution", reason="parse_error", structured_output="false") == 1
    assert value(registry, name, phase="task_execution", reason="refused", structured_output="true") == 2
    assert value(registry, name, phase="task_execution", reason="parse_error", structured_output="true") == 0
