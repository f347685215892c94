"""PostgreSQL through an asyncpg pool.

A server that cannot be reached (refused, reset, shut down, restarting, out of
connection slots) surfaces as ``StoreUnavailable``, whatever step it interrupts:
connecting, a statement, the commit. Everything else asyncpg raises (a
constraint violated, a query cancelled) passes through unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, suppress
from typing import Any, TypeVar

import asyncpg

from masterplan.store.connector import Row, Transaction
from masterplan.store.errors import StoreUnavailable
from masterplan.store.queries import Query, load_queries
from masterplan.store.url import Dialect

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10.0

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, no route: the socket never reached a server
    TimeoutError,  # connecting took longer than CONNECT_TIMEOUT_S
    asyncpg.PostgresConnectionError,  # class 08, and the connection lost in the middle of an operation
    asyncpg.CannotConnectNowError,  # 57P03: the server is starting or recovering
    asyncpg.AdminShutdownError,  # 57P01: the server is shutting down
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300: no slot now, perhaps one in a moment
)
"""What asyncpg raises when the server is out of reach; each becomes StoreUnavailable."""


def is_closed(connection: Any) -> bool:
    """Whether a pooled connection is gone; the pool takes back the proxy of a lost connection at once."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:  # "connection has been released back to the pool": it was lost
        return True


def is_unreachable(error: BaseException, connection: Any = None) -> bool:
    """Whether ``error`` says the server is out of reach (an InterfaceError counts once its connection closed)."""
    if isinstance(error, UNREACHABLE):
        return True
    return isinstance(error, asyncpg.InterfaceError) and connection is not None and is_closed(connection)


@contextmanager
def unreachable_as_unavailable(description: str, connection: Any = None) -> Iterator[None]:
    """Re-raise the server being out of reach as StoreUnavailable naming the server; nothing else is touched."""
    try:
        yield
    except Exception as error:
        if not is_unreachable(error, connection):
            raise
        reason = str(error) or type(error).__name__
        raise StoreUnavailable(f"PostgreSQL at {description} is unreachable: {reason}") from error


async def to_the_end(operation: Awaitable[T]) -> T:
    """Await a transaction boundary (BEGIN, COMMIT, ROLLBACK) to its end even if the caller is cancelled meanwhile.

    A boundary cut short leaves asyncpg's connection half inside a
    transaction: the pool then rolls it back on release, but logs "Resetting
    connection with an active transaction" as an error. A cancelled caller
    (a WebSocket whose client left) waits for the boundary, then is cancelled.
    """
    step = asyncio.ensure_future(operation)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(step)
        except asyncio.CancelledError:
            if step.done():  # the operation itself was cancelled, not its caller
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result


class PostgresTransaction:
    dialect: Dialect = "postgres"

    def __init__(self, connection: Any, queries: dict[str, Query], description: str) -> None:
        self._connection = connection
        self._queries = queries
        self._description = description

    def _bind(self, name: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        query = self._queries[name]
        return query.sql, [params[param] for param in query.params]

    def _reachable(self) -> AbstractContextManager[None]:
        return unreachable_as_unavailable(self._description, self._connection)

    async def execute(self, query: str, **params: Any) -> None:
        sql, args = self._bind(query, params)
        with self._reachable():
            await self._connection.execute(sql, *args)

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        sql, args = self._bind(query, params)
        with self._reachable():
            record = await self._connection.fetchrow(sql, *args)
        return dict(record) if record is not None else None

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        sql, args = self._bind(query, params)
        with self._reachable():
            return [dict(record) for record in await self._connection.fetch(sql, *args)]

    async def execute_script(self, script: str) -> None:
        with self._reachable():
            await self._connection.execute(script)


class PostgresConnector:
    dialect: Dialect = "postgres"

    def __init__(self, dsn: str, description: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._dsn = dsn
        self._description = description
        self._min_size = min_size
        self._max_size = max_size
        self._pool: Any = None
        self._queries = load_queries("postgres")

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_size, max_size=self._max_size, timeout=CONNECT_TIMEOUT_S
            )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:  # bad DSN too
            reason = str(error) or type(error).__name__
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {self._description}: {reason}") from None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def run_batch(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        async with self.transaction() as tx:
            return await work(tx)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        if self._pool is None:
            raise StoreUnavailable(f"PostgreSQL at {self._description} is not open")
        with unreachable_as_unavailable(self._description):
            connection = await self._pool.acquire(timeout=CONNECT_TIMEOUT_S)
        try:
            transaction = connection.transaction()
            try:
                with unreachable_as_unavailable(self._description, connection):
                    await to_the_end(transaction.start())
                yield PostgresTransaction(connection, self._queries, self._description)
            except BaseException:
                # a lost connection has nothing left to roll back; a cancelled BEGIN still began
                if not is_closed(connection) and connection.is_in_transaction():
                    with suppress(*UNREACHABLE):
                        await to_the_end(transaction.rollback())
                raise
            with unreachable_as_unavailable(self._description, connection):
                await to_the_end(transaction.commit())
        finally:
            await self._pool.release(connection)
