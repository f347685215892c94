"""The gateway in batch mode against the simulator's Message Batches API, with a real SQLite store.

A "restart" here is a second gateway (and its own RunBatches) over the same store file, as a resumed
process would have: it must find what the first one sent by its custom_ids and never send it again.
The simulator's clock is frozen and the gateway's polls advance it, so batches end exactly on time.
Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from masterplan.config import Settings
from masterplan.executor.batch_ledger import JournalBatchLedger
from masterplan.executor.journal import Journal
from masterplan.llm import CallContext
from masterplan.llm.batching import CUSTOM_ID_MAX, batch_custom_id
from masterplan.llm.budget import BudgetExceeded, RunBudget
from masterplan.llm.gateway import LLMGateway
from masterplan.models import Run, RunOptions, TaskOutput
from masterplan.sim import SimClock, SimConfig, SimulatorHandle, running_simulator
from masterplan.store import Store, open_store

from .conftest import SimDrivenClock, TaskRequests

RUN_ID = "batch-run"
CONTEXT = CallContext(
    phase="task_execution",
    role="developer",
    prompt_name="developer",
    prompt_version=1,
    run_id=RUN_ID,
    task_id="T01",
    call_key="ask1",
    reuse_answered=True,
)
"""A task's first call: after a restart its answered attempt may be read again (the task had not landed)."""
BATCH_SECONDS = 30.0


@dataclass
class Parts:
    sim: SimulatorHandle
    clock: SimDrivenClock
    store: Store
    journal: Journal


@asynccontextmanager
async def parts(database_url: str) -> AsyncIterator[Parts]:
    sim_clock = SimClock(frozen=True)
    config = SimConfig(port=0, tier="none", latency=0, seed=0, batch_seconds=BATCH_SECONDS)
    async with running_simulator(config, sim_clock) as sim:
        store = await open_store(database_url, migrate=True)
        try:
            async with store.transaction() as tx:
                run = Run(
                    id=RUN_ID, request="x", options=RunOptions(mode="batch"), budget_usd=Decimal(5), workspace="/w"
                )
                await tx.insert_run(run)
            yield Parts(sim, SimDrivenClock(sim_clock), store, Journal(store, lambda events: None))
        finally:
            await store.close()


@asynccontextmanager
async def process(p: Parts) -> AsyncIterator[tuple[LLMGateway, RunBudget]]:
    """What one masterplan process has: its own gateway, and the run's budget as the store counts it."""
    settings = Settings(
        anthropic_api_key="sim-key",
        anthropic_base_url=p.sim.base_url,
        rate_limit_tier="none",
        batch_poll_initial_s=5,
        batch_poll_max_s=10,
        batch_gather_s=0.1,
    )
    async with p.store.transaction() as tx:
        run = await tx.require_run(RUN_ID)
    budget = RunBudget(run.budget_usd, run.cost_usd + run.reserved_usd, run_id=RUN_ID)
    gateway = LLMGateway(settings, recorder=p.journal.record_call, starter=p.journal.start_call, clock=p.clock)
    async with gateway:
        yield gateway, budget


async def _complete(
    gateway: LLMGateway, budget: RunBudget, request: object, p: Parts, context: CallContext = CONTEXT
) -> object:
    batches = gateway.open_batches(RUN_ID, JournalBatchLedger(p.journal), budget=budget)
    result = await gateway.complete(request, schema=TaskOutput, context=context, budget=budget, batches=batches)  # type: ignore[arg-type]
    await p.journal.settle(RUN_ID)
    return result


async def _events(p: Parts) -> list[Any]:
    async with p.store.transaction() as tx:
        return list(await tx.events_after(RUN_ID))


async def _batches(p: Parts) -> list[object]:
    async with p.store.transaction() as tx:
        return list(await tx.list_batches(RUN_ID))


async def _run_and_calls(p: Parts) -> tuple[Run, list[object]]:
    async with p.store.transaction() as tx:
        return await tx.require_run(RUN_ID), list(await tx.list_llm_calls(RUN_ID))


async def test_an_answered_call_asked_again_after_a_restart_reads_its_batch_again_for_free(
    database_url: str, task_requests: TaskRequests
) -> None:
    request = task_requests.build("t1")
    async with parts(database_url) as p:
        async with process(p) as (gateway, budget):
            first = await _complete(gateway, budget, request, p)
        async with process(p) as (gateway, budget):
            again = await _complete(gateway, budget, request, p)
            spent_after_restart = budget.spent_usd
        run, calls = await _run_and_calls(p)
        events = [event.type for event in await _events(p)]
        stats = p.sim.stats()
    assert again.text == first.text  # type: ignore[attr-defined]
    assert stats["batches"]["created"] == 1
    assert stats["batches"]["requests_by_result"]["succeeded"] == 1
    assert len(calls) == 1
    assert run.cost_usd == first.cost_usd == spent_after_restart  # type: ignore[attr-defined]
    assert run.reserved_usd == 0
    assert events.count("batch.ended") == 1  # read again, not ended again


