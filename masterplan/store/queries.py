"""Named SQL queries, parsed once from ``sql/<dialect>.sql``.

A file holds blocks introduced by ``-- name: query_name``; parameters are written
``:param`` in both dialects. For PostgreSQL they are compiled to ``$n`` once here,
so the connectors never build SQL at call time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from masterplan.store.url import Dialect

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    params: tuple[str, ...]
    """Parameter names in the order the dialect binds them."""


def parse_queries(text: str, dialect: Dialect) -> dict[str, Query]:
    pieces = _NAME_LINE.split(text)
    queries: dict[str, Query] = {}
    for name, body in zip(pieces[1::2], pieces[2::2], strict=True):
        sql = body.strip().rstrip(";")
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = _compile(name, sql, dialect)
    return queries


def _compile(name: str, sql: str, dialect: Dialect) -> Query:
    if dialect == "sqlite":
        return Query(name, sql, tuple(dict.fromkeys(_PARAM.findall(sql))))
    order: list[str] = []

    def positional(match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in order:
            order.append(param)
        return f"${order.index(param) + 1}"

    return Query(name, _PARAM.sub(positional, sql), tuple(order))


@cache
def load_queries(dialect: Dialect) -> dict[str, Query]:
    text = resources.files("masterplan.store").joinpath("sql", f"{dialect}.sql").read_text(encoding="utf-8")
    return parse_queries(text, dialect)
