"""Human documents rendered from the stored JSON with Jinja2 templates; the model never writes them."""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

import jinja2

from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.forecast.report import Forecast, WallTime
from masterplan.models import DiscoveryDocument, DiscoveryQuestion, LLMCallRecord, MasterPlan, Run, TaskState
from masterplan.service.repository_run import RepositoryOutcome

UncachedCost = Callable[[LLMCallRecord], Decimal]
TOKEN_KINDS = (
    ("input_tokens", "input tokens (uncached)"),
    ("cache_write_tokens", "cache write tokens"),
    ("cache_read_tokens", "cache read tokens"),
    ("output_tokens", "output tokens"),
)


@dataclass(frozen=True)
class FinalCheck:
    command: str
    passed: bool


@dataclass
class PhaseCost:
    name: str
    calls: int = 0
    input: int = 0
    cache_write: int = 0
    cache_read: int = 0
    output: int = 0
    cost: Decimal = field(default_factory=Decimal)
    uncached_cost: Decimal = field(default_factory=Decimal)

    @property
    def cache_share(self) -> float:
        total = self.input + self.cache_write + self.cache_read
        return self.cache_read / total if total else 0.0


@dataclass(frozen=True)
class TaskRow:
    task: TaskState
    cache_share: float
    uncached_cost: Decimal


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, no pipes."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _usd(value: Decimal) -> str:
    return f"${value:.6f}"


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _error(value: float | None) -> str:
    """A forecast error, signed: ``+4.0%`` when the forecast was too high, ``—`` when nothing was measured."""
    return "—" if value is None else f"{value:+.1%}"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("masterplan", "prompts/templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML; cells are made safe by the `cell` filter
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = _cell
    environment.filters["shell"] = shlex.quote
    environment.filters["duration"] = _duration
    environment.filters["error"] = _error
    environment.globals.update(usd=_usd, percent=_percent, token_kinds=TOKEN_KINDS)
    return environment


TEMPLATES = ("DISCOVERY.md.j2", "MASTERPLAN.md.j2", "REPORT.md.j2")


def load_templates() -> None:
    """Compile the document templates now (~10 ms each, once per process) rather than in a run's first steps."""
    for name in TEMPLATES:
        _environment().get_template(name)


def render_discovery(
    doc: DiscoveryDocument, request: str, questions: Sequence[DiscoveryQuestion], answers: dict[str, str]
) -> str:
    template = _environment().get_template("DISCOVERY.md.j2")
    return template.render(doc=doc, request=request, questions=questions, answers=answers)


def render_master_plan(plan: MasterPlan, forecast: Forecast | None = None) -> str:
    rows: dict[str, list[WallTime]] = defaultdict(list)
    for time in forecast.wall_times if forecast else []:
        rows[time.tier].append(time)
    concurrencies = [time.concurrency for time in next(iter(rows.values()), [])]
    return (
        _environment()
        .get_template("MASTERPLAN.md.j2")
        .render(plan=plan, forecast=forecast, wall_rows=list(rows.items()), wall_concurrencies=concurrencies)
    )


def _cache_share(calls: Sequence[LLMCallRecord]) -> float:
    read = sum(call.cache_read_tokens for call in calls)
    total = sum(call.input_tokens + call.cache_write_tokens + call.cache_read_tokens for call in calls)
    return read / total if total else 0.0


def _phase_costs(calls: Sequence[LLMCallRecord], uncached: UncachedCost) -> list[PhaseCost]:
    phases: dict[str, PhaseCost] = {}
    for call in calls:
        phase = phases.setdefault(call.phase, PhaseCost(call.phase))
        phase.calls += 1
        phase.input += call.input_tokens
        phase.cache_write += call.cache_write_tokens
        phase.cache_read += call.cache_read_tokens
        phase.output += call.output_tokens
        phase.cost += call.cost_usd
        phase.uncached_cost += uncached(call)
    return list(phases.values())


def render_report(
    run: Run,
    tasks: Sequence[TaskState],
    calls: Sequence[LLMCallRecord],
    *,
    uncached: UncachedCost,
    final_check: FinalCheck | None,
    sandbox: str,
    checks: Sequence[str],
    accuracy: ForecastAccuracy | None = None,
    repository: RepositoryOutcome | None = None,
) -> str:
    """``uncached`` prices one call as if nothing had been cached (the counterfactual); ``sandbox`` says where
    the checks ran (``SandboxStatus.describe``); ``checks`` are the commands run after each task;
    ``accuracy`` is the approved forecast beside what the run did."""
    calls_by_task: dict[str | None, list[LLMCallRecord]] = defaultdict(list)
    for call in calls:
        calls_by_task[call.task_id].append(call)
    counts = {status: 0 for status in ("completed", "failed", "skipped", "pending", "running")}
    for task in tasks:
        counts[task.status.value] += 1
    counts["pending"] += counts.pop("running")
    counts["total"] = len(tasks)
    return (
        _environment()
        .get_template("REPORT.md.j2")
        .render(
            run=run,
            counts=counts,
            calls=calls,
            failed_calls=sum(1 for call in calls if call.outcome != "ok"),
            abandoned_calls=sum(1 for call in calls if call.outcome in ("started", "abandoned")),
            estimated_calls=sum(1 for call in calls if call.usage_estimated),
            uncached_cost=sum((uncached(call) for call in calls), Decimal(0)),
            final_check=final_check,
            sandbox=sandbox,
            checks=list(checks),
            task_rows=[
                TaskRow(
                    task,
                    _cache_share(calls_by_task[task.task_id]),
                    sum((uncached(call) for call in calls_by_task[task.task_id]), Decimal(0)),
                )
                for task in tasks
            ],
            phases=_phase_costs(calls, uncached),
            failures=[task for task in tasks if task.error and task.status.value in ("failed", "skipped")],
            accuracy=accuracy,
            repository=repository,
        )
    )
