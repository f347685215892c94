"""Database URLs: ``sqlite:///abs/path``, ``sqlite://./relative/path`` or ``postgresql://...``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from masterplan.store.errors import StoreConfigError

Dialect = Literal["sqlite", "postgres"]
_POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class DatabaseURL:
    dialect: Dialect
    sqlite_path: Path | None = None
    postgres_dsn: str | None = None

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        if self.sqlite_path is not None:
            return f"sqlite:{self.sqlite_path}"
        parts = urlsplit(self.postgres_dsn or "")
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        return f"postgresql://{parts.username or ''}@{host}:{port}{parts.path}"


def parse_database_url(url: str) -> DatabaseURL:
    """Parse and check a database URL; raise StoreConfigError naming what is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StoreConfigError(
            f"malformed database URL {url!r}: expected sqlite:///path/to/file.db or postgresql://user@host:port/db"
        )
    if scheme == "sqlite":
        if not rest or rest.endswith("/"):
            raise StoreConfigError(f"malformed database URL {url!r}: no SQLite file path after 'sqlite://'")
        return DatabaseURL("sqlite", sqlite_path=Path(rest))
    if scheme in _POSTGRES_SCHEMES:
        return DatabaseURL("postgres", postgres_dsn=_checked_postgres_dsn(url))
    raise StoreConfigError(
        f"unsupported database URL scheme {scheme!r} in database URL: use sqlite:// or postgresql://"
    )


def _checked_postgres_dsn(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise StoreConfigError(f"malformed PostgreSQL URL: {error}") from None
    if not parts.hostname and "host=" not in parts.query:
        raise StoreConfigError("malformed PostgreSQL URL: no host (postgresql://user@host:port/db)")
    if port == 0:
        raise StoreConfigError("malformed PostgreSQL URL: port 0")
    if not parts.path.strip("/"):
        raise StoreConfigError("malformed PostgreSQL URL: no database name (postgresql://user@host:port/DBNAME)")
    return url
