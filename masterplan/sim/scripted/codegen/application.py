"""The wired application of a generated project: services on shared storage, cross-entity rules, tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import kwargs, plural, render
from masterplan.sim.scripted.entities import EntityInfo, Project

_APP = '''
"""The whole application: one repository and one service per entity, sharing an event bus.

``Application`` also keeps the rules that span entities. ``REFERENCES`` says which entity
points at which; ``references_to`` finds what still points at an entity, and ``safe_delete``
refuses to delete one that others still refer to (there is no cascading delete: it would
hide data loss). ``dangling_references`` finds references that point at nothing, e.g. after
an import. ``snapshot`` and ``restore`` copy every repository at once, for backups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from $package.core.errors import ConflictError
from $package.core.events import AuditLog, EventBus, EventCounter
from $package.repositories.base import InMemoryRepository
$imports

ENTITIES = $entities
REFERENCES: dict[str, dict[str, str]] = {
$references
}
"""For each entity, its reference fields and the entity each points at."""


def _pointing_at(repository: InMemoryRepository[Any], field_name: str, target_id: str) -> list[str]:
    return [item.id for item in repository.filter(lambda item: getattr(item, field_name) == target_id)]


@dataclass
class Application:
    bus: EventBus = field(default_factory=EventBus)
$fields$services    audit: AuditLog = field(init=False)
    events: EventCounter = field(init=False)

    def __post_init__(self) -> None:
        self.audit = AuditLog(self.bus)
        self.events = EventCounter(self.bus)
$wiring
    def repository_for(self, entity: str) -> InMemoryRepository[Any]:
        """The repository of an entity, by class name; an unknown name is a ValueError listing the known ones."""
        repositories: dict[str, InMemoryRepository[Any]] = {
$repositories
        }
        if entity not in repositories:
            raise ValueError(f"unknown entity {entity!r}; entities are {', '.join(ENTITIES)}")
        return repositories[entity]

    def service_for(self, entity: str) -> Any:
        """The service of an entity, by class name."""
        services: dict[str, Any] = {
$service_map
        }
        if entity not in services:
            raise ValueError(f"unknown entity {entity!r}; entities are {', '.join(ENTITIES)}")
        return services[entity]

    def counts(self) -> dict[str, int]:
        """How many of each entity are stored."""
        return {entity: self.repository_for(entity).count() for entity in ENTITIES}

    def references_to(self, entity: str, entity_id: str) -> list[tuple[str, str]]:
        """``(entity, id)`` of everything that refers to one entity, in entity order."""
        self.repository_for(entity)
        found: list[tuple[str, str]] = []
        for other, fields_of_other in REFERENCES.items():
            for field_name, target in fields_of_other.items():
                if target == entity:
                    referring = _pointing_at(self.repository_for(other), field_name, entity_id)
                    found += [(other, item_id) for item_id in referring]
        return found

    def safe_delete(self, entity: str, entity_id: str) -> Any:
        """Delete through the entity's service, unless something still refers to it (a ConflictError naming it)."""
        blockers = self.references_to(entity, entity_id)
        if blockers:
            other, other_id = blockers[0]
            reason = f"still referred to by {other} {other_id} ({len(blockers)} reference(s) in all)"
            raise ConflictError(entity, entity_id, reason)
        return self.service_for(entity).delete(entity_id)

    def dangling_references(self) -> list[str]:
        """Every reference to a missing entity, as ``"Entity id.field -> missing-id"``; empty when consistent."""
        problems: list[str] = []
        for entity, fields_of_entity in REFERENCES.items():
            for item in self.repository_for(entity).list():
                for field_name, target in fields_of_entity.items():
                    target_id = getattr(item, field_name)
                    if target_id not in self.repository_for(target):
                        problems.append(f"{entity} {item.id}.{field_name} -> {target_id}")
        return problems

    def snapshot(self) -> dict[str, list[Any]]:
        """Every stored entity, by entity name; ``restore`` puts exactly these back."""
        return {entity: self.repository_for(entity).snapshot() for entity in ENTITIES}

    def restore(self, snapshot: dict[str, list[Any]]) -> None:
        missing = [entity for entity in ENTITIES if entity not in snapshot]
        if missing:
            raise ValueError(f"the snapshot lacks {', '.join(missing)}")
        for entity in ENTITIES:
            self.repository_for(entity).restore(snapshot[entity])

    def summary(self) -> str:
        """One line per entity with its count, then how many events were published."""
        lines = [f"{entity}: {count}" for entity, count in self.counts().items()]
        return "\\n".join([*lines, f"events: {self.events.total()}"])


def build_application() -> Application:
    return Application()
'''

_TESTS = '''
"""The wired application: services on shared repositories and bus, and the rules across entities."""

from datetime import datetime
from typing import Any

import pytest

from $package.app import ENTITIES, REFERENCES, Application, build_application
from $package.core.errors import ConflictError


def create_everything(app: Application) -> dict[str, Any]:
    """One entity of each kind, each referring to the ones created before it."""
    created: dict[str, Any] = {}
$creations
    return created


def test_a_fresh_application_is_empty() -> None:
    app = build_application()
    assert set(app.counts().values()) == {0}
    assert app.bus.history == []
    assert app.dangling_references() == []


def test_every_entity_can_be_created_with_its_references() -> None:
    app = build_application()
    create_everything(app)
    assert set(app.counts().values()) == {1}
    assert len(app.audit.lines) == $count
    assert all(line.split()[0].endswith(".created") for line in app.audit.lines)
    assert app.events.total() == $count
    assert app.dangling_references() == []


