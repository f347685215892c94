"""The filters of an entity's queries: one or two per attribute, each with a test case over samples 1-3."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from masterplan.sim.scripted.codegen.values import check_function
from masterplan.sim.scripted.entities import Attr, EntityInfo


@dataclass(frozen=True)
class Filter:
    """One query parameter: the field it tests, how, its type, and a test case over samples 1-3."""

    param: str
    field: str
    op: str
    kind: str
    value: str
    """A Python literal of a case, with ``text`` its URL form, selecting the samples ``expected``."""
    text: str
    expected: tuple[int, ...]


def _number_filters(name: str, kind: str) -> list[Filter]:
    low, high = ("4", "5") if kind == "int" else ("13.5", "14.5")
    return [
        Filter(f"min_{name}", name, "min", "float", high, high, (2, 3)),
        Filter(f"max_{name}", name, "max", "float", low, low, (1,)),
    ]


def _moment_filters(name: str, kind: str) -> list[Filter]:
    return [
        Filter(f"{name}_from", name, "min", "datetime", "datetime(2024, 1, 13)", "2024-01-13", (3,)),
        Filter(f"{name}_until", name, "max", "datetime", "datetime(2024, 1, 12)", "2024-01-12", (1,)),
    ]


_BY_TYPE: dict[str, Callable[[str, str], list[Filter]]] = {
    "int": _number_filters,
    "float": _number_filters,
    "bool": lambda name, kind: [Filter(name, name, "eq", "bool", "False", "false", (2,))],
    "datetime": _moment_filters,
    "list[str]": lambda name, kind: [Filter(f"{name}_item", name, "has", "str", '"alpha3"', "alpha3", (3,))],
}


def _attr_filters(attr: Attr) -> list[Filter]:
    """The filters of one attribute; plain text has none (the free-text search covers it)."""
    if attr.ref is not None:
        return [Filter(attr.name, attr.name, "eq", "str", f'"{attr.ref}-2"', f"{attr.ref}-2", (2,))]
    if check_function(attr) == "require_status":
        return [Filter(attr.name, attr.name, "eq", "str", '"blocked"', "blocked", (2,))]
    build = _BY_TYPE.get(attr.type)
    return build(attr.name, attr.type) if build is not None else []


def ranges(filters: list[Filter]) -> list[tuple[Filter, Filter]]:
    """The (min, max) pairs of filters on the same field."""
    return [
        (low, high)
        for low, high in itertools.pairwise(filters)
        if low.field == high.field and (low.op, high.op) == ("min", "max")
    ]


def entity_filters(entity: EntityInfo) -> list[Filter]:
    return [f for attr in entity.attrs for f in _attr_filters(attr)]
