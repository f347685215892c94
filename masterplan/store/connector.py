"""The narrow interface every database implementation offers.

A connector opens and closes a database and hands out transactions; a
transaction runs named queries (``sql/<dialect>.sql``) and raw migration
scripts. Everything above this line (``Store``, migrations) is written once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from masterplan.store.url import Dialect

Row = Mapping[str, Any]
T = TypeVar("T")


class Transaction(Protocol):
    dialect: Dialect

    async def execute(self, query: str, **params: Any) -> None: ...

    async def fetch_one(self, query: str, **params: Any) -> Row | None: ...

    async def fetch_all(self, query: str, **params: Any) -> list[Row]: ...

    async def execute_script(self, script: str) -> None:
        """Run a multi-statement script (migrations) inside this transaction."""
        ...


class Connector(Protocol):
    dialect: Dialect

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One transaction: committed when the block exits normally, rolled back otherwise."""
        ...

    async def run_batch(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """``work`` in one transaction, in as few round trips as the database allows.

        ``work`` may await nothing but the transaction's own methods: SQLite runs it whole on
        its writer thread, where those methods complete without suspending.
        """
        ...
