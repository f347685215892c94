"""The entity module (a validated frozen dataclass) and its tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import (
    annotation,
    check_call,
    default,
    has_default,
    invalid,
    invalid_variants,
    kwargs,
    ordered,
    render,
    sample,
)
from masterplan.sim.scripted.entities import Attr, EntityInfo
from masterplan.sim.scripted.naming import title_words


def _field_lines(entity: EntityInfo) -> str:
    lines = []
    for attr in ordered(entity):
        suffix = f" = {default(attr)}" if has_default(attr) else ""
        lines.append(f"    {attr.name}: {annotation(attr)}{suffix}")
    return "\n".join(lines)


def _check_lines(entity: EntityInfo) -> str:
    return "\n".join(f"        {check_call(a, 'self.' + a.name)}" for a in entity.attrs)


def _describe(attr: Attr) -> str:
    if attr.ref is not None:
        return f"id of the {title_words(attr.ref)} it belongs to"
    return {
        "str": "text" if attr.required else "optional text",
        "int": "whole number, never negative",
        "float": "number, never negative",
        "bool": "flag",
        "datetime": "moment in time",
        "list[str]": "list of non-empty texts",
    }[attr.type]


def model_source(package: str, entity: EntityInfo) -> str:
    moments = [a.name for a in entity.attrs if a.type == "datetime"]
    lists = [a.name for a in entity.attrs if a.type == "list[str]"]
    docs = "\n".join(f"    - ``{a.name}``: {_describe(a)}" for a in entity.attrs)
    return render(
        '''
        """The $Entity entity: a validated, immutable record.

        Attributes:
        $docs
        """

        from __future__ import annotations

        from collections.abc import Mapping
        from dataclasses import dataclass, field, fields, replace
        from datetime import datetime
        from typing import Any

        from $package.core import validation as check
        from $package.core.errors import ValidationError
        from $package.core.ids import new_id

        DATETIME_FIELDS = $moments
        LIST_FIELDS = $lists


        @dataclass(frozen=True)
        class $Entity:
            """A $words. Creating one with invalid values raises ValidationError naming each field."""

        $fields
            id: str = field(default_factory=lambda: new_id("$entity"))

            def __post_init__(self) -> None:
                problems = self.problems()
                if problems:
                    raise ValidationError("$Entity", problems)

            def problems(self) -> list[str]:
                """Every rule this $words breaks, as readable sentences."""
                problems: list[str] = []
                check.require_text(problems, "id", self.id)
        $checks
                return problems

            def to_dict(self) -> dict[str, Any]:
                """Plain JSON-ready values: datetimes as ISO 8601 text, lists copied."""
                data: dict[str, Any] = {}
                for item in fields(self):
                    value = getattr(self, item.name)
                    if isinstance(value, datetime):
                        value = value.isoformat()
                    elif isinstance(value, list):
                        value = list(value)
                    data[item.name] = value
                return data

            @classmethod
            def from_dict(cls, data: Mapping[str, Any]) -> $Entity:
                """The inverse of ``to_dict``; unknown keys are an error, not silently dropped."""
                known = {item.name for item in fields(cls)}
                unknown = sorted(set(data) - known)
                if unknown:
                    raise ValidationError("$Entity", [f"unknown field {name}" for name in unknown])
                values = dict(data)
                for name in DATETIME_FIELDS:
                    if isinstance(values.get(name), str):
                        try:
                            values[name] = datetime.fromisoformat(values[name])
                        except ValueError:
                            raise ValidationError("$Entity", [f"{name} must be a datetime"]) from None
                for name in LIST_FIELDS:
                    if isinstance(values.get(name), tuple):
                        values[name] = list(values[name])
                missing = sorted(
                    item.name for item in fields(cls) if item.name not in values and item.name in REQUIRED_FIELDS
                )
                if missing:
                    raise ValidationError("$Entity", [f"{name} is required" for name in missing])
                return cls(**values)

            def with_changes(self, **changes: Any) -> $Entity:
                """A copy with ``changes`` applied and validated; the id never changes."""
                if "id" in changes and changes["id"] != self.id:
                    raise ValidationError("$Entity", ["id cannot change"])
                return replace(self, **changes)

            def summary(self) -> str:
                return f"$Entity {self.id}: {self.name}"

            @classmethod
            def field_names(cls) -> list[str]:
                """Every field, in declaration order (id last)."""
                return [item.name for item in fields(cls)]

            def diff(self, other: $Entity) -> dict[str, tuple[Any, Any]]:
                """The fields whose values differ, as ``name -> (mine, theirs)``; the id is ignored."""
                changes: dict[str, tuple[Any, Any]] = {}
                for name in self.field_names():
                    if name == "id":
                        continue
                    mine, theirs = getattr(self, name), getattr(other, name)
                    if mine != theirs:
                        changes[name] = (mine, theirs)
                return changes

            def matches(self, **criteria: Any) -> bool:
                """Whether every given field equals the given value (text compared ignoring case)."""
                for name, wanted in criteria.items():
                    if name not in self.field_names():
                        raise ValueError(f"$Entity has no field {name!r}")
                    value = getattr(self, name)
                    if isinstance(value, str) and isinstance(wanted, str):
                        if value.strip().casefold() != wanted.strip().casefold():
                            return False
                    elif value != wanted:
                        return False
                return True


        REQUIRED_FIELDS = frozenset($required)
        ''',
        package=package,
        Entity=entity.name,
        entity=entity.snake,
        words=title_words(entity.name),
        docs=docs,
        moments=repr(moments),
        lists=repr(lists),
        fields=_field_lines(entity),
        checks=_check_lines(entity),
        required=repr(sorted(a.name for a in entity.attrs if not has_default(a))),
    )


def _invalid_cases(entity: EntityInfo) -> str:
    return "\n".join(f'        ("{a.name}", {value}),' for a in entity.attrs for value in invalid_variants(a))


def _variant_cases(entity: EntityInfo) -> str:
    return "\n".join(f'        ("{a.name}", {sample(entity, a, 2)}),' for a in entity.attrs)


def model_tests(package: str, entity: EntityInfo) -> str:
    e = entity.snake
    bad = [a for a in entity.attrs if a.name == "name"] + [a for a in entity.attrs if a.type != "str"][:2]
    return render(
        '''
        """The $Entity entity: valid values are kept, each invalid field is named."""

        from datetime import datetime
        from typing import Any

        import pytest

        from $package.core.errors import ValidationError
        from $package.models.$entity import $Entity


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


        @pytest.mark.parametrize(
            ("field_name", "bad_value"),
            [
        $invalid_cases
            ],
        )
        def test_an_invalid_field_is_refused_and_named(field_name: str, bad_value: Any) -> None:
            with pytest.raises(ValidationError) as info:
                make_$entity(**{field_name: bad_value})
            assert info.value.entity == "$Entity"
            assert any(problem.startswith(field_name) for problem in info.value.problems)


        @pytest.mark.parametrize(
            ("field_name", "good_value"),
            [
        $variant_cases
            ],
        )
        def test_other_valid_values_are_accepted(field_name: str, good_value: Any) -> None:
            assert getattr(make_$entity(**{field_name: good_value}), field_name) == good_value


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


        def test_field_names_list_every_attribute_and_the_id() -> None:
            assert $Entity.field_names() == $field_names


        def test_diff_is_empty_for_equal_values() -> None:
            assert make_$entity().diff(make_$entity()) == {}


        @pytest.mark.parametrize(
            ("field_name", "other_value"),
            [
        $variant_cases
            ],
        )
        def test_diff_names_each_changed_field(field_name: str, other_value: Any) -> None:
            mine = make_$entity()
            theirs = make_$entity(**{field_name: other_value})
            assert mine.diff(theirs) == {field_name: (getattr(mine, field_name), other_value)}


        @pytest.mark.parametrize(
            ("field_name", "value"),
            [
        $sample_cases
            ],
        )
        def test_matches_compares_each_field(field_name: str, value: Any) -> None:
            $entity = make_$entity()
            assert $entity.matches(**{field_name: value})
            assert $entity.matches(**{"name": ${name_sample}.upper(), field_name: value})


        def test_matches_is_false_for_another_value_and_refuses_unknown_fields() -> None:
            $entity = make_$entity()
            assert not $entity.matches(name="somebody else")
            with pytest.raises(ValueError, match="no field"):
                $entity.matches(colour="blue")


        def test_${entity}s_are_immutable() -> None:
            $entity = make_$entity()
            with pytest.raises(AttributeError):
                $entity.name = "changed"  # type: ignore[misc]
        ''',
        package=package,
        Entity=entity.name,
        entity=e,
        words=title_words(entity.name),
        kwargs=kwargs(entity, 1, "        "),
        name_sample=sample(entity, next(a for a in entity.attrs if a.name == "name"), 1),
        invalid_cases=_invalid_cases(entity),
        variant_cases=_variant_cases(entity),
        sample_cases="\n".join(f'        ("{a.name}", {sample(entity, a, 1)}),' for a in entity.attrs),
        field_names=repr([a.name for a in ordered(entity)] + ["id"]),
        bad_call=", ".join(f"{a.name}={invalid(a)}" for a in bad),
        bad_count=str(len(bad)),
    )


def model_files(package: str, entity: EntityInfo) -> dict[str, str]:
    return {
        f"{package}/models/{entity.snake}.py": model_source(package, entity),
        f"tests/test_{entity.snake}_model.py": model_tests(package, entity),
    }
