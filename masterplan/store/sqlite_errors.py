"""Which SQLite errors mean "the database cannot be written now", told apart by their result code.

A file or directory made read-only, a disk that is full or failing, a file that
cannot be opened: each is a condition of the machine, not of the statement, and
each may heal (permissions restored, space freed). They become ``StoreUnavailable``;
every other SQLite error (a constraint, a syntax error) passes through unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from masterplan.store.errors import StoreUnavailable

UNAVAILABLE_CODES = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL}
)
"""Primary result codes (the low byte of an extended code) of an unwritable or unreadable database."""


def is_unavailable(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and isinstance(code, int) and code & 0xFF in UNAVAILABLE_CODES


@contextmanager
def unavailable_as_store_error(path: Path) -> Iterator[None]:
    """Re-raise an unwritable database as StoreUnavailable naming the file; nothing else is touched."""
    try:
        yield
    except sqlite3.Error as error:
        if not is_unavailable(error):
            raise
        raise StoreUnavailable(f"SQLite database {path} cannot be written: {error}") from error
