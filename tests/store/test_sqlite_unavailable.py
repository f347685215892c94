"""SQLite errors that mean "the database cannot be written now" are StoreUnavailable; the others are left alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from masterplan.store import StoreUnavailable
from masterplan.store.sqlite_errors import is_unavailable, unavailable_as_store_error


def database(tmp_path: Path) -> Path:
    path = tmp_path / "masterplan.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        connection.execute("INSERT INTO t VALUES (1)")
    connection.close()
    return path


def raised(connection: sqlite3.Connection, statement: str) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        connection.execute(statement)
    return caught.value


def test_a_write_to_a_read_only_database_is_store_unavailable_naming_the_file(tmp_path: Path) -> None:
    path = database(tmp_path)
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with (
            pytest.raises(StoreUnavailable, match=rf"SQLite database {path} cannot be written: .*readonly"),
            unavailable_as_store_error(path),
        ):
            read_only.execute("INSERT INTO t VALUES (2)")
    finally:
        read_only.close()


def test_a_database_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError) as caught:
        sqlite3.connect(f"file:{tmp_path / 'no-such-dir' / 'x.db'}?mode=rw", uri=True)
    assert is_unavailable(caught.value)


def test_errors_of_the_statement_itself_are_not_unavailability(tmp_path: Path) -> None:
    connection = sqlite3.connect(database(tmp_path))
    try:
        duplicate = raised(connection, "INSERT INTO t VALUES (1)")
        unknown = raised(connection, "SELECT * FROM no_such_table")
    finally:
        connection.close()
    assert not is_unavailable(duplicate)
    assert not is_unavailable(unknown)
    with pytest.raises(sqlite3.IntegrityError), unavailable_as_store_error(Path("x.db")):
        raise duplicate