def test_applications_do_not_share_state() -> None:
    first, second = build_application(), build_application()
    assert first.bus is not second.bus
    create_everything(first)
    assert set(second.counts().values()) == {0}


def test_entities_are_looked_up_by_name() -> None:
    app = build_application()
    for entity in ENTITIES:
        assert app.repository_for(entity).count() == 0
        assert app.service_for(entity).list() == []
    with pytest.raises(ValueError, match="unknown entity 'Nothing'"):
        app.repository_for("Nothing")
    with pytest.raises(ValueError, match="unknown entity"):
        app.service_for("Nothing")


def test_references_name_existing_entities() -> None:
    for fields_of_entity in REFERENCES.values():
        assert set(fields_of_entity.values()) <= set(ENTITIES)


def test_safe_delete_refuses_entities_still_referred_to() -> None:
    app = build_application()
    created = create_everything(app)
    refused = 0
    for entity in ENTITIES:
        target = created[entity]
        if not app.service_for(entity).exists(target.id):
            continue
        blockers = app.references_to(entity, target.id)
        if blockers:
            refused += 1
            with pytest.raises(ConflictError, match="still referred to by"):
                app.safe_delete(entity, target.id)
        for other, other_id in blockers:
            app.service_for(other).delete(other_id)
        assert app.safe_delete(entity, target.id) == target
    assert set(app.counts().values()) == {0}
    assert refused == $refused


def test_snapshot_and_restore_bring_everything_back() -> None:
    app = build_application()
    create_everything(app)
    saved = app.snapshot()
    for entity in ENTITIES:
        app.repository_for(entity).clear()
    app.restore(saved)
    assert set(app.counts().values()) == {1}
    with pytest.raises(ValueError, match="lacks"):
        app.restore({})


def test_the_summary_has_a_line_per_entity_and_the_event_count() -> None:
    app = build_application()
    create_everything(app)
    lines = app.summary().splitlines()
    assert lines[:-1] == [f"{entity}: 1" for entity in ENTITIES]
    assert lines[-1] == "events: $count"
'''

_DANGLING_TEST = """

def test_deleting_past_the_rules_leaves_dangling_references_that_are_reported() -> None:
    app = build_application()
    created = create_everything(app)
    app.service_for("$target").delete(created["$target"].id)
    assert f"$entity {created['$entity'].id}.$field -> {created['$target'].id}" in app.dangling_references()
"""


def _creations(project: Project) -> str:
    lines = []
    for e in project.entities:
        plain = "\n".join(
            line for line in kwargs(e, 1, "        ").split("\n") if not any(f" {r}_id=" in line for r in e.refs)
        )
        refs = "".join(f'        {ref}_id=created["{_name(project, ref)}"].id,\n' for ref in e.refs)
        lines.append(f'    created["{e.name}"] = app.{e.snake}_service.create(\n{plain}\n{refs}    )\n')
    return "".join(lines).rstrip("\n")


def _name(project: Project, snake_name: str) -> str:
    found = project.entity(snake_name)
    return found.name if found is not None else snake_name


def _first_reference(project: Project) -> tuple[EntityInfo, str, str] | None:
    for e in project.entities:
        for attr in e.attrs:
            if attr.ref is not None:
                return e, attr.name, _name(project, attr.ref)
    return None


def _refusals(project: Project) -> int:
    """How many safe deletes the test sees refused: it deletes in entity order, blockers first."""
    referrers = {e.name: {_name(project, ref) for ref in e.refs} for e in project.entities}
    existing = [e.name for e in project.entities]
    refused = 0
    for name in [e.name for e in project.entities]:
        if name not in existing:
            continue
        blockers = [other for other in existing if name in referrers[other]]
        refused += 1 if blockers else 0
        existing = [other for other in existing if other not in blockers and other != name]
    return refused


def app_files(package: str, project: Project) -> dict[str, str]:
    entities = project.entities
    wiring = "".join(
        f"        self.{e.snake}_service = {e.name}Service(\n"
        f"            self.{plural(e.snake)},"
        + "".join(f" self.{plural(ref)}," for ref in e.refs)
        + " publish=self.bus.publish\n        )\n"
        for e in entities
    )
    source = render(
        _APP, package=package, wiring=wiring,
        imports="".join(
            f"from {package}.repositories.{e.snake}_repository import {e.name}Repository\n"
            f"from {package}.services.{e.snake}_service import {e.name}Service\n"
            for e in entities
        ),
        entities=repr(tuple(e.name for e in entities)),
        references="\n".join(
            f'    "{e.name}": {{' + ", ".join(f'"{a.name}": "{_name(project, a.ref)}"' for a in e.attrs if a.ref) + "},"
            for e in entities
        ),
        fields="".join(
            f"    {plural(e.snake)}: {e.name}Repository = field(default_factory={e.name}Repository)\n" for e in entities
        ),
        services="".join(f"    {e.snake}_service: {e.name}Service = field(init=False)\n" for e in entities),
        repositories="\n".join(f'            "{e.name}": self.{plural(e.snake)},' for e in entities),
        service_map="\n".join(f'            "{e.name}": self.{e.snake}_service,' for e in entities),
    )  # fmt: skip
    tests = render(
        _TESTS, package=package, creations=_creations(project), count=str(len(entities)),
        refused=str(_refusals(project)),
    )  # fmt: skip
    reference = _first_reference(project)
    if reference is not None:
        entity, field_name, target = reference
        tests += render(_DANGLING_TEST, entity=entity.name, field=field_name, target=target)
    return {f"{package}/app.py": source, "tests/test_app.py": tests}
