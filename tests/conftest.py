"""Shared fixtures: real SQLite files and real PostgreSQL databases.

PostgreSQL databases are copied from a template that is migrated once per test
session (``CREATE DATABASE ... TEMPLATE``), so each test gets a fresh, migrated
database in a few milliseconds. The server is the one in
``MASTERPLAN_TEST_POSTGRES_DSN`` (default: the local trust-auth cluster).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings

from masterplan.models import Run, RunOptions
from masterplan.store import Store, open_store

DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/test"

# Property tests: the same examples on every run by default, so a red CI names a change, not luck;
# `pytest --hypothesis-profile=explore` searches further with a random seed.
hypothesis_settings.register_profile("ci", max_examples=25, derandomize=True, database=None)
hypothesis_settings.register_profile("explore", max_examples=400)
hypothesis_settings.load_profile("ci")


def admin_dsn() -> str:
    return os.environ.get("MASTERPLAN_TEST_POSTGRES_DSN", DEFAULT_TEST_DSN)


def dsn_for(database: str) -> str:
    parts = urlsplit(admin_dsn())
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(admin_dsn())
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class PostgresDatabases:
    """Creates and drops throw-away databases on the test server."""

    def __init__(self) -> None:
        self.prefix = f"mp_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template: str | None = None
        self.created: list[str] = []

    async def create(self, *, migrated: bool) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        template = f" TEMPLATE {self.template}" if migrated and self.template else ""
        await _admin(f"CREATE DATABASE {name}{template}")
        self.created.append(name)
        return dsn_for(name)

    async def build_template(self) -> None:
        name = f"{self.prefix}_template"
        await _admin(f"CREATE DATABASE {name}")
        store = await open_store(dsn_for(name), migrate=True)
        await store.close()
        self.template = name

    async def drop_all(self) -> None:
        for name in [*self.created, *([self.template] if self.template else [])]:
            await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    asyncio.run(databases.build_template())
    yield databases
    asyncio.run(databases.drop_all())


@pytest.fixture
async def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """A fresh, migrated PostgreSQL database."""
    return await postgres_databases.create(migrated=True)


@pytest.fixture
async def empty_postgres_url(postgres_databases: PostgresDatabases) -> str:
    """A fresh PostgreSQL database with no schema at all."""
    return await postgres_databases.create(migrated=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'masterplan.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database of each dialect (the contract suites run on both)."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    postgres: str = request.getfixturevalue("postgres_url")
    return postgres


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url, migrate=True)
    yield opened
    await opened.close()


NewRun = Callable[[Store], Awaitable[Run]]


@pytest.fixture
def new_run() -> NewRun:
    """Inserts a fresh run (a unique id, default options, a $2 budget) into a store and returns it."""

    async def insert(store: Store) -> Run:
        run = Run(
            id=f"run-{uuid.uuid4().hex[:12]}",
            request="A task-tracking API",
            options=RunOptions(),
            budget_usd=Decimal(2),
            workspace="/tmp/ws",
        )
        async with store.transaction() as tx:
            await tx.insert_run(run)
        return run

    return insert
