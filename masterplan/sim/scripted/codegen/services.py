"""The entity service (use cases, reference checks, events), its JSON handlers, and their tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import kwargs, plural, render
from masterplan.sim.scripted.entities import EntityInfo, Project
from masterplan.sim.scripted.naming import pascal, title_words


def _ref_entities(entity: EntityInfo, project: Project) -> list[EntityInfo]:
    found = [project.entity(ref) for ref in entity.refs]
    return [ref for ref in found if ref is not None]


def service_source(package: str, entity: EntityInfo, project: Project) -> str:
    refs = _ref_entities(entity, project)
    imports = "".join(
        f"from {package}.repositories.{ref.snake}_repository import {ref.name}Repository\n" for ref in refs
    )
    params = "".join(f"        {plural(ref.snake)}: {ref.name}Repository,\n" for ref in refs)
    assigns = "".join(f"        self._{plural(ref.snake)} = {plural(ref.snake)}\n" for ref in refs)
    checks = (
        "".join(
            f'        if "{ref.snake}_id" in values and values["{ref.snake}_id"] not in self._{plural(ref.snake)}:\n'
            f'            raise NotFoundError("{ref.name}", str(values["{ref.snake}_id"]))\n'
            for ref in refs
        )
        or "        return\n"
    )
    return render(
        '''
        """Use cases for ${words}s: create, read, update, rename and delete, with their rules.

        Rules: names are unique (ignoring case); references to other entities must exist;
        every change publishes an event (``$entity.created``, ``$entity.updated``, ``$entity.deleted``).
        """

        from __future__ import annotations

        from collections.abc import Callable
        from typing import Any

        from $package.core.errors import ConflictError, NotFoundError
        from $package.models.$entity import $Entity
        from $package.repositories.${entity}_repository import ${Entity}Repository
        $imports
        Publish = Callable[[str, dict[str, Any]], object]


        def _ignore(kind: str, data: dict[str, Any]) -> None:
            """The default publisher: events go nowhere."""


        class ${Entity}Service:
            def __init__(
                self,
                $plural: ${Entity}Repository,
        $params        publish: Publish = _ignore,
            ) -> None:
                self._$plural = $plural
        $assigns        self._publish = publish
                self._history: dict[str, list[str]] = {}

            def create(self, **values: Any) -> $Entity:
                """A new $words from ``values``; raises ValidationError, NotFoundError or ConflictError."""
                self._check_references(values)
                if self._$plural.name_taken(str(values.get("name", ""))):
                    raise ConflictError("$Entity", str(values.get("name")), "name already used")
                $entity = self._$plural.add($Entity(**values))
                self._record($entity.id, "created")
                self._publish("$entity.created", {"id": $entity.id, "name": $entity.name})
                return $entity

            def create_many(self, rows: list[dict[str, Any]]) -> list[$Entity]:
                """Create every row or none: all rows are checked before the first is stored."""
                names = [str(row.get("name", "")).strip().casefold() for row in rows]
                duplicates = sorted({name for name in names if names.count(name) > 1})
                if duplicates:
                    raise ConflictError("$Entity", duplicates[0], "name repeated in the batch")
                for row in rows:
                    self._check_references(row)
                    $Entity(**row)
                    if self._$plural.name_taken(str(row.get("name", ""))):
                        raise ConflictError("$Entity", str(row.get("name")), "name already used")
                return [self.create(**row) for row in rows]

            def find(self, text: str) -> list[$Entity]:
                """The ${words}s whose name contains ``text``, ignoring case."""
                wanted = text.strip().casefold()
                return [item for item in self._$plural.list() if wanted in item.name.casefold()]

            def history(self, ${entity}_id: str) -> list[str]:
                """What happened to one $words, oldest first (``created``, ``updated name``, ``deleted``)."""
                return list(self._history.get(${entity}_id, []))

            def _record(self, ${entity}_id: str, what: str) -> None:
                self._history.setdefault(${entity}_id, []).append(what)

            def get(self, ${entity}_id: str) -> $Entity:
                return self._$plural.get(${entity}_id)

            def list(self) -> list[$Entity]:
                return self._$plural.list()

            def update(self, ${entity}_id: str, **changes: Any) -> $Entity:
                """Apply ``changes`` (validated) to a stored $words."""
                current = self._$plural.get(${entity}_id)
                self._check_references(changes)
                if "name" in changes and self._$plural.name_taken(str(changes["name"]), except_id=${entity}_id):
                    raise ConflictError("$Entity", ${entity}_id, "name already used")
                updated = self._$plural.update(current.with_changes(**changes))
                self._record(${entity}_id, "updated " + ", ".join(sorted(changes)))
                self._publish("$entity.updated", {"id": ${entity}_id, "fields": sorted(changes)})
                return updated

            def rename(self, ${entity}_id: str, name: str) -> $Entity:
                return self.update(${entity}_id, name=name)

            def delete(self, ${entity}_id: str) -> $Entity:
                removed = self._$plural.remove(${entity}_id)
                self._record(${entity}_id, "deleted")
                self._publish("$entity.deleted", {"id": ${entity}_id})
                return removed

            def _check_references(self, values: dict[str, Any]) -> None:
        $checks''',
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake), imports=imports, params=params, assigns=assigns, checks=checks,
    )  # fmt: skip


def ref_setup(package: str, entity: EntityInfo, project: Project) -> tuple[str, str, str, str]:
    """Imports, fixture lines, constructor arguments and repository names for the references."""
    refs = _ref_entities(entity, project)
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
    return imports, setup, args, ", ".join(ref.name for ref in refs)


def service_tests(package: str, entity: EntityInfo, project: Project) -> str:
    imports, setup, args, _ = ref_setup(package, entity, project)
    refs = [a for a in entity.attrs if a.ref is not None]
    missing_ref = (
        render(
            """
            def test_a_missing_${ref}_is_refused(service: ${Entity}Service) -> None:
                with pytest.raises(NotFoundError, match="$Ref"):
                    service.create(**values(1, ${attr}="${ref}-404"))
                with pytest.raises(NotFoundError):
                    service.update(service.create(**values(1)).id, ${attr}="${ref}-405")
            """,
            ref=refs[0].ref or "",
            Ref=pascal(refs[0].ref or ""),
            attr=refs[0].name,
            Entity=entity.name,
        )
        if refs
        else ""
    )
    return render(
        '''
        """The $Entity service: rules, references and events."""

        from datetime import datetime
        from typing import Any

        import pytest

        from $package.core.errors import ConflictError, NotFoundError, ValidationError
        from $package.repositories.${entity}_repository import ${Entity}Repository
        from $package.services.${entity}_service import ${Entity}Service
        $imports

        def values(n: int, **overrides: Any) -> dict[str, Any]:
            data: dict[str, Any] = dict(
        $kwargs
            )
            data["name"] = f"$Entity number {n}"
            data.update(overrides)
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
                service.create(**values(1, name="${Entity} NUMBER 1"))


        def test_invalid_values_are_refused_before_storing(service: ${Entity}Service) -> None:
            with pytest.raises(ValidationError):
                service.create(**values(1, name=" "))
            assert service.list() == []


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
            assert service.history("$entity-404") == []


        def test_unknown_ids_raise_not_found(service: ${Entity}Service) -> None:
            for action in (service.get, service.delete, lambda i: service.rename(i, "x")):
                with pytest.raises(NotFoundError):
                    action("$entity-404")

        $missing_ref''',
        package=package, Entity=entity.name, entity=entity.snake, imports=imports, setup=setup, args=args,
        kwargs=kwargs(entity, 1, "        "), missing_ref=missing_ref,
    )  # fmt: skip


def service_files(package: str, entity: EntityInfo, project: Project) -> dict[str, str]:
    return {
        f"{package}/services/{entity.snake}_service.py": service_source(package, entity, project),
        f"tests/test_{entity.snake}_service.py": service_tests(package, entity, project),
    }
