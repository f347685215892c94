"""SQLite batches on a writer thread: a whole transaction in one trip from the event loop.

Through aiosqlite every statement is a round trip between the event loop and its
thread, and a busy loop answers late: a batch of a dozen statements took ~2 ms.
Here the batch runs whole on a thread with its own connection, while the loop
goes on; it is the transaction's methods that do not suspend, so the batch's
coroutine is run to its end with a single ``send``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from masterplan.store.connector import Row, Transaction
from masterplan.store.errors import StoreUnavailable
from masterplan.store.queries import Query
from masterplan.store.sqlite_errors import is_unavailable, unavailable_as_store_error
from masterplan.store.sqlite_params import bind
from masterplan.store.url import Dialect

logger = logging.getLogger(__name__)
T = TypeVar("T")
CHECKPOINT_AFTER_IDLE_S = 0.005
"""A checkpoint (WAL pages copied into the database, ~5-10 ms per megabyte) waits for the writer to be idle."""
CHECKPOINT_AFTER_BATCHES = 500
"""...unless the writer is never idle: then every so many batches, so the WAL cannot grow without end."""


class ThreadTransaction:
    """A ``Transaction`` over a plain sqlite3 connection, used only on the writer thread."""

    dialect: Dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection, queries: dict[str, Query]) -> None:
        self._connection = connection
        self._queries = queries

    async def execute(self, query: str, **params: Any) -> None:
        self._connection.execute(*bind(self._queries, query, params))

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        row = self._connection.execute(*bind(self._queries, query, params)).fetchone()
        return dict(row) if row is not None else None

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        return [dict(row) for row in self._connection.execute(*bind(self._queries, query, params))]

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
    """One thread, one connection: batches run there one after another, each in its own transaction.

    The connection does not checkpoint on commit (``wal_autocheckpoint = 0``), which would make
    the one commit that crosses the threshold several milliseconds slower; the writer checkpoints
    instead once no batch has come for ``CHECKPOINT_AFTER_IDLE_S``, between an LLM call's start
    and its answer.
    """

    def __init__(
        self,
        path: Path,
        pragmas: tuple[str, ...],
        queries: dict[str, Query],
    ) -> None:
        self._path = path
        self._pragmas = pragmas
        self._queries = queries
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="masterplan-sqlite-writer")
        self._connection: sqlite3.Connection | None = None
        self._checkpoint_timer: asyncio.TimerHandle | None = None
        self._batches_since_checkpoint = 0
        self._closed = False
        self.checkpoints = 0

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable(f"SQLite database {self._path} is closed")
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None)
            try:
                connection.row_factory = sqlite3.Row
                for pragma in (*self._pragmas, "PRAGMA wal_autocheckpoint = 0"):
                    connection.execute(pragma)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _run(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        try:
            return self._run_on(self._connect(), work)
        except sqlite3.Error as error:
            if is_unavailable(error):  # a connection opened read-only stays so: the next batch opens another
                self._disconnect()
            with unavailable_as_store_error(self._path):
                raise

    def _run_on(self, connection: sqlite3.Connection, work: Callable[[Transaction], Awaitable[T]]) -> T:
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = run_to_end(work(ThreadTransaction(connection, self._queries)))
            connection.commit()
        except BaseException:
            if connection.in_transaction:  # a failed COMMIT (busy, disk full) may leave it open
                connection.rollback()
            raise
        self._batches_since_checkpoint += 1
        if self._batches_since_checkpoint >= CHECKPOINT_AFTER_BATCHES:
            self._checkpoint()
        return result

    async def run(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        if self._closed:
            raise StoreUnavailable(f"SQLite database {self._path} is closed")
        loop = asyncio.get_running_loop()
        if self._checkpoint_timer is not None:
            self._checkpoint_timer.cancel()
        try:
            return await loop.run_in_executor(self._thread, self._run, work)
        finally:
            if not self._closed:
                self._checkpoint_timer = loop.call_later(CHECKPOINT_AFTER_IDLE_S, self._start_checkpoint)

    def _start_checkpoint(self) -> None:
        self._checkpoint_timer = None
        if not self._closed:
            self._thread.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
                self._batches_since_checkpoint = 0
            except sqlite3.Error as error:  # the next commit is still correct; the WAL is only longer
                logger.warning("SQLite checkpoint skipped: %s", error)

    def _disconnect(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    async def close(self) -> None:
        self._closed = True  # batches still queued on the thread fail instead of opening a new connection
        if self._checkpoint_timer is not None:
            self._checkpoint_timer.cancel()
        await asyncio.get_running_loop().run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=True)
