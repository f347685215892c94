"""Durable state: one store interface, SQLite and PostgreSQL connectors, named SQL, migrations."""

from __future__ import annotations

from masterplan.store.answer_sizes import RECENT_ANSWERS, AnswerSample, AnswerSize, AnswerSizeKey
from masterplan.store.connector import Connector
from masterplan.store.errors import MigrationError, NotFound, StoreConfigError, StoreError, StoreUnavailable
from masterplan.store.migrate import apply_migrations
from masterplan.store.postgres import PostgresConnector
from masterplan.store.prompt_files import load_prompt_files
from masterplan.store.sqlite import SQLiteConnector
from masterplan.store.store import Store, StoreTx
from masterplan.store.url import parse_database_url

__all__ = [
    "RECENT_ANSWERS",
    "AnswerSample",
    "AnswerSize",
    "AnswerSizeKey",
    "MigrationError",
    "NotFound",
    "Store",
    "StoreConfigError",
    "StoreError",
    "StoreTx",
    "StoreUnavailable",
    "apply_migrations",
    "create_store",
    "load_prompt_files",
    "open_store",
]


def create_store(url: str) -> Store:
    """A store for ``url``, not yet open; StoreConfigError if the URL is malformed."""
    parsed = parse_database_url(url)
    connector: Connector
    if parsed.sqlite_path is not None:
        connector = SQLiteConnector(parsed.sqlite_path)
    else:
        assert parsed.postgres_dsn is not None
        connector = PostgresConnector(parsed.postgres_dsn, parsed.describe())
    return Store(connector, parsed.describe())


async def open_store(url: str, *, migrate: bool = False) -> Store:
    """Open the store at ``url``; with ``migrate`` apply migrations and load the shipped prompts."""
    store = create_store(url)
    await store.open()
    if migrate:
        try:
            await apply_migrations(store)
            await load_prompt_files(store)
        except BaseException:
            await store.close()
            raise
    return store
