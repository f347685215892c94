"""The tests of an entity module: valid values kept, every invalid one named, helpers per field kind."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import (
    has_default,
    invalid,
    invalid_variants,
    kwargs,
    ordered,
    render,
    rule_text,
    sample,
)
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words

_TESTS = '''
"""The $Entity entity: valid values are kept, each invalid field is named."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from $package.core.errors import ValidationError
from $package.models.$entity import $Entity


INVALID_VALUES: dict[str, list[Any]] = {
$invalid_cases
}
"""Values each field must refuse, the most typical mistake first."""

OTHER_VALUES: list[tuple[str, Any]] = [
$variant_cases
]
"""For each field, a valid value other than the one ``make_$entity`` uses."""

SAMPLE_VALUES: list[tuple[str, Any]] = [
$sample_cases
]
"""For each field, the value ``make_$entity`` uses."""


def make_$entity(**overrides: Any) -> $Entity:
    values: dict[str, Any] = dict(
$kwargs
    )
    values.update(overrides)
    return $Entity(**values)


def test_a_valid_${entity}_keeps_its_values() -> None:
    $entity = make_$entity()
    assert $entity.name == ${name_sample}
    assert $entity.problems() == []
    assert $entity.summary().startswith("$Entity $entity-")


def test_each_${entity}_gets_its_own_id() -> None:
    assert make_$entity().id != make_$entity().id


@pytest.mark.parametrize("field_name", list(INVALID_VALUES))
def test_invalid_values_are_refused_and_the_field_named(field_name: str) -> None:
    for bad_value in INVALID_VALUES[field_name]:
        with pytest.raises(ValidationError) as info:
            make_$entity(**{field_name: bad_value})
        assert info.value.entity == "$Entity"
        assert info.value.fields == [field_name], bad_value
        assert info.value.problems[0].startswith(field_name + " ")


def test_each_field_takes_another_valid_value_and_diff_names_only_it() -> None:
    mine = make_$entity()
    for field_name, other_value in OTHER_VALUES:
        theirs = make_$entity(**{field_name: other_value})
        assert getattr(theirs, field_name) == other_value
        assert mine.diff(theirs) == {field_name: (getattr(mine, field_name), other_value)}


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        make_$entity($bad_call)
    assert len(info.value.problems) == $bad_count
    assert "invalid $Entity" in str(info.value)


def test_a_${entity}_round_trips_through_a_dict() -> None:
    $entity = make_$entity()
    data = $entity.to_dict()
    assert data["id"] == $entity.id
    assert all(not isinstance(value, datetime) for value in data.values())
    assert $Entity.from_dict(data) == $entity


def test_from_dict_refuses_unknown_fields() -> None:
    data = make_$entity().to_dict()
    data["colour"] = "blue"
    with pytest.raises(ValidationError, match="unknown field colour"):
        $Entity.from_dict(data)


def test_from_dict_names_missing_required_fields() -> None:
    data = make_$entity().to_dict()
    del data["name"]
    with pytest.raises(ValidationError, match="name is required"):
        $Entity.from_dict(data)


def test_validate_reports_problems_without_raising() -> None:
    data = make_$entity().to_dict()
    del data["id"]
    assert $Entity.validate(data) == []
    data["name"] = ""
    data["colour"] = "blue"
    assert $Entity.validate(data) == ["unknown field colour"]
    del data["colour"]
    assert $Entity.validate(data) == ["name must be a non-empty string"]


def test_with_changes_validates_and_keeps_the_id() -> None:
    $entity = make_$entity()
    renamed = $entity.with_changes(name="Renamed $words")
    assert renamed.id == $entity.id
    assert renamed.name == "Renamed $words"
    assert $entity.name != renamed.name
    with pytest.raises(ValidationError):
        $entity.with_changes(name="")
    with pytest.raises(ValidationError, match="id cannot change"):
        $entity.with_changes(id="$entity-999")


def test_duplicate_gets_a_fresh_id_and_the_changes() -> None:
    original = make_$entity()
    copy = original.duplicate(name="Copy of the $words")
    assert copy.id != original.id
    assert copy.diff(original) == {"name": ("Copy of the $words", original.name)}
    with pytest.raises(ValidationError, match="assigned"):
        original.duplicate(id="$entity-1")
    with pytest.raises(ValidationError, match="name"):
        original.duplicate(name="")


def test_the_schema_lists_every_attribute_with_its_rule() -> None:
    schema = $Entity.schema()
    assert schema["entity"] == "$Entity"
    assert [item["name"] for item in schema["fields"]] == $attr_names
    by_name = {item["name"]: item for item in schema["fields"]}
    assert by_name["name"] == {"name": "name", "type": "str", "required": True, "rule": $name_rule}
    assert [name for name, item in by_name.items() if not item["required"]] == $optional_names


def test_field_names_list_every_attribute_and_the_id() -> None:
    assert $Entity.field_names() == $field_names


def test_diff_is_empty_for_equal_values() -> None:
    assert make_$entity().diff(make_$entity()) == {}


def test_matches_compares_each_field() -> None:
    $entity = make_$entity()
    for field_name, value in SAMPLE_VALUES:
        assert $entity.matches(**{field_name: value}), field_name
        assert $entity.matches(**{"name": ${name_sample}.upper(), field_name: value}), field_name


