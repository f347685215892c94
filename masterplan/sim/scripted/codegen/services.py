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


def _ref_setup(package: str, entity: EntityInfo, project: Project) -> tuple[str, str, str, str]:
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
    imports, setup, args, _ = _ref_setup(package, entity, project)
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


def api_source(package: str, entity: EntityInfo) -> str:
    return render(
        '''
        """JSON handlers for ${words}s, independent of any web framework.

        Each handler takes decoded JSON and returns ``(status, body)``; domain errors become
        400 (validation), 404 (not found) and 409 (conflict) with a body naming the problem.
        """

        from __future__ import annotations

        from collections.abc import Callable, Mapping
        from datetime import datetime
        from typing import Any

        from $package.core.errors import ConflictError, DomainError, NotFoundError, ValidationError
        from $package.models.$entity import DATETIME_FIELDS, $Entity
        from $package.services.${entity}_service import ${Entity}Service

        Response = tuple[int, dict[str, Any]]


        def _decode(body: Mapping[str, Any]) -> dict[str, Any]:
            values = dict(body)
            for name in DATETIME_FIELDS:
                if isinstance(values.get(name), str):
                    try:
                        values[name] = datetime.fromisoformat(values[name])
                    except ValueError:
                        raise ValidationError("$Entity", [f"{name} must be a datetime"]) from None
            return values


        def _error(error: DomainError) -> Response:
            if isinstance(error, ValidationError):
                return 400, {"error": "validation", "problems": error.problems}
            if isinstance(error, NotFoundError):
                return 404, {"error": "not_found", "message": str(error)}
            if isinstance(error, ConflictError):
                return 409, {"error": "conflict", "message": str(error)}
            return 400, {"error": "domain", "message": str(error)}


        class ${Entity}Handlers:
            def __init__(self, service: ${Entity}Service) -> None:
                self._service = service

            def _guard(self, action: Callable[[], Response]) -> Response:
                try:
                    return action()
                except TypeError as error:
                    return 400, {"error": "validation", "problems": [str(error)]}
                except DomainError as error:
                    return _error(error)

            def create(self, body: Mapping[str, Any]) -> Response:
                if "id" in body:
                    return 400, {"error": "validation", "problems": ["id is assigned by the server"]}
                return self._guard(lambda: (201, self._service.create(**_decode(body)).to_dict()))

            def show(self, ${entity}_id: str) -> Response:
                return self._guard(lambda: (200, self._service.get(${entity}_id).to_dict()))

            def index(self, query: Mapping[str, str] | None = None) -> Response:
                text = (query or {}).get("name", "").casefold()
                items = [item.to_dict() for item in self._service.list() if text in item.name.casefold()]
                return 200, {"items": items, "count": len(items)}

            def patch(self, ${entity}_id: str, body: Mapping[str, Any]) -> Response:
                return self._guard(lambda: (200, self._service.update(${entity}_id, **_decode(body)).to_dict()))

            def destroy(self, ${entity}_id: str) -> Response:
                return self._guard(lambda: (204, {"deleted": self._service.delete(${entity}_id).id}))


        class ${Entity}Router:
            """Maps ``(method, path)`` to the handlers: ``/$plural`` and ``/$plural/<id>``."""

            def __init__(self, handlers: ${Entity}Handlers) -> None:
                self._handlers = handlers

            def dispatch(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Response:
                parts = [part for part in path.split("?")[0].split("/") if part]
                query = dict(pair.split("=", 1) for pair in path.partition("?")[2].split("&") if "=" in pair)
                if not parts or parts[0] != "$plural" or len(parts) > 2:
                    return 404, {"error": "not_found", "message": f"no route for {path}"}
                verb = method.upper()
                if len(parts) == 1:
                    if verb == "GET":
                        return self._handlers.index(query)
                    if verb == "POST":
                        return self._handlers.create(body or {})
                    return 405, {"error": "method_not_allowed", "allowed": ["GET", "POST"]}
                item_id = parts[1]
                if verb == "GET":
                    return self._handlers.show(item_id)
                if verb == "PATCH":
                    return self._handlers.patch(item_id, body or {})
                if verb == "DELETE":
                    return self._handlers.destroy(item_id)
                return 405, {"error": "method_not_allowed", "allowed": ["GET", "PATCH", "DELETE"]}


        def as_entity(body: Mapping[str, Any]) -> $Entity:
            """Decode a full JSON body (with id) into a $words."""
            return $Entity.from_dict(body)
        ''',
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake),
    )  # fmt: skip


