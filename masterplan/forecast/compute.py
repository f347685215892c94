"""The forecast of a plan: every call it will make, priced before any is sent, without an LLM call.

The calls are those a run makes: one answer per task (plus the expected re-asks, which go to the strong
model), a QA review per task (``qa: task``) or per milestone (``qa: milestone``), and a summary per phase.
Each call's input is laid out by the real ``PromptCacheManager`` (``layout.RequestReplay``), in the order
the tasks run, so its cache reads and writes are the ones the run will be billed; each output is the
history's expected answer of its kind (``history``). The range:

- low: every answer at its low size (``low_size``), no re-ask;
- expected: expected sizes and the expected re-asks (the measured rate, or ``RETRY_PRIOR``);
- high: every answer at its 95th percentile, and twice the expected re-asks (at least 0.2 a task more).

What the run has already spent (discovery and the plan) is added to all three: the forecast is of the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from masterplan.cache.context import ProjectContext
from masterplan.config import Settings
from masterplan.executor.calling import TASK_PHASE, answer_size_key
from masterplan.executor.ordering import TaskGraph
from masterplan.forecast.history import ForecastHistory
from masterplan.forecast.layout import PhaseSetup, RequestReplay
from masterplan.forecast.report import BudgetCheck, CostRange, Forecast, TaskForecast
from masterplan.forecast.timing import (
    CONCURRENCIES,
    SPEED_PRIORS,
    ExecutionLoad,
    Speed,
    wall_time,
    wall_times,
)
from masterplan.llm.answer_sizes import SizeEstimate
from masterplan.llm.pricing import PriceTable
from masterplan.llm.routing import class_of_model, select_model
from masterplan.llm.usage import TokenUsage
from masterplan.models import BUDGET_DECIMALS, MasterPlan, PlanTask, QAMode, Usage
from masterplan.store import AnswerSizeKey

SUMMARY_PHASE = "phase_summary"
QA_PHASE = "qa_review"
DEPENDENCY_SHARE = 0.8
"""Of a dependency's answer, the share its files weigh in a dependent's prompt (the rest is the answer's JSON
frame, summary and notes; measured on the simulator's answers: 0.78-0.82)."""
CHECK_PRIOR_S = 1.0
"""Seconds a task's checks take (pytest on a small project); none when the run has no checks."""
NANO = Decimal(1).scaleb(-BUDGET_DECIMALS)
"""Forecasts are kept to the nano-dollar, as the store keeps costs."""


@dataclass(frozen=True)
class ForecastInputs:
    plan: MasterPlan
    project: ProjectContext
    setups: Mapping[str, PhaseSetup]
    """The phases the run's calls use: task_execution, phase_summary and qa_review."""
    settings: Settings
    prices: PriceTable
    qa: QAMode
    concurrency: int
    budget_usd: Decimal
    spent_usd: Decimal = Decimal(0)
    """What the run paid before the forecast (discovery, planning, replans)."""
    checks: bool = True
    pinned: Mapping[str, str] | None = None
    """Task id -> model the user pinned at the gate (instead of the routed one)."""


def task_model(inputs: ForecastInputs, task: PlanTask, *, escalate: bool = False) -> str:
    pinned = (inputs.pinned or {}).get(task.task_id)
    if pinned is not None:  # a pinned model answers every attempt
        return pinned
    return select_model(inputs.setups[TASK_PHASE].config, task.complexity, escalate, inputs.settings)


def side_model(inputs: ForecastInputs, phase: str) -> str:
    return select_model(inputs.setups[phase].config, None, False, inputs.settings)


def needed_keys(inputs: ForecastInputs) -> list[AnswerSizeKey]:
    """Every kind of answer the forecast asks the history about."""
    keys = [task_key(inputs, task) for task in inputs.plan.tasks]
    keys += [side_key(inputs, SUMMARY_PHASE)]
    if inputs.qa != "off":
        keys.append(side_key(inputs, QA_PHASE))
    return keys


def task_key(inputs: ForecastInputs, task: PlanTask) -> AnswerSizeKey:
    """The kind of the task's first answer, keyed as the run's ``PhaseCaller`` keys it."""
    return answer_size_key(TASK_PHASE, task_model(inputs, task), task.task_type, task.complexity)


def side_key(inputs: ForecastInputs, phase: str) -> AnswerSizeKey:
    return answer_size_key(phase, side_model(inputs, phase), None, None)


def needed_models(inputs: ForecastInputs) -> list[str]:
    return [inputs.settings.fast_model, inputs.settings.strong_model, *(inputs.pinned or {}).values()]


@dataclass
class _Totals:
    """Expected, low and high sums of one kind of call."""

    expected: Decimal = Decimal(0)
    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)

    def add(self, low: Decimal, expected: Decimal, high: Decimal) -> None:
        self.low += low
        self.expected += expected
        self.high += high

    def range(self, offset: Decimal = Decimal(0)) -> CostRange:
        return CostRange(
            low_usd=_usd(self.low + offset),
            expected_usd=_usd(self.expected + offset),
            high_usd=_usd(self.high + offset),
        )


