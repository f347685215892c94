"""SQLite through aiosqlite: the embedded default (WAL, foreign keys on).

One connection, one transaction at a time (an asyncio lock), each begun with
``BEGIN IMMEDIATE`` so that another process writing the same file waits
(``busy_timeout``) instead of failing halfway through.

``run_batch`` goes by a second connection on a writer thread of its own: the
whole batch runs there in one go, where through aiosqlite each statement would
be a round trip between the event loop and aiosqlite's thread. WAL lets the
first connection read meanwhile; the two take turns writing like two processes.

A database that cannot be written (read-only, disk full or failing) surfaces as
``StoreUnavailable`` (``sqlite_errors``), and the connection that met it is
opened again before its next use: one opened on a read-only file stays
read-only even after the file's mode is restored.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from masterplan.store.connector import Row, Transaction
from masterplan.store.errors import StoreUnavailable
from masterplan.store.queries import Query, load_queries
from masterplan.store.sqlite_batch import BatchWriter
from masterplan.store.sqlite_errors import unavailable_as_store_error
from masterplan.store.sqlite_params import bind
from masterplan.store.url import Dialect

BUSY_TIMEOUT_MS = 30_000
IN_MEMORY = ":memory:"
PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)
T = TypeVar("T")


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (triggers keep their inner ``;``)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip() and not current.strip().startswith("--"):
        statements.append(current.strip())
    return statements


class SQLiteTransaction:
    dialect: Dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection, queries: dict[str, Query], path: Path) -> None:
        self._connection = connection
        self._queries = queries
        self._path = path

    def _bind(self, name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return bind(self._queries, name, params)

    # execute_fetchall runs a statement and reads its rows in one trip to aiosqlite's thread (a cursor takes three).

    async def execute(self, query: str, **params: Any) -> None:
        sql, bound = self._bind(query, params)
        with unavailable_as_store_error(self._path):
            await self._connection.execute_fetchall(sql, bound)

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        sql, bound = self._bind(query, params)
        with unavailable_as_store_error(self._path):
            rows = await self._connection.execute_fetchall(sql, bound)
        return dict(next(iter(rows))) if rows else None

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        sql, bound = self._bind(query, params)
        with unavailable_as_store_error(self._path):
            return [dict(row) for row in await self._connection.execute_fetchall(sql, bound)]

    async def execute_script(self, script: str) -> None:
        with unavailable_as_store_error(self._path):
            for statement in split_statements(script):
                await self._connection.execute(statement)


class SQLiteConnector:
    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._queries = load_queries("sqlite")
        self._writer: BatchWriter | None = None
        self._stale = False  # the connection met an unwritable database: open it again before its next use
        self._unfinished = False  # a transaction began and was never seen to end (its caller was cancelled)

    async def open(self) -> None:
        self._connection = await self._connect()
        self._stale = False

    async def _connect(self) -> aiosqlite.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {error}") from None
        connection.row_factory = sqlite3.Row
        try:
            for pragma in PRAGMAS:
                await connection.execute(pragma)
        except sqlite3.Error as error:
            await connection.close()
            raise StoreUnavailable(f"cannot use SQLite database {self.path}: {error}") from None
        return connection

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def run_batch(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        if self._connection is None:
            raise StoreUnavailable(f"SQLite database {self.path} is not open")
        if str(self.path) == IN_MEMORY:  # a second connection would open another, empty database
            async with self.transaction() as tx:
                return await work(tx)
        if self._writer is None:
            self._writer = BatchWriter(self.path, PRAGMAS, self._queries)
        return await self._writer.run(work)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteTransaction]:
        if self._connection is None:
            raise StoreUnavailable(f"SQLite database {self.path} is not open")
        async with self._lock:
            if self._stale:
                await self._reopen()
            connection = self._connection
            try:
                if self._unfinished:
                    await self._end_unfinished(connection)
                self._unfinished = True
                with unavailable_as_store_error(self.path):
                    await connection.execute("BEGIN IMMEDIATE")
                try:
                    yield SQLiteTransaction(connection, self._queries, self.path)
                except BaseException:
                    if connection.in_transaction:
                        with suppress(sqlite3.Error):  # the block's own error is the one to report
                            await connection.rollback()
                    raise
                with unavailable_as_store_error(self.path):
                    await connection.commit()
                self._unfinished = False
            except StoreUnavailable:
                self._stale = str(self.path) != IN_MEMORY  # reopening would start an empty in-memory database
                raise

    async def _end_unfinished(self, connection: aiosqlite.Connection) -> None:
        """Roll back what a cancelled transaction left: its BEGIN, statements or COMMIT may still have run.

        aiosqlite runs each statement in its thread even when the coroutine that
        sent it was cancelled, so the connection can be inside a transaction no
        one will end. Statements run in the order sent, so this ROLLBACK comes
        after all of them; if they ended in a COMMIT, there is nothing to undo.
        """
        # "no transaction is active": the cancelled one had ended
        with suppress(sqlite3.OperationalError), unavailable_as_store_error(self.path):
            await connection.execute("ROLLBACK")
        self._unfinished = False

    async def _reopen(self) -> None:
        """A fresh connection in place of one that met an unwritable database (it sees restored permissions)."""
        fresh = await self._connect()
        if self._connection is not None:
            with suppress(sqlite3.Error):  # closing a connection to a failing disk may fail too; it is dropped
                await self._connection.close()
        self._connection = fresh
        self._stale = False
        self._unfinished = False
