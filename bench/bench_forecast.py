"""How good the plan's forecast is: forecast against actual cost and wall time, over runs on the simulator.

Cost: runs of different requests, seeds and task counts (12-50) in series, each series in a store of its
own, so a series' later runs are forecast from the history of its earlier ones. Every run is also forecast
again as if the store were empty (the same plan and inputs, design note 003's priors for every figure), so
the no-history error is measured on every run, not only on the first of each series. Actual cost is the
whole run's (discovery and planning included, as in the forecast).

Wall time: runs at simulator tier 1 with a scaled realistic latency; the forecast's wall time at the run's
tier and concurrency against the execution phase's (from ``executing`` to the run's end).

    .venv/bin/python bench/bench_forecast.py                  # 24 cost runs and 2 tier-1 wall-time runs
    .venv/bin/python bench/bench_forecast.py --series 2 --runs 3 --wall-runs 0

Goals (issue 12): with two earlier runs in the store, ≥ 90% of runs within ±15% of actual cost; with no
history, ≥ 90% within ±30%; ≥ 90% of actual costs inside [low, high]; wall time within ±20%.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))

from bench_speed import Simulator

from masterplan.cache.context import ProjectContext
from masterplan.config import Settings
from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.forecast.compute import ForecastInputs, compute_forecast, needed_keys
from masterplan.forecast.history import ForecastHistory
from masterplan.forecast.layout import PhaseSetup
from masterplan.forecast.report import Forecast
from masterplan.llm.answer_sizes import SizeHistory, estimate_size
from masterplan.llm.pricing import PriceTable
from masterplan.models import DiscoveryDocument, MasterPlan, Run, RunOptions, RunRequest
from masterplan.service.assembly import open_service
from masterplan.store import StoreTx

REQUESTS = (
    "A task-tracking API with users and projects",
    "A library lending service with members, books and loans",
    "An inventory API for a small shop: products, suppliers, stock movements",
    "A recipe sharing service with ingredients, ratings and shopping lists",
    "A clinic appointment scheduler with doctors, patients and rooms",
    "A URL shortener with accounts, links and click statistics",
)
TASK_COUNTS = (12, 20, 30, 50, 16, 40)
GOAL_HISTORY, GOAL_PRIOR, GOAL_WALL = 0.15, 0.30, 0.20


@dataclass(frozen=True)
class Outcome:
    label: str
    earlier_runs: int
    forecast: Forecast
    prior: Forecast
    actual_usd: Decimal
    wall_s: float

    def error(self, forecast: Forecast) -> float:
        return float(forecast.cost.expected_usd / self.actual_usd - 1)

    def inside(self) -> bool:
        return self.forecast.cost.low_usd <= self.actual_usd <= self.forecast.cost.high_usd


def settings_for(base_url: str, home: Path, tier: str) -> Settings:
    return Settings(
        anthropic_api_key="sim-key",
        anthropic_base_url=base_url,
        rate_limit_tier=tier,
        database_url=f"sqlite://{home / 'masterplan.db'}",
        workspace_root=home / "workspaces",
    )


async def prior_forecast(tx: StoreTx, run: Run, settings: Settings, stored: Forecast) -> Forecast:
    """The run's plan forecast again as if the store held no history: every figure from the priors."""
    plan = MasterPlan.model_validate_json(_artifact(await tx.get_artifact(run.id, "masterplan.json")))
    document = DiscoveryDocument.model_validate_json(_artifact(await tx.get_artifact(run.id, "discovery.json")))
    learnings = tuple(orjson.loads(_artifact(await tx.get_artifact(run.id, "learnings.json"))))
    setups = {}
    for phase in ("task_execution", "phase_summary", "qa_review"):
        config = await tx.get_phase_config(phase)
        setups[phase] = PhaseSetup(config=config, prompt=await tx.get_prompt(config.prompt))
    inputs = ForecastInputs(
        plan=plan,
        project=ProjectContext(request=run.request, discovery_document=document, master_plan=plan, learnings=learnings),
        setups=setups,
        settings=settings,
        prices=PriceTable.load(),
        qa=run.options.qa,
        concurrency=run.options.concurrency,
        budget_usd=run.budget_usd,
        spent_usd=stored.spent_usd,
        checks=bool(run.options.checks),
    )
    sizes = {key: estimate_size(key, SizeHistory()) for key in needed_keys(inputs)}
    return compute_forecast(inputs, ForecastHistory(sizes=sizes))


def _artifact(artifact: object) -> str:
    content = getattr(artifact, "content", None)
    if not isinstance(content, str):
        raise SystemExit("a finished run lacks an artifact the forecast needs")
    return content


