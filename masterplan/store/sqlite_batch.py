"""SQLite batches on a writer thread: a whole transaction in one trip from the event loop.

Through aiosqlite every statement is a round trip between the event loop and its
thread, and a busy loop answers late: a batch of a dozen statements took ~2 ms.
Here the batch runs whole on a thread with its own connection, while the loop
goes on; it is the transaction's methods that do not suspend, so the batch's
coroutine is run to its end with a single ``send``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from masterplan.store.connector import Row, Transaction
from masterplan.store.queries import Query
from masterplan.store.url import Dialect

T = TypeVar("T")


class ThreadTransaction:
    """A ``Transaction`` over a plain sqlite3 connection, used only on the writer thread."""

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        connection: sqlite3.Connection,
        queries: dict[str, Query],
        bind: Callable[[dict[str, Query], str, dict[str, Any]], tuple[str, dict[str, Any]]],
    ) -> None:
        self._connection = connection
        self._queries = queries
        self._bind = bind

    async def execute(self, query: str, **params: Any) -> None:
        self._connection.execute(*self._bind(self._queries, query, params))

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        row = self._connection.execute(*self._bind(self._queries, query, params)).fetchone()
        return dict(row) if row is not None else None

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        return [dict(row) for row in self._connection.execute(*self._bind(self._queries, query, params))]

    async def execute_script(self, script: str) -> None:
        raise NotImplementedError("migrations run through the connector's transaction(), not a batch")


def run_to_end(work: Awaitable[T]) -> T:
    """The result of a coroutine that never suspends; a RuntimeError if it tries to."""
    coroutine: Coroutine[Any, Any, T] = work  # type: ignore[assignment]
    try:
        coroutine.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    coroutine.close()
    raise RuntimeError("a batch awaited something other than its transaction's methods")


class BatchWriter:
    """One thread, one connection: batches run there one after another, each in its own transaction."""

    def __init__(
        self,
        path: Path,
        pragmas: tuple[str, ...],
        queries: dict[str, Query],
        bind: Callable[[dict[str, Query], str, dict[str, Any]], tuple[str, dict[str, Any]]],
    ) -> None:
        self._path = path
        self._pragmas = pragmas
        self._queries = queries
        self._bind = bind
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="masterplan-sqlite-writer")
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None)
            connection.row_factory = sqlite3.Row
            for pragma in self._pragmas:
                connection.execute(pragma)
            self._connection = connection
        return self._connection

    def _run(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = run_to_end(work(ThreadTransaction(connection, self._queries, self._bind)))
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
        return result

    async def run(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=True)
