"""The entity service of a generated project: use cases with uniqueness, reference and batch rules."""

from __future__ import annotations

from textwrap import indent

from masterplan.sim.scripted.codegen.service_tests import ref_entities, service_tests
from masterplan.sim.scripted.codegen.values import plural, render, unique_fields, with_article
from masterplan.sim.scripted.entities import EntityInfo, Project
from masterplan.sim.scripted.naming import title_words

_SERVICE = '''
"""Use cases for ${words_plural}: create, read, update, delete and restore, with their rules.

Rules:
- $unique_rule are unique, ignoring case (ConflictError names the field);
- references to other entities must exist (NotFoundError names the missing one);
- a batch (``create_many``, ``update_many``, ``delete_many``) is all-or-nothing: every row is
  checked before the first change is stored;
- every change publishes an event (``$entity.created``, ``$entity.updated``, ``$entity.deleted``,
  ``$entity.restored``) and is kept in the ${words}'s ``history``;
- a deleted $words can be restored until the service is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from $package.core.errors import ConflictError, NotFoundError, StateError
from $package.models.$entity import $Entity
from $package.repositories.${entity}_repository import UNIQUE_FIELDS, ${Entity}Repository
$imports
Publish = Callable[[str, dict[str, Any]], object]


def _ignore(kind: str, data: dict[str, Any]) -> None:
    """The default publisher: events go nowhere."""


def _folded(value: object) -> object:
    return value.strip().casefold() if isinstance(value, str) else value


class ${Entity}Service:
    def __init__(
        self,
        $plural: ${Entity}Repository,
$params        publish: Publish = _ignore,
    ) -> None:
        self._$plural = $plural
$assigns        self._publish = publish
        self._history: dict[str, list[str]] = {}
        self._deleted: dict[str, $Entity] = {}

    def get(self, ${entity}_id: str) -> $Entity:
        return self._$plural.get(${entity}_id)

    def get_many(self, ${entity}_ids: Iterable[str]) -> list[$Entity]:
        """The ${words_plural} with these ids, in the order asked; NotFoundError names the first missing one."""
        return self._$plural.get_many(${entity}_ids)

    def list(self) -> list[$Entity]:
        return self._$plural.list()

    def count(self) -> int:
        return self._$plural.count()

    def exists(self, ${entity}_id: str) -> bool:
        return ${entity}_id in self._$plural

    def find(self, text: str) -> list[$Entity]:
        """The ${words_plural} whose name contains ``text``, ignoring case."""
        wanted = text.strip().casefold()
        return [item for item in self._$plural.list() if wanted in item.name.casefold()]

    def history(self, ${entity}_id: str) -> list[str]:
        """What happened to one $words, oldest first (``created``, ``updated name``, ``deleted``)."""
        return list(self._history.get(${entity}_id, []))

    def create(self, **values: Any) -> $Entity:
        """A new $words from ``values``; raises ValidationError, NotFoundError or ConflictError."""
        self._check_references(values)
        $entity = $Entity(**values)
        self._check_unique($entity)
        self._$plural.add($entity)
        self._record($entity.id, "created")
        self._publish("$entity.created", {"id": $entity.id, "name": $entity.name})
        return $entity

    def ensure(self, **values: Any) -> tuple[$Entity, bool]:
        """The stored $words with ``values["name"]``, or a new one from ``values``; True when created."""
        existing = self._$plural.find_by_name(str(values.get("name", "")))
        if existing:
            return existing[0], False
        return self.create(**values), True

    def create_many(self, rows: list[dict[str, Any]]) -> list[$Entity]:
        """Create every row or none: all rows are checked before the first is stored."""
        for field_name in UNIQUE_FIELDS:
            seen = [_folded(row.get(field_name)) for row in rows if field_name in row]
            repeated = sorted({str(value) for value in seen if seen.count(value) > 1})
            if repeated:
                raise ConflictError("$Entity", repeated[0], f"{field_name} repeated in the batch")
        for row in rows:
            self._check_references(row)
            self._check_unique($Entity(**row))
        return [self.create(**row) for row in rows]

    def update(self, ${entity}_id: str, **changes: Any) -> $Entity:
        """Apply ``changes`` (validated) to a stored $words."""
        current = self._$plural.get(${entity}_id)
        self._check_references(changes)
        return self._store(current.with_changes(**changes), sorted(changes))

    def update_many(self, ${entity}_ids: list[str], **changes: Any) -> list[$Entity]:
        """Apply the same ``changes`` to several ${words_plural}, or to none when one of them cannot take them."""
        if len(${entity}_ids) > 1 and any(name in changes for name in UNIQUE_FIELDS):
            raise ConflictError("$Entity", ${entity}_ids[0], "one value of a unique field cannot go to many")
        self._check_references(changes)
        updated = [item.with_changes(**changes) for item in self._$plural.get_many(${entity}_ids)]
        for item in updated:
            self._check_unique(item)
        return [self._store(item, sorted(changes)) for item in updated]

    def rename(self, ${entity}_id: str, name: str) -> $Entity:
        return self.update(${entity}_id, name=name)

    def toggle(self, ${entity}_id: str, flag: str) -> $Entity:
        """Flip one true/false field of a stored $words."""
        return self._store(self._$plural.get(${entity}_id).toggled(flag), [flag])

    def adjust(self, ${entity}_id: str, field_name: str, delta: int) -> $Entity:
        """Move a whole-number field by ``delta``; the model refuses values outside its range."""
        return self._store(self._$plural.get(${entity}_id).adjusted(field_name, delta), [field_name])

    def add_items(self, ${entity}_id: str, field_name: str, *items: str) -> $Entity:
        return self._store(self._$plural.get(${entity}_id).with_items_added(field_name, *items), [field_name])

    def remove_items(self, ${entity}_id: str, field_name: str, *items: str) -> $Entity:
        return self._store(self._$plural.get(${entity}_id).with_items_removed(field_name, *items), [field_name])

    def delete(self, ${entity}_id: str) -> $Entity:
        removed = self._$plural.remove(${entity}_id)
        self._deleted[${entity}_id] = removed
        self._record(${entity}_id, "deleted")
        self._publish("$entity.deleted", {"id": ${entity}_id})
        return removed

    def delete_many(self, ${entity}_ids: list[str]) -> list[$Entity]:
        """Delete every listed $words, or none when one id is unknown."""
        found = self._$plural.get_many(${entity}_ids)
        return [self.delete(item.id) for item in found]

    def deleted(self) -> list[$Entity]:
        """The deleted ${words_plural} that ``restore`` can bring back, oldest deletion first."""
        return list(self._deleted.values())

    def restore(self, ${entity}_id: str) -> $Entity:
        """Put a deleted $words back as it was; its unique values must still be free."""
        if ${entity}_id in self._$plural:
            raise StateError("$Entity", ${entity}_id, "is not deleted")
        if ${entity}_id not in self._deleted:
            raise NotFoundError("$Entity", ${entity}_id)
        $entity = self._deleted[${entity}_id]
        self._check_references($entity.to_dict())
        self._check_unique($entity)
        self._$plural.add(self._deleted.pop(${entity}_id))
        self._record(${entity}_id, "restored")
        self._publish("$entity.restored", {"id": ${entity}_id})
        return $entity
$ref_methods
    def _store(self, updated: $Entity, fields: list[str]) -> $Entity:
        self._check_unique(updated)
        self._$plural.update(updated)
        self._record(updated.id, "updated " + ", ".join(fields))
        self._publish("$entity.updated", {"id": updated.id, "fields": fields})
        return updated

    def _record(self, ${entity}_id: str, what: str) -> None:
        self._history.setdefault(${entity}_id, []).append(what)

    def _check_unique(self, $entity: $Entity) -> None:
        for field_name in UNIQUE_FIELDS:
            if self._$plural.value_taken(field_name, getattr($entity, field_name), except_id=$entity.id):
                raise ConflictError("$Entity", $entity.id, f"{field_name} already used")

    def _check_references(self, values: Mapping[str, Any]) -> None:
$checks'''

