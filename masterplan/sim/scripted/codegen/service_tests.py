"""The tests of an entity service: rules, batches, restore, per-kind changes and references."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import code_prefix, kwargs, plural, render, sample, unique_fields
from masterplan.sim.scripted.entities import Attr, EntityInfo, Project


def ref_entities(entity: EntityInfo, project: Project) -> list[EntityInfo]:
    found = [project.entity(ref) for ref in entity.refs]
    return [ref for ref in found if ref is not None]


def ref_setup(package: str, entity: EntityInfo, project: Project) -> tuple[str, str, str]:
    """Imports, fixture lines (two stored entities per reference) and constructor arguments."""
    refs = ref_entities(entity, project)
    imports = "".join(
        f"from {package}.models.{ref.snake} import {ref.name}\n"
        f"from {package}.repositories.{ref.snake}_repository import {ref.name}Repository\n"
        for ref in refs
    )
    setup = "".join(
        f"    {plural(ref.snake)} = {ref.name}Repository()\n"
        f"    for n in (1, 2):\n"
        f"        {plural(ref.snake)}.add({ref.name}(\n{kwargs(ref, 1, '            ')}\n"
        f'            id=f"{ref.snake}-{{n}}",\n        ))\n'
        for ref in refs
    )
    args = "".join(f", {plural(ref.snake)}" for ref in refs)
    return imports, setup, args


def unique_overrides(entity: EntityInfo, indent: str = "    ") -> str:
    """Lines that give row ``n`` its own value of every unique field but the name."""
    prefix = code_prefix(entity)
    return "".join(
        f'{indent}data["code"] = f"{prefix}-{{n:03d}}"\n' for name in unique_fields(entity) if name == "code"
    )


_TESTS = '''
"""The $Entity service: rules, batches, restore and events."""

from datetime import datetime
from typing import Any

import pytest

from $package.core.errors import ConflictError, NotFoundError, StateError, ValidationError
from $package.repositories.${entity}_repository import ${Entity}Repository
from $package.services.${entity}_service import ${Entity}Service
$imports

def values(n: int, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(
$kwargs
    )
    data["name"] = f"$Entity number {n}"
$unique_overrides    data.update(overrides)
    return data


@pytest.fixture
def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def service(events: list[tuple[str, dict[str, Any]]]) -> ${Entity}Service:
$setup    repository = ${Entity}Repository()
    return ${Entity}Service(repository$args, publish=lambda kind, data: events.append((kind, data)))


def test_create_stores_the_${entity}_and_publishes_an_event(service: ${Entity}Service, events: list) -> None:
    created = service.create(**values(1))
    assert service.get(created.id) == created
    assert events == [("$entity.created", {"id": created.id, "name": "$Entity number 1"})]


def test_names_are_unique_ignoring_case(service: ${Entity}Service) -> None:
    service.create(**values(1))
    with pytest.raises(ConflictError, match="name already used"):
        service.create(**values(2, name="${Entity} NUMBER 1"))


def test_invalid_values_are_refused_before_storing(service: ${Entity}Service) -> None:
    with pytest.raises(ValidationError):
        service.create(**values(1, name=" "))
    assert service.list() == []


def test_get_many_count_and_exists(service: ${Entity}Service) -> None:
    first, second = service.create_many([values(1), values(2)])
    assert service.get_many([second.id, first.id]) == [second, first]
    assert service.count() == 2
    assert service.exists(first.id)
    assert not service.exists("$entity-missing")
    with pytest.raises(NotFoundError):
        service.get_many([first.id, "$entity-missing"])


def test_ensure_returns_the_stored_one_or_creates_it(service: ${Entity}Service, events: list) -> None:
    created, was_new = service.ensure(**values(1))
    again, again_new = service.ensure(**values(1, name="$Entity NUMBER 1"))
    assert (was_new, again_new) == (True, False)
    assert again == created
    assert len(events) == 1


def test_update_validates_and_publishes_the_changed_fields(service: ${Entity}Service, events: list) -> None:
    created = service.create(**values(1))
    updated = service.update(created.id, name="Renamed")
    assert updated.name == "Renamed"
    assert service.get(created.id).name == "Renamed"
    assert events[-1] == ("$entity.updated", {"id": created.id, "fields": ["name"]})
    with pytest.raises(ValidationError):
        service.update(created.id, name="")


def test_rename_to_a_used_name_is_a_conflict(service: ${Entity}Service) -> None:
    first = service.create(**values(1))
    second = service.create(**values(2))
    with pytest.raises(ConflictError):
        service.rename(second.id, first.name)
    assert service.rename(first.id, first.name.upper()).name == first.name.upper()


def test_delete_removes_and_publishes(service: ${Entity}Service, events: list) -> None:
    created = service.create(**values(1))
    assert service.delete(created.id) == created
    assert service.list() == []
    assert events[-1] == ("$entity.deleted", {"id": created.id})
    with pytest.raises(NotFoundError):
        service.get(created.id)


def test_delete_many_deletes_all_or_none(service: ${Entity}Service) -> None:
    first, second = service.create_many([values(1), values(2)])
    with pytest.raises(NotFoundError):
        service.delete_many([first.id, "$entity-missing"])
    assert service.count() == 2
    assert service.delete_many([first.id, second.id]) == [first, second]
    assert service.list() == []


def test_a_deleted_${entity}_can_be_restored(service: ${Entity}Service, events: list) -> None:
    created = service.create(**values(1))
    with pytest.raises(StateError, match="is not deleted"):
        service.restore(created.id)
    service.delete(created.id)
    assert service.deleted() == [created]
    assert service.restore(created.id) == created
    assert service.get(created.id) == created
    assert service.deleted() == []
    assert events[-1] == ("$entity.restored", {"id": created.id})
    assert service.history(created.id) == ["created", "deleted", "restored"]
    with pytest.raises(NotFoundError):
        service.restore("$entity-missing")


def test_restore_refuses_when_the_name_was_taken_meanwhile(service: ${Entity}Service) -> None:
    created = service.create(**values(1))
    service.delete(created.id)
    service.create(**values(2, name=created.name))
    with pytest.raises(ConflictError, match="name already used"):
        service.restore(created.id)
    assert service.deleted() == [created]


def test_create_many_stores_every_row(service: ${Entity}Service, events: list) -> None:
    created = service.create_many([values(1), values(2), values(3)])
    assert [item.name for item in created] == ["$Entity number 1", "$Entity number 2", "$Entity number 3"]
    assert len(events) == 3


def test_create_many_stores_nothing_when_one_row_is_bad(service: ${Entity}Service) -> None:
    with pytest.raises(ValidationError):
        service.create_many([values(1), values(2, name="")])
    with pytest.raises(ConflictError, match="repeated"):
        service.create_many([values(1), values(1)])
    service.create(**values(3))
    with pytest.raises(ConflictError, match="already used"):
        service.create_many([values(4), values(3)])
    assert [item.name for item in service.list()] == ["$Entity number 3"]


def test_find_matches_part_of_the_name(service: ${Entity}Service) -> None:
    service.create_many([values(1), values(2), values(12)])
    assert [item.name for item in service.find("NUMBER 1")] == ["$Entity number 1", "$Entity number 12"]
    assert service.find("nothing") == []


def test_history_tells_what_happened(service: ${Entity}Service) -> None:
    created = service.create(**values(1))
    service.rename(created.id, "Renamed")
    service.delete(created.id)
    assert service.history(created.id) == ["created", "updated name", "deleted"]
    assert service.history("$entity-missing") == []


def test_unknown_ids_raise_not_found(service: ${Entity}Service) -> None:
    for action in (service.get, service.delete, lambda i: service.rename(i, "x")):
        with pytest.raises(NotFoundError):
            action("$entity-missing")
'''

_CODE_TEST = """

