"""Migrations build the schema the code expects, once, even when run twice or concurrently."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from masterplan.store import Store, apply_migrations, create_store, load_prompt_files
from masterplan.store.migrate import load_migrations

EXPECTED_TABLES = {
    "runs",
    "tasks",
    "artifacts",
    "llm_calls",
    "events",
    "role_prompts",
    "phase_configs",
    "learnings",
    "answer_sizes",
    "schema_migrations",
}
EXPECTED_INDEXES = {
    "runs_status_idx",
    "runs_created_at_idx",
    "tasks_run_status_idx",
    "llm_calls_run_idx",
    "learnings_run_idx",
    "answer_sizes_key_idx",
}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


async def schema_objects(store: Store) -> dict[str, set[str]]:
    async with store.transaction() as tx:
        rows = await tx.raw.fetch_all("schema_objects")
    objects: dict[str, set[str]] = {"table": set(), "index": set()}
    for row in rows:
        objects[row["kind"]].add(row["name"])
    return objects


async def test_migrations_build_the_tables_and_indexes_the_code_uses(empty_database_url: str) -> None:
    store = create_store(empty_database_url)
    await store.open()
    try:
        applied = await apply_migrations(store)
        objects = await schema_objects(store)
    finally:
        await store.close()
    assert [migration.label for migration in applied] == [m.label for m in load_migrations(store.connector.dialect)]
    assert objects["table"] >= EXPECTED_TABLES
    assert objects["index"] >= EXPECTED_INDEXES


async def test_second_migration_run_applies_nothing(empty_database_url: str) -> None:
    store = create_store(empty_database_url)
    await store.open()
    try:
        first = await apply_migrations(store)
        second = await apply_migrations(store)
        prompts_first = await load_prompt_files(store)
        prompts_second = await load_prompt_files(store)
    finally:
        await store.close()
    assert first
    assert second == []
    assert all(item.created for item in prompts_first)
    assert not any(item.created for item in prompts_second)


async def test_concurrent_migrations_apply_each_file_once(empty_database_url: str) -> None:
    stores = [create_store(empty_database_url) for _ in range(4)]
    for store in stores:
        await store.open()
    try:
        results = await asyncio.gather(*(apply_migrations(store) for store in stores))
        loads = await asyncio.gather(*(load_prompt_files(store) for store in stores))
        async with stores[0].transaction() as tx:
            recorded = await tx.raw.fetch_all("applied_migrations")
            versions = await tx.list_prompt_versions("developer")
    finally:
        for store in stores:
            await store.close()
    migration_count = len(load_migrations(stores[0].connector.dialect))
    assert sum(len(applied) for applied in results) == migration_count
    assert len(recorded) == migration_count
    assert sum(item.created for loaded in loads for item in loaded if item.name == "developer") == 1
    assert [prompt.version for prompt in versions] == [1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "masterplan.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_migrate_command_prints_what_it_applied_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'x.db'}"
    first = run_cli("migrate", "--db", url)
    second = run_cli("migrate", "--db", url)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    assert "prompt developer v1 (new version)" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "schema up to date" in second.stdout
    assert "prompt developer v1 (unchanged)" in second.stdout


def test_two_migrate_processes_at_once_on_postgres(empty_postgres_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "masterplan.cli", "migrate", "--db", empty_postgres_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("applied 0001_initial") == 1
    assert stdout.count("schema up to date") == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://postgres@127.0.0.1:1/nowhere",
            "cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1",
        ),
        ("mysql://root@localhost/db", "unsupported database URL scheme 'mysql'"),
        ("postgresql://localhost:notaport/db", "malformed PostgreSQL URL"),
        ("postgresql://localhost:5432", "no database name"),
        ("not a url", "malformed database URL 'not a url'"),
        ("sqlite://", "no SQLite file path"),
    ],
)
def test_bad_database_url_exits_non_zero_with_one_line(url: str, message: str) -> None:
    result = run_cli("migrate", "--db", url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_password_in_an_unreachable_url_is_not_printed() -> None:
    result = run_cli("migrate", "--db", "postgresql://postgres:hunter2@127.0.0.1:1/db")
    assert result.returncode != 0
    assert "hunter2" not in result.stderr