def api_tests(package: str, entity: EntityInfo, project: Project) -> str:
    imports, setup, args, _ = _ref_setup(package, entity, project)
    return render(
        '''
        """The $Entity JSON handlers: statuses and bodies."""

        from datetime import datetime
        from typing import Any

        import pytest

        from $package.api.${entity}_handlers import ${Entity}Handlers, ${Entity}Router, as_entity
        from $package.models.$entity import $Entity
        from $package.repositories.${entity}_repository import ${Entity}Repository
        from $package.services.${entity}_service import ${Entity}Service
        $imports

        def body(n: int = 1, **overrides: Any) -> dict[str, Any]:
            data = $Entity(
        $kwargs
            ).to_dict()
            del data["id"]
            data["name"] = f"$Entity {n}"
            data.update(overrides)
            return data


        @pytest.fixture
        def handlers() -> ${Entity}Handlers:
        $setup    return ${Entity}Handlers(${Entity}Service(${Entity}Repository()$args))


        def test_create_answers_201_with_the_stored_${entity}(handlers: ${Entity}Handlers) -> None:
            status, created = handlers.create(body())
            assert status == 201
            assert created["name"] == "$Entity 1"
            assert handlers.show(created["id"]) == (200, created)
            assert as_entity(created).id == created["id"]


        def test_invalid_bodies_answer_400_with_the_problems(handlers: ${Entity}Handlers) -> None:
            status, error = handlers.create(body(name=""))
            assert status == 400
            assert error["error"] == "validation"
            assert any(problem.startswith("name") for problem in error["problems"])
            assert handlers.create({**body(), "id": "x"})[0] == 400
            assert handlers.create({**body(), "colour": "blue"})[0] == 400


        def test_unknown_ids_answer_404(handlers: ${Entity}Handlers) -> None:
            assert handlers.show("$entity-404")[0] == 404
            assert handlers.patch("$entity-404", {"name": "x"})[0] == 404
            assert handlers.destroy("$entity-404")[0] == 404


        def test_duplicate_names_answer_409(handlers: ${Entity}Handlers) -> None:
            handlers.create(body(1))
            status, error = handlers.create(body(1))
            assert status == 409
            assert error["error"] == "conflict"


        def test_index_lists_and_filters_by_name(handlers: ${Entity}Handlers) -> None:
            for n in (1, 2, 12):
                handlers.create(body(n))
            assert handlers.index()[1]["count"] == 3
            status, found = handlers.index({"name": "$Entity 1"})
            assert status == 200
            assert [item["name"] for item in found["items"]] == ["$Entity 1", "$Entity 12"]


        def test_the_router_maps_methods_and_paths(handlers: ${Entity}Handlers) -> None:
            router = ${Entity}Router(handlers)
            status, created = router.dispatch("POST", "/$plural", body())
            assert status == 201
            assert router.dispatch("GET", f"/$plural/{created['id']}") == (200, created)
            assert router.dispatch("GET", "/$plural?name=$Entity")[1]["count"] == 1
            assert router.dispatch("PATCH", f"/$plural/{created['id']}", {"name": "Routed"})[1]["name"] == "Routed"
            assert router.dispatch("DELETE", f"/$plural/{created['id']}")[0] == 204


        @pytest.mark.parametrize(
            ("method", "path", "status"),
            [
                ("GET", "/elsewhere", 404),
                ("GET", "/$plural/a/b", 404),
                ("PUT", "/$plural", 405),
                ("POST", "/$plural/x", 405),
            ],
        )
        def test_the_router_refuses_unknown_routes(
            handlers: ${Entity}Handlers, method: str, path: str, status: int
        ) -> None:
            assert ${Entity}Router(handlers).dispatch(method, path)[0] == status


        def test_patch_changes_fields_and_destroy_deletes(handlers: ${Entity}Handlers) -> None:
            _, created = handlers.create(body())
            status, patched = handlers.patch(created["id"], {"name": "Patched"})
            assert (status, patched["name"]) == (200, "Patched")
            assert handlers.destroy(created["id"]) == (204, {"deleted": created["id"]})
            assert handlers.index()[1]["count"] == 0
        ''',
        package=package, Entity=entity.name, entity=entity.snake, imports=imports, setup=setup, args=args,
        kwargs=kwargs(entity, 1, "        "), plural=plural(entity.snake),
    )  # fmt: skip


def api_files(package: str, entity: EntityInfo, project: Project) -> dict[str, str]:
    return {
        f"{package}/api/{entity.snake}_handlers.py": api_source(package, entity),
        f"tests/test_{entity.snake}_api.py": api_tests(package, entity, project),
    }
