"""The SQLite writer thread: a batch may await only its transaction, and closing stops the thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from masterplan.store import StoreTx, StoreUnavailable, open_store
from masterplan.store.connector import Transaction
from masterplan.store.sqlite_batch import run_to_end


async def test_a_batch_that_awaits_anything_else_is_refused_and_rolled_back(tmp_path: Path) -> None:
    store = await open_store(f"sqlite://{tmp_path / 'masterplan.db'}", migrate=True)
    try:

        async def sleeps(raw: Transaction) -> None:
            await StoreTx(raw).get_run("nothing")
            await asyncio.sleep(0)

        with pytest.raises(RuntimeError, match="awaited something other"):
            await store.connector.run_batch(sleeps)
        async with store.transaction() as tx:  # the write lock was given back
            assert await tx.list_runs(10) == []
    finally:
        await store.close()


def test_run_to_end_returns_what_a_coroutine_that_never_suspends_returns() -> None:
    async def answer() -> int:
        return 42

    assert run_to_end(answer()) == 42


async def test_closing_the_store_stops_the_writer_thread(tmp_path: Path) -> None:
    store = await open_store(f"sqlite://{tmp_path / 'masterplan.db'}", migrate=True)

    async def nothing(raw: Transaction) -> None:
        await StoreTx(raw).list_runs(1)

    await store.connector.run_batch(nothing)
    assert any(thread.name.startswith("masterplan-sqlite-writer") for thread in threading.enumerate())
    await store.close()
    assert not any(thread.name.startswith("masterplan-sqlite-writer") for thread in threading.enumerate())


async def test_the_writer_checkpoints_once_it_is_idle_not_inside_a_commit(tmp_path: Path) -> None:
    database = tmp_path / "masterplan.db"
    store = await open_store(f"sqlite://{database}", migrate=True)
    try:

        async def one_event(raw: Transaction) -> None:
            await StoreTx(raw).list_runs(1)

        for _ in range(3):
            await store.connector.run_batch(one_event)
        writer = store.connector._writer  # type: ignore[attr-defined]
        await asyncio.sleep(0.5)  # a hundred times the idle time the writer waits for

        assert writer.checkpoints >= 1
    finally:
        await store.close()


async def test_an_in_memory_database_runs_its_batches_on_its_one_connection() -> None:
    store = await open_store("sqlite://:memory:", migrate=True)
    try:

        async def count(raw: Transaction) -> int:
            return len(await StoreTx(raw).list_runs(10))

        assert await store.connector.run_batch(count) == 0  # the migrated tables are there
    finally:
        await store.close()


async def test_a_batch_after_close_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    store = await open_store(f"sqlite://{tmp_path / 'masterplan.db'}", migrate=True)

    async def nothing(raw: Transaction) -> None:
        await StoreTx(raw).list_runs(1)

    await store.connector.run_batch(nothing)
    await store.close()

    with pytest.raises(StoreUnavailable, match=r"not open|closed"):
        await store.connector.run_batch(nothing)
