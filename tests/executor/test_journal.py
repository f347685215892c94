"""The journal on both dialects: writes behind (defer) and at once keep one order, and nothing is lost silently."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from masterplan.executor.journal import Journal, JournalTx
from masterplan.models import Event, LLMCallRecord, Run, RunOptions
from masterplan.store import NotFound, Store


async def new_run(store: Store) -> Run:
    run = Run(
        id=f"run-{uuid.uuid4().hex[:12]}",
        request="A task-tracking API",
        options=RunOptions(),
        budget_usd=Decimal("20"),
        workspace="/tmp/workspace",
    )
    async with store.transaction() as tx:
        await tx.insert_run(run)
    return run


def call_record(run_id: str, **fields: Any) -> LLMCallRecord:
    """One developer attempt of ``run_id``; ``fields`` say how it went."""
    return LLMCallRecord(
        run_id=run_id,
        phase="task_execution",
        role="developer",
        prompt_name="developer",
        prompt_version=1,
        model="claude-haiku-4-5",
        latency_ms=1.0,
        attempt=1,
        **fields,
    )


def journal_for(store: Store) -> tuple[Journal, list[Event]]:
    published: list[Event] = []
    return Journal(store, published.extend), published


async def test_deferred_and_immediate_writes_commit_and_publish_in_the_order_they_were_made(store: Store) -> None:
    run = await new_run(store)
    journal, published = journal_for(store)

    journal.defer_event(run.id, "first")
    journal.defer_event(run.id, "second")
    await journal.event(run.id, "third")  # passes the barrier: the deferred two go first
    journal.defer_event(run.id, "fourth")
    await journal.settle()

    async with store.transaction() as tx:
        stored = await tx.events_after(run.id)
    types = [event.type for event in stored if event.type != "run.created"]
    assert types == ["first", "second", "third", "fourth"]
    assert [event.type for event in published] == types
    assert [event.seq for event in published] == [event.seq for event in stored if event.type != "run.created"]


async def test_a_read_sees_what_was_deferred_before_it(store: Store) -> None:
    run = await new_run(store)
    journal, _ = journal_for(store)
    journal.defer_event(run.id, "written.behind")

    async with journal.read() as tx:
        assert [event.type for event in await tx.events_after(run.id)][-1] == "written.behind"


async def test_a_deferred_audit_record_reaches_the_trail_and_the_run_cost(store: Store) -> None:
    run = await new_run(store)
    journal, _ = journal_for(store)
    record = call_record(run.id, input_tokens=10, output_tokens=5, cost_usd=Decimal("0.000123"), outcome="ok")

    await journal.record_call(record)
    await journal.settle()

    async with store.transaction() as tx:
        calls = await tx.list_llm_calls(run.id)
        stored_run = await tx.get_run(run.id)
    assert [call.cost_usd for call in calls] == [Decimal("0.000123")]
    assert stored_run is not None
    assert stored_run.cost_usd == Decimal("0.000123")


async def test_a_failed_deferred_write_is_raised_at_its_runs_barrier_and_its_batch_is_rolled_back(
    store: Store,
) -> None:
    run = await new_run(store)
    journal, published = journal_for(store)

    async def missing_run(tx: JournalTx) -> None:
        await tx.append_event("no-such-run", "lost")

    journal.defer_event(run.id, "same.batch")
    journal.defer(run.id, missing_run)
    await asyncio.sleep(0)  # the batch above is being written
    journal.defer_event(run.id, "depends.on.it")
    with pytest.raises(NotFound):
        await journal.settle(run.id)
    await journal.settle(run.id)  # raised once; the journal goes on
    await journal.event(run.id, "after")

    async with store.transaction() as tx:
        types = [event.type for event in await tx.events_after(run.id)]
    assert "same.batch" not in types
    assert "depends.on.it" not in types
    assert types[-1] == "after"
    assert [event.type for event in published] == ["after"]


async def test_one_runs_failed_write_neither_fails_nor_loses_another_runs_writes(store: Store) -> None:
    failing, healthy = await new_run(store), await new_run(store)
    journal, _ = journal_for(store)

    async def missing_run(tx: JournalTx) -> None:
        await tx.append_event("no-such-run", "lost")

    journal.defer(failing.id, missing_run)
    journal.defer_event(healthy.id, "kept")

    await journal.settle(healthy.id)  # the other run's failure is not this run's
    await journal.settle()
    with pytest.raises(NotFound):
        await journal.settle(failing.id)
    async with store.transaction() as tx:
        assert [event.type for event in await tx.events_after(healthy.id)][-1] == "kept"


async def test_a_failed_attempts_record_is_durable_before_the_gateway_can_retry(store: Store) -> None:
    run = await new_run(store)
    journal, _ = journal_for(store)
    failed = call_record(run.id, cost_usd=Decimal("0.0001"), outcome="overloaded", error="HTTP 529 overloaded_error")

    await journal.record_call(failed)

    async with store.transaction() as tx:  # read on the store's own connection: committed already
        assert [call.outcome for call in await tx.list_llm_calls(run.id)] == ["overloaded"]
