"""Numbered SQL migrations per dialect, applied in order, once, under a lock.

Files are ``masterplan/migrations/<dialect>/NNNN_name.sql``. All pending files are
applied in one transaction that first takes a lock (a PostgreSQL advisory lock;
SQLite's ``BEGIN IMMEDIATE``), so two processes migrating at once apply each file
exactly once and a failed file leaves the database as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from masterplan.models import utcnow
from masterplan.store.errors import MigrationError
from masterplan.store.store import Store
from masterplan.store.url import Dialect

MIGRATION_LOCK_KEY = 0x6D61_7374  # "mast"
_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@cache
def load_migrations(dialect: Dialect) -> tuple[Migration, ...]:
    folder = resources.files("masterplan").joinpath("migrations", dialect)
    migrations: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        migrations.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda migration: migration.version)
    expected = list(range(1, len(migrations) + 1))
    if [migration.version for migration in migrations] != expected:
        raise MigrationError(f"{dialect} migrations must be numbered 1..{len(migrations)} without gaps")
    return tuple(migrations)


async def apply_migrations(store: Store) -> list[Migration]:
    """Apply every pending migration; return the ones this call applied."""
    migrations = load_migrations(store.connector.dialect)
    async with store.transaction() as tx:
        await tx.lock(MIGRATION_LOCK_KEY)
        await tx.raw.execute("create_schema_migrations")
        applied = {row["version"] for row in await tx.raw.fetch_all("applied_migrations")}
        pending = [migration for migration in migrations if migration.version not in applied]
        for migration in pending:
            try:
                await tx.raw.execute_script(migration.sql)
            except Exception as error:  # any driver error: name the file, keep the cause
                raise MigrationError(f"migration {migration.label} failed: {error}") from error
            await tx.raw.execute(
                "record_migration", version=migration.version, name=migration.name, applied_at=utcnow()
            )
    return pending


async def pending_migrations(store: Store) -> list[Migration]:
    """Migrations not yet applied (for readiness checks); all of them on an empty database."""
    migrations = load_migrations(store.connector.dialect)
    async with store.transaction() as tx:
        await tx.raw.execute("create_schema_migrations")
        applied = {row["version"] for row in await tx.raw.fetch_all("applied_migrations")}
    return [migration for migration in migrations if migration.version not in applied]