_REF_METHODS = '''
def for_$ref(self, ${ref}_id: str) -> list[$Entity]:
    """The ${words_plural} of one ${ref_words}; an unknown ${ref_words} is a NotFoundError, not an empty list."""
    if ${ref}_id not in self._$refs:
        raise NotFoundError("$Ref", ${ref}_id)
    return self._$plural.for_$ref(${ref}_id)

def reassign_$ref(self, from_id: str, to_id: str) -> list[$Entity]:
    """Move every $words of one ${ref_words} to another (e.g. before deleting the first)."""
    if to_id not in self._$refs:
        raise NotFoundError("$Ref", to_id)
    return [self._store(item.with_changes(${ref}_id=to_id), ["${ref}_id"]) for item in self.for_$ref(from_id)]
'''


def _ref_methods(entity: EntityInfo, ref: EntityInfo) -> str:
    return render(
        _REF_METHODS, ref=ref.snake, refs=plural(ref.snake), Ref=ref.name, ref_words=title_words(ref.name),
        Entity=entity.name, words=title_words(entity.name), plural=plural(entity.snake),
    )  # fmt: skip


def service_source(package: str, entity: EntityInfo, project: Project) -> str:
    refs = ref_entities(entity, project)
    checks = "".join(
        f'        if "{ref.snake}_id" in values and values["{ref.snake}_id"] not in self._{plural(ref.snake)}:\n'
        f'            raise NotFoundError("{ref.name}", str(values["{ref.snake}_id"]))\n'
        for ref in refs
    )
    ref_methods = "".join("\n" + indent(_ref_methods(entity, ref), "    ") for ref in refs)
    unique = [f"``{name}``" for name in unique_fields(entity)]
    return render(
        _SERVICE,
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake),
        imports="".join(
            f"from {package}.repositories.{ref.snake}_repository import {ref.name}Repository\n" for ref in refs
        ),
        params="".join(f"        {plural(ref.snake)}: {ref.name}Repository,\n" for ref in refs),
        assigns="".join(f"        self._{plural(ref.snake)} = {plural(ref.snake)}\n" for ref in refs),
        checks=checks
        or f'        """Nothing to check: {with_article(title_words(entity.name))} refers to no other entity."""\n',
        ref_methods=ref_methods,
        unique_rule=" and ".join(unique) + " values",
    )  # fmt: skip


def service_files(package: str, entity: EntityInfo, project: Project) -> dict[str, str]:
    return {
        f"{package}/services/{entity.snake}_service.py": service_source(package, entity, project),
        f"tests/test_{entity.snake}_service.py": service_tests(package, entity, project),
    }
