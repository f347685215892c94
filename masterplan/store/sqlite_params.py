"""A named query's SQL and its parameters as sqlite3 takes them (shared by both SQLite connections)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from masterplan.store.queries import Query


def _bindable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def bind(queries: dict[str, Query], name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    query = queries[name]
    return query.sql, {param: _bindable(params[param]) for param in query.params}