def test_codes_are_unique_too(service: ${Entity}Service) -> None:
    first = service.create(**values(1))
    with pytest.raises(ConflictError, match="code already used"):
        service.create(**values(2, code=first.code))
    second = service.create(**values(2))
    with pytest.raises(ConflictError, match="code already used"):
        service.update(second.id, code=first.code)
    with pytest.raises(ConflictError, match="code repeated in the batch"):
        service.create_many([values(3), values(4, code="${prefix}-003")])
"""

_UPDATE_MANY_TEST = """

def test_update_many_changes_every_one_or_none(service: ${Entity}Service) -> None:
    first, second, third = service.create_many([values(1), values(2), values(3)])
    changed = service.update_many([first.id, second.id], $field=$value)
    assert [item.$field for item in changed] == [$value, $value]
    with pytest.raises(NotFoundError):
        service.update_many([third.id, "$entity-missing"], $field=$value)
    assert service.get(third.id) == third
    with pytest.raises(ConflictError, match="unique field"):
        service.update_many([first.id, second.id], name="Same name")
"""

_KIND_TESTS = {
    "bool": """

def test_toggle_flips_a_flag_and_publishes(service: ${Entity}Service, events: list) -> None:
    created = service.create(**values(1))
    assert service.toggle(created.id, "$field").$field is not created.$field
    assert events[-1] == ("$entity.updated", {"id": created.id, "fields": ["$field"]})
