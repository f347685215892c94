"""The parts of outage healing below the API, against a PostgreSQL the test cuts off (see ``db_proxy``):
the connector's one error for "unreachable", and the journal keeping what it could not write."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import urlsplit

import asyncpg
import pytest

from masterplan.executor.journal import Journal
from masterplan.models import Event, Run, RunOptions
from masterplan.store import Store, StoreUnavailable, open_store

from .db_proxy import CuttableProxy
from .test_store_outage import through


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[CuttableProxy]:
    parts = urlsplit(postgres_url)
    assert parts.hostname is not None
    assert parts.port is not None
    async with CuttableProxy(parts.hostname, parts.port) as opened:
        yield opened


@pytest.fixture
async def proxied_store(proxy: CuttableProxy, postgres_url: str) -> AsyncIterator[Store]:
    store = await open_store(through(proxy, postgres_url))
    yield store
    await store.close()


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


async def test_an_unreachable_postgres_is_store_unavailable_naming_the_server_and_the_pool_heals_after(
    proxy: CuttableProxy, proxied_store: Store
) -> None:
    await proxy.cut()
    with pytest.raises(StoreUnavailable, match=rf"PostgreSQL at .*:{proxy.port}/.* is unreachable"):
        async with proxied_store.transaction() as tx:
            await tx.ping()
    await proxy.restore()

    async with proxied_store.transaction() as tx:
        await tx.ping()


async def test_a_connection_cut_in_the_middle_of_a_transaction_is_store_unavailable_and_nothing_of_it_commits(
    proxy: CuttableProxy, proxied_store: Store, postgres_url: str
) -> None:
    run = await new_run(proxied_store)
    with pytest.raises(StoreUnavailable):
        async with proxied_store.transaction() as tx:
            await tx.append_event(run.id, "before the cut")
            await proxy.cut()
            await tx.append_event(run.id, "after the cut")
    await proxy.restore()

    async with proxied_store.transaction() as tx:
        assert [event.type for event in await tx.events_after(run.id)] == ["run.created"]


async def test_errors_that_are_not_about_reaching_the_server_are_left_as_they_are(proxied_store: Store) -> None:
    run = await new_run(proxied_store)
    with pytest.raises(asyncpg.UniqueViolationError):
        async with proxied_store.transaction() as tx:
            await tx.insert_run(run)


async def test_the_journal_holds_writes_it_could_not_commit_and_commits_them_in_order_once_the_store_is_back(
    proxy: CuttableProxy, proxied_store: Store
) -> None:
    run = await new_run(proxied_store)
    published: list[Event] = []
    journal = Journal(proxied_store, published.extend)

    await proxy.cut()
    journal.defer_event(run.id, "answer stored")
    with pytest.raises(StoreUnavailable, match="1 write"):
        await journal.settle(run.id)  # the barrier before a call: it does not let the call leave
    journal.defer_event(run.id, "next step")
    with pytest.raises(StoreUnavailable, match="2 write"):
        await journal.settle("another run")  # the store is one: no run's call leaves
    assert journal.held_writes == 2

    await proxy.restore()
    await journal.settle(run.id)

    assert journal.held_writes == 0
    async with proxied_store.transaction() as tx:
        stored = [event.type for event in await tx.events_after(run.id)]
    assert stored == ["run.created", "answer stored", "next step"]
    assert [event.type for event in published] == ["answer stored", "next step"]


async def test_after_a_failed_write_the_barrier_proves_the_store_writable_before_letting_a_call_go(
    proxy: CuttableProxy, proxied_store: Store
) -> None:
    run = await new_run(proxied_store)
    journal = Journal(proxied_store, lambda events: None)
    await proxy.cut()
    with pytest.raises(StoreUnavailable):
        await journal.event(run.id, "task.completed")  # a write made at once, not deferred
    with pytest.raises(StoreUnavailable):
        await journal.settle(run.id)

    await proxy.restore()
    await journal.settle(run.id)
