"""The entity JSON handlers and router, and their tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.services import ref_setup
from masterplan.sim.scripted.codegen.values import kwargs, plural, render
from masterplan.sim.scripted.entities import EntityInfo, Project
from masterplan.sim.scripted.naming import title_words


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
    imports, setup, args, _ = ref_setup(package, entity, project)
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