class _Pricer:
    def __init__(self, prices: PriceTable) -> None:
        self._prices = prices

    def cost(self, model: str, tokens: Usage) -> Decimal:
        return self._prices.get(model).cost(TokenUsage.from_model(tokens))

    def uncached(self, model: str, tokens: Usage) -> Decimal:
        return self._prices.get(model).uncached_cost(TokenUsage.from_model(tokens))


def low_size(estimate: SizeEstimate) -> int:
    """A small answer of the kind: as far below the expected as the high is above, at least a quarter below
    (a kind's history mixes tasks of different sizes), never below half the expected."""
    return max(estimate.expected // 2, min(2 * estimate.expected - estimate.high, 3 * estimate.expected // 4))


def compute_forecast(inputs: ForecastInputs, history: ForecastHistory) -> Forecast:
    """The plan's forecast: its tasks in the order they run, each phase's summary once its last task ran."""
    builder = _ForecastBuilder(inputs, history)
    plan = inputs.plan
    left_in_phase: dict[str, int] = {}
    for task in plan.tasks:
        left_in_phase[task.phase] = left_in_phase.get(task.phase, 0) + 1
    by_id = {task.task_id: task for task in plan.tasks}
    for task_id in builder.graph.order():
        task = by_id[task_id]
        builder.add_task(task)
        left_in_phase[task.phase] -= 1
        if left_in_phase[task.phase] == 0:
            builder.add_summary(task.phase, [member for member in plan.tasks if member.phase == task.phase])
    if inputs.qa == "milestone":
        for milestone in plan.milestones:
            members = [task for task in plan.tasks if task.milestone == milestone.milestone_id]
            if members:
                builder.add_review(members[0], sum(builder.expected_out[task.task_id] for task in members))
    return builder.forecast()


class _ForecastBuilder:
    """The sums of a forecast, one call at a time, in the order the run makes them."""

    def __init__(self, inputs: ForecastInputs, history: ForecastHistory) -> None:
        self.inputs = inputs
        self.history = history
        self.graph = TaskGraph(inputs.plan.tasks)
        self.replay = RequestReplay(inputs.prices, inputs.project)
        self.pricer = _Pricer(inputs.prices)
        self.retry_rate = history.retries.rate
        self.high_retry_rate = max(2 * self.retry_rate, self.retry_rate + 0.2)
        self.load = ExecutionLoad()
        self.tasks, self.retries, self.qa, self.summaries = _Totals(), _Totals(), _Totals(), _Totals()
        self.tokens = Usage()
        self.calls = 0.0
        self.expected_out: dict[str, int] = {}
        self.task_forecasts: list[TaskForecast] = []

    def add_task(self, task: PlanTask) -> None:
        inputs, history, pricer = self.inputs, self.history, self.pricer
        model, strong = task_model(inputs, task), task_model(inputs, task, escalate=True)
        size = history.size(task_key(inputs, task))
        self.expected_out[task.task_id] = size.expected
        dependencies = self.graph.direct_dependencies(task.task_id)
        dependency_tokens = round(DEPENDENCY_SHARE * sum(self.expected_out[dep] for dep in dependencies))
        first = self.replay.task_tokens(inputs.setups[TASK_PHASE], model, task, dependency_tokens, size.expected)
        low, expected, high = self._priced(model, first, size)
        # A re-ask carries the feedback and the files as written: priced on the strong model, nothing cached.
        retry = pricer.uncached(strong, first) * Decimal(str(self.retry_rate))
        retry_high = pricer.uncached(strong, _with_output(first, size.high)) * Decimal(str(self.high_retry_rate))
        self.tasks.add(low, expected, high)
        self.retries.add(Decimal(0), retry, retry_high)
        with_retries = first + _scaled(first, self.retry_rate)
        self.tokens = self.tokens + with_retries
        self.calls += 1 + self.retry_rate
        duration = (
            _speed(history, model, inputs.settings).seconds(size.expected)
            + self.retry_rate * _speed(history, strong, inputs.settings).seconds(size.expected)
            + (CHECK_PRIOR_S * (1 + self.retry_rate) if inputs.checks else 0.0)
        )
        self.load.durations[task.task_id] = duration
        self._load(model, first, 1.0)
        self._load(strong, first, self.retry_rate)
        if inputs.qa == "task":
            self.add_review(task, size.expected)
        self.task_forecasts.append(
            TaskForecast(
                task_id=task.task_id,
                title=task.title,
                phase=task.phase,
                complexity=task.complexity,
                task_type=task.task_type,
                model=model,
                pinned=task.task_id in (inputs.pinned or {}),
                tokens=first,
                expected_tokens=with_retries,
                output_low=low_size(size),
                output_high=size.high,
                expected_attempts=round(1 + self.retry_rate, 3),
                cost=CostRange(
                    low_usd=_usd(low), expected_usd=_usd(expected + retry), high_usd=_usd(high + retry_high)
                ),
                duration_s=round(duration, 2),
                size_source=size.source,
            )
        )
        self.replay.complete(task)

    def add_summary(self, phase_id: str, members: Sequence[PlanTask]) -> None:
        model = side_model(self.inputs, SUMMARY_PHASE)
        size = self.history.size(side_key(self.inputs, SUMMARY_PHASE))
        used = _with_output(
            self.replay.summary_tokens(self.inputs.setups[SUMMARY_PHASE], model, phase_id, members), size.expected
        )
        self.summaries.add(*self._priced(model, used, size))
        self.tokens, self.calls = self.tokens + used, self.calls + 1
        self._load(model, used, 1.0)
        self.replay.summarize(phase_id, size.expected // 2)

    def add_review(self, task: PlanTask, answer_tokens: int) -> None:
        model = side_model(self.inputs, QA_PHASE)
        size = self.history.size(side_key(self.inputs, QA_PHASE))
        used = _with_output(
            self.replay.review_tokens(self.inputs.setups[QA_PHASE], model, task, answer_tokens), size.expected
        )
        self.qa.add(*self._priced(model, used, size))
        self.tokens, self.calls = self.tokens + used, self.calls + 1
        self._load(model, used, 1.0)

    def forecast(self) -> Forecast:
        inputs = self.inputs
        total = _Totals()
        for part in (self.tasks, self.retries, self.qa, self.summaries):
            total.add(part.low, part.expected, part.high)
        cost = total.range(inputs.spent_usd)
        tier = inputs.settings.rate_limit_tier
        return Forecast(
            tasks=self.task_forecasts,
            calls=round(self.calls),
            tokens=self.tokens,
            cost=cost,
            spent_usd=_usd(inputs.spent_usd),
            cache_read_share=round(self.tokens.cache_read_share, 4),
            tasks_cost=self.tasks.range(),
            phase_summaries=self.summaries.range(),
            qa=self.qa.range(),
            retries=self.retries.range(),
            wall_time=wall_time(self.graph, self.load, tier=tier, concurrency=inputs.concurrency),
            wall_times=wall_times(self.graph, self.load, sorted({*CONCURRENCIES, inputs.concurrency})),
            budget=budget_check(inputs.budget_usd, cost),
            calibration=_calibration(inputs, self.history),
        )

    def _priced(self, model: str, tokens: Usage, size: SizeEstimate) -> tuple[Decimal, Decimal, Decimal]:
        cost = self.pricer.cost
        return (
            cost(model, _with_output(tokens, low_size(size))),
            cost(model, _with_output(tokens, size.expected)),
            cost(model, _with_output(tokens, size.high)),
        )

    def _load(self, model: str, tokens: Usage, share: float) -> None:
        group = self.load.group(self.inputs.prices.get(model).rate_limit_group)
        group.requests += share
        group.input_tokens += share * (tokens.input_tokens + tokens.cache_write_tokens)
        group.output_tokens += share * tokens.output_tokens


def budget_check(budget_usd: Decimal, cost: CostRange) -> BudgetCheck:
    over = cost.high_usd - budget_usd
    if over <= 0:
        return BudgetCheck(budget_usd=budget_usd, exceeded=False)
    return BudgetCheck(
        budget_usd=budget_usd,
        exceeded=True,
        over_by_usd=over,
        message=(
            f"the high estimate (${cost.high_usd}) is over the run's budget (${budget_usd}) by ${over}: the run may "
            "stop with budget_exceeded before its end"
        ),
    )


def _speed(history: ForecastHistory, model: str, settings: Settings) -> Speed:
    measured = history.speeds.get(model)
    if measured is not None:
        return measured
    try:
        return SPEED_PRIORS[class_of_model(model, settings)]
    except ValueError:  # a pinned model of neither class
        return SPEED_PRIORS["strong"]


def _with_output(tokens: Usage, output_tokens: int) -> Usage:
    return tokens.model_copy(update={"output_tokens": output_tokens})


def _scaled(tokens: Usage, share: float) -> Usage:
    return Usage(
        input_tokens=round(tokens.total_input_tokens * share),
        output_tokens=round(tokens.output_tokens * share),
    )


def _calibration(inputs: ForecastInputs, history: ForecastHistory) -> dict[str, str | int | float]:
    sources: dict[str, int] = {}
    for estimate in history.sizes.values():
        sources[estimate.source] = sources.get(estimate.source, 0) + 1
    calibration: dict[str, str | int | float] = {
        f"answer_sizes_from_{source}": count for source, count in sorted(sources.items())
    }
    calibration["retry_rate"] = round(history.retries.rate, 4)
    calibration["retry_samples"] = history.retries.tasks
    for model in dict.fromkeys(needed_models(inputs)):
        speed = history.speeds.get(model)
        calibration[f"speed_{model}"] = "measured" if speed is not None else "prior"
        calibration[f"speed_samples_{model}"] = history.speed_samples.get(model, 0)
    return calibration


def _usd(value: Decimal) -> Decimal:
    return value.quantize(NANO)
