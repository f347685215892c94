"""PostgreSQL through an asyncpg pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from masterplan.store.connector import Row, Transaction
from masterplan.store.errors import StoreUnavailable
from masterplan.store.queries import Query, load_queries
from masterplan.store.url import Dialect

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10.0


class PostgresTransaction:
    dialect: Dialect = "postgres"

    def __init__(self, connection: Any, queries: dict[str, Query]) -> None:
        self._connection = connection
        self._queries = queries

    def _bind(self, name: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        query = self._queries[name]
        return query.sql, [params[param] for param in query.params]

    async def execute(self, query: str, **params: Any) -> None:
        sql, args = self._bind(query, params)
        await self._connection.execute(sql, *args)

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        sql, args = self._bind(query, params)
        record = await self._connection.fetchrow(sql, *args)
        return dict(record) if record is not None else None

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        sql, args = self._bind(query, params)
        return [dict(record) for record in await self._connection.fetch(sql, *args)]

    async def execute_script(self, script: str) -> None:
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
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
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
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresTransaction(connection, self._queries)