async def test_a_call_of_no_task_asked_again_after_a_restart_is_a_new_question(
    database_url: str, task_requests: TaskRequests
) -> None:
    """A plan sent back asks the planner again with the same words: it must get a new answer, not the old one."""
    request = task_requests.build("t1")
    planning = dataclasses.replace(CONTEXT, phase="master_plan", task_id=None, reuse_answered=False)
    async with parts(database_url) as p:
        async with process(p) as (gateway, budget):
            first = await _complete(gateway, budget, request, p, planning)
        async with process(p) as (gateway, budget):
            again = await _complete(gateway, budget, request, p, planning)
        run, calls = await _run_and_calls(p)
        stats = p.sim.stats()
    assert stats["batches"]["created"] == 2
    assert len(calls) == 2
    assert run.cost_usd == first.cost_usd + again.cost_usd  # type: ignore[attr-defined]


async def test_a_call_whose_process_stopped_while_its_batch_was_processed_is_answered_by_that_batch(
    database_url: str, task_requests: TaskRequests
) -> None:
    request = task_requests.build("t1")
    async with parts(database_url) as p:
        async with process(p) as (gateway, budget):
            waiting = asyncio.create_task(_complete(gateway, budget, request, p))
            async with asyncio.timeout(10):  # until the batch's id is committed (a kill before loses the batch)
                while not await _batches(p):  # noqa: ASYNC110 - the store has no event to wait on
                    await asyncio.sleep(0.01)
            # the process stops polling: its gateway closes and the call is cut off, as by a kill
            await gateway.aclose()
            waiting.cancel()
        run_at_stop, calls_at_stop = await _run_and_calls(p)
        async with process(p) as (gateway, budget):
            assert budget.spent_usd == run_at_stop.reserved_usd  # the worst case counts until the answer is read
            answered = await _complete(gateway, budget, request, p)
            spent = budget.spent_usd
        run, calls = await _run_and_calls(p)
        stats = p.sim.stats()
    assert [call.outcome for call in calls_at_stop] == ["started"]  # type: ignore[attr-defined]
    assert stats["batches"]["created"] == 1
    assert stats["batches"]["requests_by_result"]["succeeded"] == 1
    assert [call.outcome for call in calls] == ["ok"]  # type: ignore[attr-defined]
    assert calls[0].id == calls_at_stop[0].id  # type: ignore[attr-defined]
    assert run.cost_usd == answered.cost_usd == spent  # type: ignore[attr-defined]
    assert run.reserved_usd == 0


async def test_calls_that_join_one_batch_are_refused_together_when_its_worst_case_does_not_fit(
    database_url: str, task_requests: TaskRequests
) -> None:
    requests = [task_requests.build(f"t{index}") for index in range(3)]
    async with parts(database_url) as p:
        async with process(p) as (gateway, _):
            worst = [
                gateway.worst_case_cost(request, gateway.prices.get_batched(request.model)) for request in requests
            ]
            budget = RunBudget(sum(worst) - worst[0] / 2, run_id=RUN_ID)  # any two fit, not three
            batches = gateway.open_batches(RUN_ID, JournalBatchLedger(p.journal), budget=budget)
            outcomes = await asyncio.gather(
                *(
                    gateway.complete(
                        request,
                        schema=TaskOutput,
                        context=CallContext(**{**CONTEXT.__dict__, "call_key": f"ask{index}"}),
                        budget=budget,
                        batches=batches,
                    )
                    for index, request in enumerate(requests)
                ),
                return_exceptions=True,
            )
        _, calls = await _run_and_calls(p)
        stats = p.sim.stats()
    assert all(isinstance(outcome, BudgetExceeded) for outcome in outcomes), outcomes
    assert stats["batches"]["created"] == 0
    assert calls == []
    assert budget.held_usd == 0


def test_custom_ids_are_what_the_api_takes_and_differ_for_every_attempt() -> None:
    long_context = CallContext(
        phase="task_execution", role="developer", prompt_name="p", prompt_version=1, task_id="T" * 80, call_key="ask12"
    )
    names = {
        batch_custom_id(context, part, attempt)
        for context in (CONTEXT, long_context)
        for part in (1, 2)
        for attempt in (1, 2, 3)
    }
    assert len(names) == 12
    assert all(0 < len(name) <= CUSTOM_ID_MAX and name.replace("-", "").replace("_", "").isalnum() for name in names)
    assert batch_custom_id(CONTEXT, 1, 1) == batch_custom_id(CONTEXT, 1, 1)  # the same after a restart