def test_matches_is_false_for_another_value_and_refuses_unknown_fields() -> None:
    $entity = make_$entity()
    assert not $entity.matches(name="somebody else")
    with pytest.raises(ValueError, match="no field"):
        $entity.matches(colour="blue")


def test_helpers_refuse_fields_of_another_kind() -> None:
    $entity = make_$entity()
    with pytest.raises(ValueError, match="has no flag 'name'"):
        $entity.toggled("name")
    with pytest.raises(ValueError, match="has no whole-number field 'name'"):
        $entity.adjusted("name", 1)
    with pytest.raises(ValueError, match="has no list field 'name'"):
        $entity.with_items_added("name", "x")
    with pytest.raises(ValueError, match="has no datetime field 'name'"):
        $entity.elapsed("name", datetime(2024, 1, 1))


def test_${entity}s_are_immutable() -> None:
    $entity = make_$entity()
    with pytest.raises(AttributeError):
        $entity.name = "changed"  # type: ignore[misc]
'''

_FLAG_TESTS = """

@pytest.mark.parametrize("flag", $flags)
def test_toggled_flips_one_flag_and_keeps_the_rest(flag: str) -> None:
    original = make_$entity()
    flipped = original.toggled(flag)
    assert original.diff(flipped) == {flag: (getattr(original, flag), not getattr(original, flag))}
    assert flipped.toggled(flag) == original
"""

_COUNT_TESTS = """

@pytest.mark.parametrize("field_name", $counts)
def test_adjusted_moves_a_whole_number_and_keeps_it_valid(field_name: str) -> None:
    original = make_$entity()
    start = getattr(original, field_name)
    assert getattr(original.adjusted(field_name, 2), field_name) == start + 2
    assert getattr(original.adjusted(field_name, -start), field_name) == 0
    with pytest.raises(ValidationError, match=field_name):
        original.adjusted(field_name, -start - 1)
    with pytest.raises(TypeError, match="whole number"):
        original.adjusted(field_name, 1.5)  # type: ignore[arg-type]
"""

_LIST_TESTS = """

@pytest.mark.parametrize("field_name", $lists)
def test_list_items_are_added_once_and_removed(field_name: str) -> None:
    original = make_$entity()
    grown = original.with_items_added(field_name, "gamma", "alpha1", "gamma")
    assert getattr(grown, field_name) == ["alpha1", "beta1", "gamma"]
    assert getattr(grown.with_items_removed(field_name, "alpha1", "absent"), field_name) == ["beta1", "gamma"]
    assert getattr(original, field_name) == ["alpha1", "beta1"]
    with pytest.raises(ValidationError, match=field_name):
        original.with_items_added(field_name, " ")
    original.to_dict()[field_name].append("changed")
    assert "changed" not in getattr(original, field_name)
"""

_MOMENT_TESTS = """

@pytest.mark.parametrize("field_name", $moments)
def test_elapsed_measures_from_the_field(field_name: str) -> None:
    $entity = make_$entity()
    moment = getattr($entity, field_name)
    assert $entity.elapsed(field_name, moment + timedelta(days=2)) == timedelta(days=2)
    assert $entity.elapsed(field_name, moment - timedelta(hours=1)) < timedelta(0)


def test_from_dict_names_a_badly_written_datetime() -> None:
    data = make_$entity().to_dict()
    data["$first_moment"] = "the day after tomorrow"
    with pytest.raises(ValidationError, match="$first_moment must be a datetime"):
        $Entity.from_dict(data)
"""


def _kind_tests(entity: EntityInfo) -> str:
    """The helper tests that apply: one block per field kind the entity has."""
    kinds = {
        "bool": (_FLAG_TESTS, "flags"), "int": (_COUNT_TESTS, "counts"),
        "list[str]": (_LIST_TESTS, "lists"), "datetime": (_MOMENT_TESTS, "moments"),
    }  # fmt: skip
    blocks = []
    for kind, (template, key) in kinds.items():
        names = [a.name for a in entity.attrs if a.type == kind and a.ref is None]
        if names:
            blocks.append(
                render(template, Entity=entity.name, entity=entity.snake, first_moment=names[0], **{key: repr(names)})
            )
    return "".join(blocks)


def model_tests(package: str, entity: EntityInfo) -> str:
    bad = [a for a in entity.attrs if a.name == "name"] + [a for a in entity.attrs if a.type != "str"][:2]
    name_attr = next(a for a in entity.attrs if a.name == "name")
    return render(
        _TESTS,
        package=package,
        Entity=entity.name,
        entity=entity.snake,
        words=title_words(entity.name),
        kwargs=kwargs(entity, 1, "        "),
        name_sample=sample(entity, name_attr, 1),
        invalid_cases="\n".join(f'    "{a.name}": [{", ".join(invalid_variants(a))}],' for a in entity.attrs),
        variant_cases="\n".join(f'    ("{a.name}", {sample(entity, a, 2)}),' for a in entity.attrs),
        sample_cases="\n".join(f'    ("{a.name}", {sample(entity, a, 1)}),' for a in entity.attrs),
        field_names=repr([a.name for a in ordered(entity)] + ["id"]),
        attr_names=repr([a.name for a in entity.attrs]),
        name_rule=repr(rule_text(name_attr)),
        optional_names=repr([a.name for a in entity.attrs if has_default(a)]),
        bad_call=", ".join(f"{a.name}={invalid(a)}" for a in bad),
        bad_count=str(len(bad)),
    ) + _kind_tests(entity)
