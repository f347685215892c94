"""A run's report: REPORT.md from the stored rows, and its forecast beside what the run did.

Read in one transaction so the report, the comparison and the event that carries it agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

from masterplan.executor.context import RunContext
from masterplan.executor.tags import json_artifact
from masterplan.forecast.accuracy import ForecastAccuracy, compare_forecast
from masterplan.forecast.report import Forecast
from masterplan.llm.pricing import PriceTable
from masterplan.llm.usage import TokenUsage
from masterplan.models import Artifact, Event, LLMCallRecord, RunStatus, utcnow
from masterplan.service.documents import FinalCheck, render_report
from masterplan.service.plan_store import FORECAST_ACCURACY_JSON, FORECAST_JSON
from masterplan.service.repository_run import RepositoryOutcome
from masterplan.store import StoreTx

EVENT_PAGE = 5_000


@dataclass(frozen=True)
class RunReport:
    markdown: str
    accuracy: ForecastAccuracy | None

    def artifacts(self, run_id: str) -> list[Artifact]:
        artifacts = [Artifact(run_id=run_id, name="REPORT.md", content=self.markdown)]
        if self.accuracy is not None:
            artifacts.append(json_artifact(run_id, FORECAST_ACCURACY_JSON, self.accuracy))
        return artifacts


async def build_report(
    ctx: RunContext,
    prices: PriceTable,
    final: FinalCheck | None,
    status: RunStatus,
    error: str | None,
    *,
    repository: RepositoryOutcome | None = None,
) -> RunReport:
    """``status`` and ``error``: what the run is about to be recorded with, when it has not ended yet;
    ``repository``: a repository run's branch and tests."""
    async with ctx.journal.read() as tx:
        run = await tx.require_run(ctx.run.id)
        tasks = await tx.list_tasks(run.id)
        calls = await tx.list_llm_calls(run.id)
        stored = await tx.get_artifact(run.id, FORECAST_JSON)
        events = [event async for event in _all_events(tx, run.id)] if stored is not None else []
    shown = run.model_copy(update={"status": status, "error": error}) if not run.status.is_terminal else run
    accuracy = None
    if stored is not None:
        forecast = Forecast.model_validate_json(stored.content)
        accuracy = compare_forecast(forecast, shown, tasks, calls, events, now=utcnow())
    markdown = render_report(
        shown,
        tasks,
        calls,
        uncached=lambda call: uncached_cost(prices, call),
        final_check=final,
        sandbox=(await ctx.sandbox.status()).describe(),
        checks=ctx.check_commands,
        accuracy=accuracy,
        repository=repository,
    )
    return RunReport(markdown, accuracy)


def uncached_cost(prices: PriceTable, call: LLMCallRecord) -> Decimal:
    """What the call would have cost with nothing cached (the report's counterfactual)."""
    if call.model not in prices:
        return call.cost_usd
    return prices.get(call.model).uncached_cost(TokenUsage.from_record(call))


def accuracy_event(accuracy: ForecastAccuracy) -> dict[str, object]:
    """The totals of the comparison, as the ``forecast.compared`` event carries them."""
    return {
        "counted": accuracy.counted,
        "run_status": accuracy.run_status,
        "cost": accuracy.cost.model_dump(mode="json"),
        "wall_time_s": accuracy.wall_time_s.model_dump(mode="json"),
        "calls": accuracy.calls.model_dump(mode="json"),
    }


async def _all_events(tx: StoreTx, run_id: str) -> AsyncIterator[Event]:
    after = 0
    while True:
        page = await tx.events_after(run_id, after, limit=EVENT_PAGE)
        for event in page:
            yield event
        if len(page) < EVENT_PAGE:
            return
        after = page[-1].seq
