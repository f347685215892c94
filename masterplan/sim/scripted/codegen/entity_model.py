"""The entity module of a generated project: a validated frozen dataclass with typed helpers."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.entity_model_tests import model_tests
from masterplan.sim.scripted.codegen.values import (
    annotation,
    check_call,
    default,
    has_default,
    ordered,
    render,
    rule_text,
)
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words

_MODEL = '''
"""The $Entity entity: a validated, immutable record.

Attributes and the rules their values follow:
$docs

Invalid values never make it into an object: construction (and every copy made with
``with_changes`` or a helper) checks every rule and raises one ValidationError listing every
broken rule, each problem starting with its field name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from $package.core import validation as check
from $package.core.errors import ValidationError
from $package.core.ids import new_id

FIELD_TYPES: dict[str, str] = {
$field_types
}
"""Each attribute's type, as the schema and the CSV exchange name it."""
FIELD_RULES: dict[str, str] = {
$field_rules
}
"""Each attribute's rule, in words."""
DATETIME_FIELDS = $moments
LIST_FIELDS = $lists
FLAG_FIELDS = $flags
COUNT_FIELDS = $counts


@dataclass(frozen=True)
class $Entity:
    """${a_words}. Creating one with invalid values raises ValidationError naming each field."""

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
        missing = sorted(item.name for item in fields(cls) if item.name not in values and item.name in REQUIRED_FIELDS)
        if missing:
            raise ValidationError("$Entity", [f"{name} is required" for name in missing])
        return cls(**values)

    @classmethod
    def validate(cls, data: Mapping[str, Any]) -> list[str]:
        """The problems ``from_dict(data)`` would raise, without raising; empty means valid."""
        try:
            cls.from_dict(data)
        except ValidationError as error:
            return error.problems
        return []

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """What a client needs to build a form: each field's type, whether it is required, and its rule."""
        return {
            "entity": "$Entity",
            "fields": [
                {"name": name, "type": kind, "required": name in REQUIRED_FIELDS, "rule": FIELD_RULES[name]}
                for name, kind in FIELD_TYPES.items()
            ],
        }

    def with_changes(self, **changes: Any) -> $Entity:
        """A copy with ``changes`` applied and validated; the id never changes."""
        if "id" in changes and changes["id"] != self.id:
            raise ValidationError("$Entity", ["id cannot change"])
        return replace(self, **changes)

    def duplicate(self, **changes: Any) -> $Entity:
        """A copy under a fresh id, with ``changes`` applied (a copy usually needs a new name)."""
        if "id" in changes:
            raise ValidationError("$Entity", ["id of a duplicate is assigned, not given"])
        values: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name != "id":
                values[item.name] = list(value) if isinstance(value, list) else value
        values.update(changes)
        return type(self)(**values)

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

    def toggled(self, flag: str) -> $Entity:
        """A copy with one true/false field flipped."""
        _require_kind(flag, FLAG_FIELDS, "flag")
        return self.with_changes(**{flag: not getattr(self, flag)})

    def adjusted(self, field_name: str, delta: int) -> $Entity:
        """A copy with a whole-number field moved by ``delta``; leaving its allowed range is a ValidationError."""
        _require_kind(field_name, COUNT_FIELDS, "whole-number field")
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"delta must be a whole number, got {delta!r}")
        return self.with_changes(**{field_name: getattr(self, field_name) + delta})

    def with_items_added(self, field_name: str, *items: str) -> $Entity:
        """A copy with ``items`` appended to a list field; items it already holds are not repeated."""
        _require_kind(field_name, LIST_FIELDS, "list field")
        current = list(getattr(self, field_name))
        return self.with_changes(**{field_name: current + [i for i in dict.fromkeys(items) if i not in current]})

    def with_items_removed(self, field_name: str, *items: str) -> $Entity:
        """A copy without ``items`` in a list field; items it does not hold are ignored."""
        _require_kind(field_name, LIST_FIELDS, "list field")
        return self.with_changes(**{field_name: [i for i in getattr(self, field_name) if i not in items]})

    def elapsed(self, field_name: str, now: datetime) -> timedelta:
        """How long before ``now`` a datetime field's moment is (negative when it is still ahead)."""
        _require_kind(field_name, DATETIME_FIELDS, "datetime field")
        moment: datetime = getattr(self, field_name)
        return now - moment


def _require_kind(name: str, allowed: list[str], kind: str) -> None:
    if name not in allowed:
        raise ValueError(f"$Entity has no {kind} {name!r}; its {kind}s are: {', '.join(allowed) or 'none'}")


REQUIRED_FIELDS = frozenset($required)
'''


def _field_lines(entity: EntityInfo) -> str:
    lines = []
    for attr in ordered(entity):
        suffix = f" = {default(attr)}" if has_default(attr) else ""
        lines.append(f"    {attr.name}: {annotation(attr)}{suffix}")
    return "\n".join(lines)


def model_source(package: str, entity: EntityInfo) -> str:
    def names(kind: str) -> str:
        return repr([a.name for a in entity.attrs if a.type == kind and a.ref is None])

    return render(
        _MODEL,
        package=package,
        Entity=entity.name,
        entity=entity.snake,
        words=title_words(entity.name),
        docs="\n".join(f"    - ``{a.name}``: {rule_text(a)}" for a in entity.attrs),
        field_types="\n".join(f'    "{a.name}": "{a.type}",' for a in entity.attrs),
        field_rules="\n".join(f'    "{a.name}": {rule_text(a)!r},' for a in entity.attrs),
        moments=names("datetime"),
        lists=names("list[str]"),
        flags=names("bool"),
        counts=names("int"),
        fields=_field_lines(entity),
        checks="\n".join(f"        {check_call(a, 'self.' + a.name)}" for a in entity.attrs),
        required=repr(sorted(a.name for a in entity.attrs if not has_default(a))),
    )


def model_files(package: str, entity: EntityInfo) -> dict[str, str]:
    return {
        f"{package}/models/{entity.snake}.py": model_source(package, entity),
        f"tests/test_{entity.snake}_model.py": model_tests(package, entity),
    }
