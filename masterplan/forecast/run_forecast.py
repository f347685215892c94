"""The forecast of one run's plan, from what the run's context and its store hold (no LLM call)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from masterplan.cache.context import ProjectContext
from masterplan.executor.calling import TASK_PHASE
from masterplan.executor.context import RunContext
from masterplan.forecast.compute import (
    QA_PHASE,
    SUMMARY_PHASE,
    ForecastInputs,
    compute_forecast,
    needed_keys,
    needed_models,
)
from masterplan.forecast.history import load_history
from masterplan.forecast.layout import PhaseSetup
from masterplan.forecast.report import Forecast
from masterplan.llm.answer_history import AnswerSizeBook
from masterplan.llm.pricing import PriceTable
from masterplan.models import MasterPlan


async def forecast_run(
    ctx: RunContext, plan: MasterPlan, prices: PriceTable, *, pinned: Mapping[str, str] | None = None
) -> Forecast:
    """The plan priced for ``ctx``'s run: its options, budget, spending so far, and the store's history."""
    setups: dict[str, PhaseSetup] = {}
    async with ctx.journal.read() as tx:
        run = await tx.require_run(ctx.run.id)
        for phase in (TASK_PHASE, SUMMARY_PHASE, QA_PHASE):
            config = await tx.get_phase_config(phase)
            setups[phase] = PhaseSetup(config=config, prompt=await tx.get_prompt(config.prompt))
    project = ctx.cache.project or ProjectContext(request=run.request)
    inputs = ForecastInputs(
        plan=plan,
        project=dataclasses.replace(project, master_plan=plan),
        setups=setups,
        settings=ctx.settings,
        prices=prices,
        qa=run.options.qa,
        concurrency=run.options.concurrency,
        budget_usd=run.budget_usd,
        spent_usd=run.cost_usd + run.reserved_usd,
        checks=bool(ctx.check_commands),
        pinned=pinned,
    )
    book = AnswerSizeBook(ctx.journal.read, run_id=run.id)
    history = await load_history(ctx.journal, book, needed_keys(inputs), needed_models(inputs), run_id=run.id)
    return compute_forecast(inputs, history)
