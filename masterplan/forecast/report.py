"""What a forecast says: per task and in total, tokens by kind, cost as a range, wall time by tier and concurrency.

Stored with the plan as ``FORECAST.json`` and shown before the user approves; the JSON is this module's
models, dumped with ``mode="json"`` (costs as decimal strings, exact to the micro-dollar and below).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from masterplan.models import Complexity, Record, TaskType, Usage


class CostRange(Record):
    low_usd: Decimal
    expected_usd: Decimal
    high_usd: Decimal


class TaskForecast(Record):
    task_id: str
    title: str
    phase: str
    complexity: Complexity
    task_type: TaskType
    model: str
    pinned: bool = False
    """The user pinned the model at the gate (else it is routed by complexity)."""
    tokens: Usage
    """One attempt's tokens: the first answer asked for the task."""
    expected_tokens: Usage | None = None
    """With the expected re-asks (uncached input); None in forecasts stored before it was recorded."""
    output_low: int
    output_high: int
    expected_attempts: float
    cost: CostRange
    duration_s: float
    """Expected time of the task's calls (and its checks), waits for rate limits left out."""
    size_source: str = "prior"
    """Where the output estimate comes from: key (answers of this model, type and complexity), phase, or prior."""


class WallTime(Record):
    tier: str
    concurrency: int
    seconds: float
    bound: str
    """What the time is bound by: critical_path, task_slots, requests, input_tokens or output_tokens (with the
    model group for a rate limit)."""


class BudgetCheck(Record):
    budget_usd: Decimal
    exceeded: bool
    """The high estimate is over the budget: the run may stop with ``budget_exceeded`` before its end."""
    over_by_usd: Decimal = Decimal(0)
    message: str = ""


class Forecast(Record):
    """The priced plan; computed without any LLM call."""

    version: int = 1
    tasks: list[TaskForecast]
    calls: int
    """Calls expected: one per task, the expected retries, QA reviews and phase summaries."""
    tokens: Usage
    """Expected tokens of every call, retries included."""
    cost: CostRange
    """The whole run's: what it spent before the forecast (``spent_usd``) and every call still to come."""
    spent_usd: Decimal = Decimal(0)
    cache_read_share: float
    tasks_cost: CostRange
    phase_summaries: CostRange
    qa: CostRange
    retries: CostRange
    wall_time: WallTime
    """At the run's tier and concurrency."""
    wall_times: list[WallTime] = Field(default_factory=list)
    """The same for every tier and for concurrency 1, 2 and 4: what a higher tier or more concurrency buys."""
    budget: BudgetCheck
    calibration: dict[str, str | int | float] = Field(default_factory=dict)
    """Where the figures come from: history samples or design note 003's priors."""