""",
    "int": """

def test_adjust_moves_a_whole_number_within_its_range(service: ${Entity}Service) -> None:
    created = service.create(**values(1))
    assert service.adjust(created.id, "$field", 1).$field == created.$field + 1
    with pytest.raises(ValidationError, match="$field"):
        service.adjust(created.id, "$field", -100)
    assert service.history(created.id) == ["created", "updated $field"]
""",
    "list[str]": """

def test_list_items_are_added_and_removed(service: ${Entity}Service) -> None:
    created = service.create(**values(1))
    assert service.add_items(created.id, "$field", "gamma").$field == ["alpha1", "beta1", "gamma"]
    assert service.remove_items(created.id, "$field", "alpha1").$field == ["beta1", "gamma"]
""",
}

_REF_TEST = """

def test_${ref}_listing_and_reassignment(service: ${Entity}Service) -> None:
    first, second = service.create_many([values(1), values(2)])
    assert service.for_$ref("$ref-1") == [first, second]
    moved = service.reassign_$ref("$ref-1", "$ref-2")
    assert [item.${ref}_id for item in moved] == ["$ref-2", "$ref-2"]
    assert service.for_$ref("$ref-1") == []
    assert service.history(first.id)[-1] == "updated ${ref}_id"
    with pytest.raises(NotFoundError, match="$Ref"):
        service.for_$ref("$ref-missing")
    with pytest.raises(NotFoundError, match="$Ref"):
        service.reassign_$ref("$ref-2", "$ref-missing")
    with pytest.raises(NotFoundError, match="$Ref"):
        service.create(**values(3, ${ref}_id="$ref-missing"))
"""


def _plain_attr(entity: EntityInfo) -> Attr | None:
    """An attribute a batch may set to one value: not unique, not a reference."""
    unique = unique_fields(entity)
    return next((a for a in entity.attrs if a.ref is None and a.name not in unique), None)


def _extra_tests(entity: EntityInfo, project: Project) -> str:
    names = {"Entity": entity.name, "entity": entity.snake}
    blocks = []
    if "code" in unique_fields(entity):
        blocks.append(render(_CODE_TEST, prefix=code_prefix(entity), **names))
    plain = _plain_attr(entity)
    if plain is not None:
        blocks.append(render(_UPDATE_MANY_TEST, field=plain.name, value=sample(entity, plain, 2), **names))
    for kind, template in _KIND_TESTS.items():
        first = next((a for a in entity.attrs if a.type == kind and a.ref is None), None)
        if first is not None:
            blocks.append(render(template, field=first.name, **names))
    blocks += [render(_REF_TEST, ref=ref.snake, Ref=ref.name, **names) for ref in ref_entities(entity, project)]
    return "".join(blocks)


def service_tests(package: str, entity: EntityInfo, project: Project) -> str:
    imports, setup, args = ref_setup(package, entity, project)
    return render(
        _TESTS, package=package, Entity=entity.name, entity=entity.snake, imports=imports, setup=setup, args=args,
        kwargs=kwargs(entity, 1, "        "), unique_overrides=unique_overrides(entity),
    ) + _extra_tests(entity, project)  # fmt: skip
