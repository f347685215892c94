"""The entities a project is built from: the domain model's, padded when the plan needs more.

Plan and task answers both call ``project_entities`` on what the request carries, so they agree
on names, attribute types and which entity refers to which.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from masterplan.sim.scripted.domain import entity_attributes, entity_names, project_name
from masterplan.sim.scripted.naming import padded_nouns, pascal, snake

AttrType = Literal["str", "int", "float", "bool", "datetime", "list[str]"]


@dataclass(frozen=True)
class Attr:
    name: str
    type: AttrType
    required: bool
    ref: str | None = None
    """Snake name of the entity this attribute refers to (``<entity>_id`` attributes)."""


@dataclass(frozen=True)
class EntityInfo:
    name: str
    """PascalCase class name."""
    snake: str
    attrs: tuple[Attr, ...]

    @property
    def refs(self) -> list[str]:
        return [attr.ref for attr in self.attrs if attr.ref is not None]


@dataclass(frozen=True)
class Project:
    package: str
    entities: tuple[EntityInfo, ...]

    def entity(self, snake_name: str) -> EntityInfo | None:
        return next((e for e in self.entities if e.snake == snake_name), None)


def _attr_type(raw: str) -> AttrType:
    lowered = raw.strip().lower()
    if lowered.startswith(("list", "set", "tuple", "sequence")):
        return "list[str]"
    table: dict[str, AttrType] = {
        "int": "int", "integer": "int", "float": "float", "decimal": "float", "number": "float",
        "bool": "bool", "boolean": "bool", "datetime": "datetime", "date": "datetime",
    }  # fmt: skip
    return table.get(lowered, "str")


_RESERVED = frozenset(
    [
        "to_dict",
        "from_dict",
        "problems",
        "with_changes",
        "validate",
        "schema",
        "duplicate",
        "summary",
        "field_names",
        "diff",
        "matches",
        "toggled",
        "adjusted",
        "with_items_added",
        "with_items_removed",
        "elapsed",
    ]
)
"""Method names of the generated entity class: an attribute with one of these names is left out."""


def _attributes(raw: list[Any], earlier: list[str]) -> tuple[Attr, ...]:
    attrs: list[Attr] = []
    seen = {"id"}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name = snake(item["name"])
        if keyword.iskeyword(name) or name in seen or name in _RESERVED:
            continue
        seen.add(name)
        attr_type = _attr_type(str(item.get("type", "str")))
        required = bool(item.get("required", True)) and attr_type != "list[str]"
        ref = name[: -len("_id")] if name.endswith("_id") and name[: -len("_id")] in earlier else None
        attrs.append(Attr(name, "str" if ref else attr_type, required or ref is not None, ref))
    if "name" not in seen:
        attrs.insert(0, Attr("name", "str", True))
    return tuple(attrs)


def _doc_entities(document: Any) -> list[tuple[str, list[Any]]]:
    if not isinstance(document, dict):
        return []
    found = []
    for entity in document.get("entities", []):
        if isinstance(entity, dict) and isinstance(entity.get("name"), str) and snake(entity["name"]):
            found.append((entity["name"], entity.get("attributes") or []))
    return found


def parse_json(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw.strip())
    except orjson.JSONDecodeError:
        return None


def project_entities(
    request: str, document_json: str | None, seed: int, count: int = 0, order: list[str] | None = None
) -> Project:
    """Entities from the domain model (or the request's nouns), padded to ``count``.

    ``order`` (snake names, e.g. the model tasks of a plan) adds entities the plan padded in.
    """
    document = parse_json(document_json)
    named = _doc_entities(document)
    if not named:
        named = [(name, []) for name in entity_names(request)]
    snakes = [snake(name) for name, _ in named]
    wanted = list(order or [])
    extra = [name for name in wanted if name not in snakes]
    if count > len(snakes) + len(extra):
        extra += [n for n in padded_nouns(snakes + extra, count) if n not in snakes and n not in extra]
    entities: list[EntityInfo] = []
    earlier: list[str] = []
    raw_by_snake = dict(zip(snakes, named, strict=True))
    for snake_name in snakes + extra:
        display, raw_attrs = raw_by_snake.get(snake_name, (pascal(snake_name), []))
        if not raw_attrs:
            raw_attrs = entity_attributes(pascal(snake_name), [pascal(e) for e in earlier], seed)
        entities.append(EntityInfo(pascal(display), snake_name, _attributes(raw_attrs, earlier)))
        earlier.append(snake_name)
    name = document.get("project_name") if isinstance(document, dict) else None
    package = snake(name) if isinstance(name, str) and name.strip() else snake(project_name(request))
    return Project(package=re.sub(r"^_+", "", package) or "app", entities=tuple(entities))