async def one_run(settings: Settings, request: str, tasks: int, earlier: int, concurrency: int) -> Outcome:
    options = RunOptions(tasks=tasks, auto_answer=True, approval="auto", checks=[], concurrency=concurrency)
    async with open_service(settings) as service:
        run = await service.wait((await service.create(RunRequest(request=request, options=options))).id)
        async with service.store.transaction() as tx:
            forecast = Forecast.model_validate_json(_artifact(await tx.get_artifact(run.id, "FORECAST.json")))
            prior = await prior_forecast(tx, run, settings, forecast)
            stored = await tx.get_artifact(run.id, "FORECAST_ACCURACY.json")
    accuracy = ForecastAccuracy.model_validate_json(_artifact(stored))  # the run's own forecast against actual
    label = f"{run.status:9s} {len(forecast.tasks):2d} tasks  {request[:38]:38s}"
    return Outcome(label, earlier, forecast, prior, accuracy.cost.actual_usd, accuracy.wall_time_s.actual)


def cost_runs(args: argparse.Namespace) -> list[Outcome]:
    outcomes: list[Outcome] = []
    print(f"cost: {args.series} series of {args.runs} runs, simulator tier none, no latency, checks off")
    print(f"  {'run':56s} {'earlier':>7s} {'actual $':>9s} {'forecast $':>10s} {'err':>7s} {'prior err':>9s} range")
    for series in range(args.series):
        with Simulator("none", 0.0, seed=series) as sim, tempfile.TemporaryDirectory(prefix="mp-fc-") as home:
            settings = settings_for(sim.base_url, Path(home), "none")
            for index in range(args.runs):
                position = series * args.runs + index
                request = REQUESTS[position % len(REQUESTS)]
                tasks = TASK_COUNTS[(series + index) % len(TASK_COUNTS)]
                outcome = asyncio.run(one_run(settings, request, tasks, index, 1))
                outcomes.append(outcome)
                cost = outcome.forecast.cost
                print(
                    f"  {outcome.label} {index:7d} {outcome.actual_usd:9.4f} {cost.expected_usd:10.4f} "
                    f"{outcome.error(outcome.forecast):+7.1%} {outcome.error(outcome.prior):+9.1%} "
                    f"[{cost.low_usd:.4f}, {cost.high_usd:.4f}]{'' if outcome.inside() else ' OUTSIDE'}",
                    flush=True,
                )
    return outcomes


def wall_runs(args: argparse.Namespace) -> list[Outcome]:
    outcomes: list[Outcome] = []
    if not args.wall_runs:
        return outcomes
    print(f"wall time: simulator tier 1, latency ×{args.latency}, checks off, {args.wall_tasks} tasks")
    with Simulator("1", args.latency, seed=7) as sim, tempfile.TemporaryDirectory(prefix="mp-fw-") as home:
        settings = settings_for(sim.base_url, Path(home), "1")
        for index in range(args.wall_runs):
            outcome = asyncio.run(one_run(settings, REQUESTS[index], args.wall_tasks, index, args.concurrency))
            outcomes.append(outcome)
            forecast = outcome.forecast.wall_time
            error = forecast.seconds / outcome.wall_s - 1
            print(
                f"  {outcome.label} actual {outcome.wall_s:7.1f} s  forecast {forecast.seconds:7.1f} s "
                f"({forecast.bound})  err {error:+6.1%}",
                flush=True,
            )
    return outcomes


def share(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} = {sum(flags) / len(flags):.0%}" if flags else "no runs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=6)
    parser.add_argument("--runs", type=int, default=4, help="runs per series (each series has its own store)")
    parser.add_argument("--wall-runs", type=int, default=2)
    parser.add_argument("--wall-tasks", type=int, default=12)
    parser.add_argument("--latency", type=float, default=0.2, help="factor on the realistic latency (wall runs)")
    parser.add_argument("--concurrency", type=int, default=2, help="of the wall-time runs")
    args = parser.parse_args()
    started = time.monotonic()
    outcomes = cost_runs(args)
    walls = wall_runs(args)
    history = [abs(o.error(o.forecast)) <= GOAL_HISTORY for o in outcomes if o.earlier_runs >= 2]
    prior = [abs(o.error(o.prior)) <= GOAL_PRIOR for o in outcomes]
    first = [abs(o.error(o.forecast)) <= GOAL_PRIOR for o in outcomes if o.earlier_runs == 0]
    inside = [o.inside() for o in outcomes]
    wall = [abs(o.forecast.wall_time.seconds / o.wall_s - 1) <= GOAL_WALL for o in walls]
    print("summary")
    print(f"  within ±15% with two earlier runs in the store: {share(history)}  (goal ≥ 90%)")
    print(f"  within ±30% with no history (priors, every run):  {share(prior)}  (goal ≥ 90%)")
    print(f"  within ±30%, first run of each series:            {share(first)}")
    print(f"  actual inside [low, high]:                        {share(inside)}  (goal ≥ 90%)")
    print(f"  wall time within ±20% at tier 1:                  {share(wall)}  (goal: all)")
    print(f"  ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
