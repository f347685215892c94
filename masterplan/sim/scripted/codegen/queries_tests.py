"""The tests of an entity's queries: filters in code and from URL parameters, sorting, pages, facets."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.query_filters import Filter, ranges
from masterplan.sim.scripted.codegen.values import make_function, plural, render
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words

_TESTS = '''
"""Searching ${words_plural}."""

from datetime import datetime

import pytest

from $package.core.ids import id_sort_key
from $package.models.$entity import $Entity
from $package.queries.${entity}_queries import (
    ${Entity}Query,
    count_$plural,
    facets,
    iterate_$plural,
    search_$plural,
)
from $package.repositories.${entity}_repository import ${Entity}Repository


$make


@pytest.fixture
def repository() -> ${Entity}Repository:
    return ${Entity}Repository([make(1), make(2), make(3)])


def names(items: list[$Entity]) -> list[str]:
    return [item.name for item in items]


def test_an_empty_query_returns_everything_sorted_by_name(repository: ${Entity}Repository) -> None:
    page = search_$plural(repository)
    assert names(page.items) == ["$Entity name 1", "$Entity name 2", "$Entity name 3"]
    assert page.total == 3
    assert not page.has_more
    assert (page.page_number, page.page_count) == (1, 1)


def test_text_matches_any_text_field_ignoring_case(repository: ${Entity}Repository) -> None:
    page = search_$plural(repository, ${Entity}Query(text="${upper_name} 2"))
    assert names(page.items) == ["$Entity name 2"]
    assert search_$plural(repository, ${Entity}Query(text="nothing like this")).total == 0


def test_descending_sort_and_pages(repository: ${Entity}Repository) -> None:
    page = search_$plural(repository, ${Entity}Query(descending=True, limit=2))
    assert names(page.items) == ["$Entity name 3", "$Entity name 2"]
    assert page.has_more
    assert (page.page_number, page.page_count) == (1, 2)
    last = search_$plural(repository, ${Entity}Query(descending=True, limit=2, offset=2))
    assert names(last.items) == ["$Entity name 1"]
    assert not last.has_more
    assert last.page_number == 2


def test_every_sortable_field_sorts_both_ways(repository: ${Entity}Repository) -> None:
    for field_name in $sortable:
        key = id_sort_key if field_name == "id" else None
        for descending in (False, True):
            query = ${Entity}Query(sort_by=field_name, descending=descending)
            values = [getattr(item, field_name) for item in search_$plural(repository, query).items]
            assert values == sorted(values, key=key, reverse=descending), (field_name, descending)


def test_ids_select_exactly_those_${plural}(repository: ${Entity}Repository) -> None:
    wanted = (repository.list()[2].id, repository.list()[0].id)
    assert names(search_$plural(repository, ${Entity}Query(ids=wanted)).items) == ["$Entity name 1", "$Entity name 3"]
    assert search_$plural(repository, ${Entity}Query(ids=("$entity-missing",))).total == 0


FILTER_CASES = [
$filter_cases
]
"""For each filter: a value in code, the same value as a URL parameter, and the names it selects."""


@pytest.mark.parametrize(("param", "value", "text", "expected"), FILTER_CASES)
def test_each_filter_narrows_the_results_in_code_and_from_a_url(
    repository: ${Entity}Repository, param: str, value: object, text: str, expected: list[str]
) -> None:
    assert names(search_$plural(repository, ${Entity}Query(**{param: value})).items) == expected
    assert names(search_$plural(repository, ${Entity}Query.from_params({param: text})).items) == expected


def test_from_params_names_every_bad_parameter() -> None:
    with pytest.raises(ValueError) as info:
        ${Entity}Query.from_params({"limit": "many", "descending": "maybe", "colour": "red"$bad_filter_param})
    message = str(info.value)
    assert "limit must be a whole number >= 0, got 'many'" in message
    assert "descending must be true or false, got 'maybe'" in message
    assert "unknown parameter colour" in message$bad_filter_check


def test_to_params_leaves_out_defaults_and_round_trips() -> None:
    assert ${Entity}Query().to_params() == {}
    query = ${Entity}Query(text="x", descending=True, limit=5, ids=("$entity-1", "$entity-2")$round_trip_filter)
    params = query.to_params()
    assert params["ids"] == "$entity-1,$entity-2"
    assert params["descending"] == "true"
    assert ${Entity}Query.from_params(params) == query


def test_next_page_and_iterate_walk_every_match(repository: ${Entity}Repository) -> None:
    query = ${Entity}Query(limit=1)
    assert query.next_page().offset == 1
    assert names(list(iterate_$plural(repository, query))) == ["$Entity name 1", "$Entity name 2", "$Entity name 3"]
    assert list(iterate_$plural(${Entity}Repository())) == []


def test_count_ignores_paging(repository: ${Entity}Repository) -> None:
    assert count_$plural(repository, ${Entity}Query(limit=1)) == 3
    assert count_$plural(repository, ${Entity}Query(text="${upper_name} 3")) == 1


def test_a_page_serialises_for_json(repository: ${Entity}Repository) -> None:
    data = search_$plural(repository, ${Entity}Query(limit=2)).to_dict()
    assert [item["name"] for item in data["items"]] == ["$Entity name 1", "$Entity name 2"]
    assert (data["total"], data["offset"], data["limit"], data["has_more"]) == (3, 0, 2, True)


def test_facets_count_each_value_most_common_first(repository: ${Entity}Repository) -> None:
    assert facets(repository, "name") == {"$Entity name 1": 1, "$Entity name 2": 1, "$Entity name 3": 1}
    assert facets(repository, "name", ${Entity}Query(text="${upper_name} 2")) == {"$Entity name 2": 1}$flag_facet
    with pytest.raises(ValueError, match="cannot count by"):
        facets(repository, "colour")


@pytest.mark.parametrize(
    "arguments",
    [{"sort_by": "colour"}, {"offset": -1}, {"limit": 0}, {"limit": 101}$bad_range],
)
def test_bad_queries_are_refused(arguments: dict) -> None:
    with pytest.raises(ValueError):
        ${Entity}Query(**arguments)
'''


def _sample_names(entity: EntityInfo, numbers: tuple[int, ...]) -> str:
    return "[" + ", ".join(f'"{entity.name} name {n}"' for n in numbers) + "]"


def queries_tests(package: str, entity: EntityInfo, filters: list[Filter]) -> str:
    everything = f'    ("text", "", "", {_sample_names(entity, (1, 2, 3))}),'
    first_number = next((f for f in filters if f.kind == "float"), None)
    pairs = ranges(filters)
    flag = next((f for f in filters if f.kind == "bool"), None)
    return render(
        _TESTS, package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake), make=make_function(entity).rstrip(),
        sortable=repr(["id", *[a.name for a in entity.attrs if a.type != "list[str]"]]),
        upper_name=f"{entity.name} NAME".upper(),
        filter_cases="\n".join(
            f'    ("{f.param}", {f.value}, "{f.text}", {_sample_names(entity, f.expected)}),' for f in filters
        ) or everything,
        bad_filter_param=f', "{first_number.param}": "lots"' if first_number else "",
        bad_filter_check=(
            f'\n    assert "{first_number.param} must be a number, got \'lots\'" in message' if first_number else ""
        ),
        round_trip_filter=f", {filters[0].param}={filters[0].value}" if filters else "",
        flag_facet=f'\n    assert facets(repository, "{flag.field}") == {{True: 2, False: 1}}' if flag else "",
        bad_range="".join(f", {{{low.param!r}: {low.value}, {high.param!r}: {high.value}}}" for low, high in pairs[:1]),
    )  # fmt: skip
