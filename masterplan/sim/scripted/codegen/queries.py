"""The entity queries of a generated project: filters per attribute, URL parameters, sorting, pages, facets."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.queries_tests import queries_tests
from masterplan.sim.scripted.codegen.query_filters import entity_filters, ranges
from masterplan.sim.scripted.codegen.values import plural, render, texts
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words

_ANNOTATIONS = {"str": "str | None", "float": "float | None", "bool": "bool | None", "datetime": "datetime | None"}

_QUERIES = '''
"""Searching ${words_plural}: free text, one filter per attribute, sorting, pages and facets.

A query is a frozen dataclass: build one in code (``${Entity}Query(text="x", limit=5)``) or
from the string parameters of a URL with ``${Entity}Query.from_params``, which names every
bad parameter at once. ``to_params`` is its inverse, so a page can link to the next one.
Filters left at None do not filter; ranges include both ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from $package.core.ids import id_sort_key
from $package.models.$entity import $Entity
from $package.repositories.${entity}_repository import ${Entity}Repository

TEXT_FIELDS = $text_fields
SORTABLE_FIELDS = $sortable
MAX_LIMIT = 100
FILTERS: dict[str, tuple[str, str]] = {
$filters
}
"""Each filter parameter: the field it tests and how (eq, min, max, or has for list items)."""
PARAM_TYPES: dict[str, str] = {
    "text": "str", "sort_by": "str", "descending": "bool", "offset": "int", "limit": "int", "ids": "list",
$param_types
}
"""How ``from_params`` reads each URL parameter."""
RANGES = $ranges
"""Pairs of filters whose low end must not be above their high end."""


@dataclass(frozen=True)
class ${Entity}Query:
    text: str = ""
    sort_by: str = "name"
    descending: bool = False
    offset: int = 0
    limit: int = 20
    ids: tuple[str, ...] = ()
$filter_fields

    def __post_init__(self) -> None:
        if self.sort_by not in SORTABLE_FIELDS:
            raise ValueError(f"sort_by must be one of {SORTABLE_FIELDS}, got {self.sort_by!r}")
        if self.offset < 0:
            raise ValueError("offset must not be negative")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        for low_name, high_name in RANGES:
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low is not None and high is not None and low > high:
                raise ValueError(f"{low_name} is above {high_name}")

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ${Entity}Query:
        """A query from URL parameters (all strings); a ValueError names every unknown or bad one."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for key, raw in params.items():
            if key not in PARAM_TYPES:
                problems.append(f"unknown parameter {key}")
                continue
            try:
                values[key] = _parse(PARAM_TYPES[key], raw)
            except ValueError as error:
                problems.append(f"{key} {error}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**values)

    def to_params(self) -> dict[str, str]:
        """The URL parameters of this query, defaults left out; ``from_params`` reads them back."""
        params: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value != item.default:
                params[item.name] = _format(value)
        return params

    def next_page(self) -> ${Entity}Query:
        return replace(self, offset=self.offset + self.limit)


def _parse(kind: str, raw: str) -> Any:
    if kind == "bool":
        if raw not in ("true", "false"):
            raise ValueError(f"must be true or false, got {raw!r}")
        return raw == "true"
    if kind == "int":
        if not raw.isdigit():
            raise ValueError(f"must be a whole number >= 0, got {raw!r}")
        return int(raw)
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
    if kind == "datetime":
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"must be an ISO 8601 date or datetime, got {raw!r}") from None
    if kind == "list":
        return tuple(part for part in raw.split(",") if part)
    return raw


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


@dataclass(frozen=True)
class ${Entity}Page:
    items: list[$Entity]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total

    @property
    def page_number(self) -> int:
        """1 for the first page."""
        return self.offset // self.limit + 1

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.limit))

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [item.to_dict() for item in self.items],
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "has_more": self.has_more,
        }


def matches(item: $Entity, text: str) -> bool:
    """Whether any text field contains ``text`` (ignoring case)."""
    wanted = text.strip().casefold()
    return not wanted or any(wanted in str(getattr(item, name)).casefold() for name in TEXT_FIELDS)


def _passes(value: Any, op: str, wanted: Any) -> bool:
    if op == "min":
        return bool(value >= wanted)
    if op == "max":
        return bool(value <= wanted)
    if op == "has":
        return wanted in value
    return bool(value == wanted)


def passes_filters(item: $Entity, query: ${Entity}Query) -> bool:
    """Whether ``item`` satisfies every filter set on ``query`` (unset filters pass)."""
    if query.ids and item.id not in query.ids:
        return False
    for param, (field_name, op) in FILTERS.items():
        wanted = getattr(query, param)
        if wanted is not None and not _passes(getattr(item, field_name), op, wanted):
            return False
    return True


def _matching(repository: ${Entity}Repository, query: ${Entity}Query) -> list[$Entity]:
    found = [item for item in repository.list() if matches(item, query.text) and passes_filters(item, query)]
    if query.sort_by == "id":
        found.sort(key=lambda item: id_sort_key(item.id), reverse=query.descending)
    else:
        found.sort(key=lambda item: getattr(item, query.sort_by), reverse=query.descending)
    return found


def search_$plural(repository: ${Entity}Repository, query: ${Entity}Query | None = None) -> ${Entity}Page:
    query = query or ${Entity}Query()
    found = _matching(repository, query)
    window = found[query.offset : query.offset + query.limit]
    return ${Entity}Page(items=window, total=len(found), offset=query.offset, limit=query.limit)


def count_$plural(repository: ${Entity}Repository, query: ${Entity}Query | None = None) -> int:
    """How many ${words_plural} match, whatever the page."""
    return len(_matching(repository, query or ${Entity}Query()))


def iterate_$plural(repository: ${Entity}Repository, query: ${Entity}Query | None = None) -> Iterator[$Entity]:
    """Every matching $words, page after page (for exports that must not hold one huge page)."""
    query = query or ${Entity}Query()
    while True:
        page = search_$plural(repository, query)
        yield from page.items
        if not page.has_more:
            return
        query = query.next_page()


def facets(repository: ${Entity}Repository, field_name: str, query: ${Entity}Query | None = None) -> dict[Any, int]:
    """How many matching ${words_plural} have each value of a field, most common first."""
    if field_name not in SORTABLE_FIELDS:
        raise ValueError(f"cannot count by {field_name!r}; choose one of {SORTABLE_FIELDS}")
    counts = Counter(getattr(item, field_name) for item in _matching(repository, query or ${Entity}Query()))
    return dict(counts.most_common())
'''


def queries_source(package: str, entity: EntityInfo) -> str:
    filters = entity_filters(entity)
    return render(
        _QUERIES, package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake), text_fields=repr(tuple(a.name for a in texts(entity))),
        sortable=repr(("id", *[a.name for a in entity.attrs if a.type != "list[str]"])),
        filters="\n".join(f'    "{f.param}": ("{f.field}", "{f.op}"),' for f in filters),
        param_types="\n".join(f'    "{f.param}": "{f.kind}",' for f in filters),
        filter_fields="\n".join(f"    {f.param}: {_ANNOTATIONS[f.kind]} = None" for f in filters),
        ranges=repr(tuple((low.param, high.param) for low, high in ranges(filters))),
    )  # fmt: skip


def queries_files(package: str, entity: EntityInfo) -> dict[str, str]:
    return {
        f"{package}/queries/{entity.snake}_queries.py": queries_source(package, entity),
        f"tests/test_{entity.snake}_queries.py": queries_tests(package, entity, entity_filters(entity)),
    }
