"""The tests of an entity repository: storage, uniqueness and one test per attribute's finders."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import kwargs, render, sample
from masterplan.sim.scripted.entities import Attr, EntityInfo


def _ref_test(entity: EntityInfo, attr: Attr, repo: str) -> str:
    return render(
        """
        def test_for_${ref}_and_count_per_${ref}($repo: $Repo) -> None:
            assert [item.$name for item in $repo.for_$ref($second)] == [$second]
            assert $repo.for_$ref("$ref-missing") == []
            assert $repo.count_per_$ref() == {$first: 1, $second: 1, $third: 1}
        """,
        ref=attr.ref or "", repo=repo, Repo=f"{entity.name}Repository", name=attr.name,
        first=sample(entity, attr, 1), second=sample(entity, attr, 2), third=sample(entity, attr, 3),
    )  # fmt: skip


def _text_test(entity: EntityInfo, attr: Attr, repo: str) -> str:
    return render(
        """
        def test_find_by_${name}_and_${name}_containing_ignore_case($repo: $Repo) -> None:
            found = $repo.find_by_$name("  " + $value.upper() + " ")
            assert [item.$name for item in found] == [$value]
            assert $repo.find_by_$name("no such value") == []
            assert [item.$name for item in $repo.${name}_containing($value.upper())] == [$value]
            assert len($repo.${name}_containing("")) == 3
            assert $repo.${name}_containing("no such value") == []
        """,
        name=attr.name, repo=repo, Repo=f"{entity.name}Repository", value=sample(entity, attr, 2),
    )  # fmt: skip


def _number_test(entity: EntityInfo, attr: Attr, repo: str) -> str:
    values = [sample(entity, attr, n) for n in (1, 2, 3)]
    total = sum(int(v) if attr.type == "int" else float(v) for v in values)
    return render(
        """
        def test_${name}_range_total_and_top($repo: $Repo) -> None:
            found = $repo.with_${name}_between($low, $mid)
            assert [item.$name for item in found] == [$low, $mid]
            with pytest.raises(ValueError, match="is above"):
                $repo.with_${name}_between(10, 1)
            assert $repo.total_$name() == $total
            assert [item.$name for item in $repo.top_by_$name(2)] == [$high, $mid]
            assert len($repo.top_by_$name(10)) == 3
            with pytest.raises(ValueError, match="at least 1"):
                $repo.top_by_$name(0)
        """,
        name=attr.name, repo=repo, Repo=f"{entity.name}Repository", low=values[0], mid=values[1], high=values[2],
        total=repr(total),
    )  # fmt: skip


def _flag_test(entity: EntityInfo, attr: Attr, repo: str) -> str:
    return render(
        """
        def test_where_${name}_splits_by_flag_and_share_counts_them($repo: $Repo) -> None:
            assert len($repo.where_$name(True)) == 2
            assert len($repo.where_$name(False)) == 1
            assert $repo.share_$name() == pytest.approx(2 / 3)
            assert ${Repo}().share_$name() == 0.0
        """,
        name=attr.name, repo=repo, Repo=f"{entity.name}Repository",
    )  # fmt: skip


def _moment_test(entity: EntityInfo, attr: Attr, repo: str) -> str:
    return render(
        """
        def test_${name}_before_after_and_between($repo: $Repo) -> None:
            assert [item.$name for item in $repo.${name}_before($second)] == [$first]
            assert $repo.${name}_before($first) == []
            assert [item.$name for item in $repo.${name}_after($second)] == [$third]
            assert [item.$name for item in $repo.${name}_between($first, $second)] == [$first, $second]
            with pytest.raises(ValueError, match="is after end"):
                $repo.${name}_between($third, $first)
        """,
        name=attr.name, repo=repo, Repo=f"{entity.name}Repository",
        first=sample(entity, attr, 1), second=sample(entity, attr, 2), third=sample(entity, attr, 3),
    )  # fmt: skip


def _list_test(entity: EntityInfo, attr: Attr, repo: str) -> str:
    return render(
        """
        def test_with_${name}_item_and_all_$name($repo: $Repo) -> None:
            assert len($repo.with_${name}_item("alpha3")) == 1
            assert $repo.with_${name}_item("omega") == []
            assert $repo.all_$name() == ["alpha1", "alpha2", "alpha3", "beta1", "beta2", "beta3"]
        """,
        name=attr.name, repo=repo, Repo=f"{entity.name}Repository",
    )  # fmt: skip


def finder_test(entity: EntityInfo, attr: Attr) -> str:
    repo = f"{entity.snake}_repository"
    if attr.ref is not None:
        return _ref_test(entity, attr, repo)
    by_type = {
        "str": _text_test, "int": _number_test, "float": _number_test, "bool": _flag_test,
        "datetime": _moment_test, "list[str]": _list_test,
    }  # fmt: skip
    return by_type[attr.type](entity, attr, repo)


_TESTS = '''
"""The $Entity repository: storage, uniqueness and finders."""

from datetime import datetime

import pytest

from $package.core.errors import ConflictError, NotFoundError
from $package.models.$entity import $Entity
from $package.repositories.${entity}_repository import UNIQUE_FIELDS, ${Entity}Repository


def make(n: int) -> $Entity:
    samples = {
        1: dict(
$kwargs1
        ),
        2: dict(
$kwargs2
        ),
        3: dict(
$kwargs3
        ),
    }
    return $Entity(**samples[n])


@pytest.fixture
def ${entity}_repository() -> ${Entity}Repository:
    return ${Entity}Repository([make(1), make(2), make(3)])


def test_stored_${entity}s_come_back_in_order(${entity}_repository: ${Entity}Repository) -> None:
    assert [item.name for item in ${entity}_repository.list()] == [$name1, $name2, $name3]
    assert ${entity}_repository.count() == 3


def test_get_and_remove_unknown_ids_raise_not_found(${entity}_repository: ${Entity}Repository) -> None:
    with pytest.raises(NotFoundError, match="$Entity"):
        ${entity}_repository.get("$entity-missing")
    with pytest.raises(NotFoundError):
        ${entity}_repository.remove("$entity-missing")


def test_the_same_${entity}_cannot_be_added_twice(${entity}_repository: ${Entity}Repository) -> None:
    with pytest.raises(ConflictError):
        ${entity}_repository.add(${entity}_repository.list()[0])


def test_find_by_name_and_name_taken(${entity}_repository: ${Entity}Repository) -> None:
    first = ${entity}_repository.list()[0]
    assert ${entity}_repository.find_by_name(first.name.upper()) == [first]
    assert ${entity}_repository.name_taken(first.name)
    assert ${entity}_repository.name_taken("  " + first.name.upper())
    assert not ${entity}_repository.name_taken(first.name, except_id=first.id)
    assert not ${entity}_repository.name_taken("a name nobody uses")


@pytest.mark.parametrize("field_name", UNIQUE_FIELDS)
def test_value_taken_checks_each_unique_field(${entity}_repository: ${Entity}Repository, field_name: str) -> None:
    first = ${entity}_repository.list()[0]
    value = getattr(first, field_name)
    assert ${entity}_repository.value_taken(field_name, value)
    assert not ${entity}_repository.value_taken(field_name, value, except_id=first.id)


def test_value_taken_refuses_fields_that_are_not_unique(${entity}_repository: ${Entity}Repository) -> None:
    with pytest.raises(ValueError, match="is not unique"):
        ${entity}_repository.value_taken("id", "x")


def test_names_are_sorted(${entity}_repository: ${Entity}Repository) -> None:
    assert ${entity}_repository.names() == sorted([$name1, $name2, $name3])


def test_search_text_looks_in_every_text_field(${entity}_repository: ${Entity}Repository) -> None:
    assert [item.name for item in ${entity}_repository.search_text("${upper_name} 2")] == [$name2]
    assert len(${entity}_repository.search_text(" ")) == 3
    assert ${entity}_repository.search_text("nothing like this") == []


def test_sorted_by_orders_and_refuses_unknown_fields(${entity}_repository: ${Entity}Repository) -> None:
    names = [item.name for item in ${entity}_repository.sorted_by("name", descending=True)]
    assert names == sorted([$name1, $name2, $name3], reverse=True)
    with pytest.raises(ValueError, match="cannot sort or group"):
        ${entity}_repository.sorted_by("colour")


def test_update_replaces_the_stored_${entity}(${entity}_repository: ${Entity}Repository) -> None:
    first = ${entity}_repository.list()[0]
    ${entity}_repository.update(first.with_changes(name="Changed"))
    assert ${entity}_repository.get(first.id).name == "Changed"


def test_add_all_is_all_or_nothing(${entity}_repository: ${Entity}Repository) -> None:
    fresh = make(1)
    with pytest.raises(ConflictError):
        ${entity}_repository.add_all([fresh, ${entity}_repository.list()[0]])
    assert fresh.id not in ${entity}_repository
    assert ${entity}_repository.add_all([fresh]) == [fresh]


def test_group_by_count_by_and_distinct_agree_on_every_field(${entity}_repository: ${Entity}Repository) -> None:
    for field_name in $sortable_fields:
        groups = ${entity}_repository.group_by(field_name)
        counts = ${entity}_repository.count_by(field_name)
        assert {value: len(items) for value, items in groups.items()} == counts, field_name
        assert sum(counts.values()) == 3, field_name
        assert ${entity}_repository.distinct(field_name) == sorted(counts), field_name


def test_restore_puts_back_a_snapshot(${entity}_repository: ${Entity}Repository) -> None:
    saved = ${entity}_repository.snapshot()
    ${entity}_repository.remove(saved[0].id)
    ${entity}_repository.add(make(3))
    ${entity}_repository.restore(saved)
    assert ${entity}_repository.list() == saved


$tests
'''


def repository_tests(package: str, entity: EntityInfo) -> str:
    tests = "\n\n".join(finder_test(entity, attr) for attr in entity.attrs if attr.name != "name")
    return render(
        _TESTS, package=package, Entity=entity.name, entity=entity.snake,
        kwargs1=kwargs(entity, 1, "            "), kwargs2=kwargs(entity, 2, "            "),
        kwargs3=kwargs(entity, 3, "            "),
        name1=repr(f"{entity.name} name 1"), name2=repr(f"{entity.name} name 2"), name3=repr(f"{entity.name} name 3"),
        tests=tests, sortable_fields=repr([a.name for a in entity.attrs if a.type != "list[str]"]),
        upper_name=f"{entity.name} NAME".upper(),
    )  # fmt: skip
