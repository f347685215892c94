"""The tests of an entity's JSON handlers and router: statuses, bodies, paging and routes."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.service_tests import ref_setup, unique_overrides
from masterplan.sim.scripted.codegen.values import kwargs, plural, render
from masterplan.sim.scripted.entities import EntityInfo, Project

_TESTS = '''
"""The $Entity JSON handlers and router: statuses and bodies."""

from datetime import datetime
from typing import Any

import pytest

from $package.api.${entity}_handlers import MAX_LIMIT, ${Entity}Handlers, ${Entity}Router, as_entity
from $package.models.$entity import REQUIRED_FIELDS, $Entity
from $package.repositories.${entity}_repository import ${Entity}Repository
from $package.services.${entity}_service import ${Entity}Service
$imports

def body(n: int = 1, **overrides: Any) -> dict[str, Any]:
    data = $Entity(
$kwargs
    ).to_dict()
    del data["id"]
    data["name"] = f"$Entity {n}"
$unique_overrides    data.update(overrides)
    return data


@pytest.fixture
def handlers() -> ${Entity}Handlers:
$setup    return ${Entity}Handlers(${Entity}Service(${Entity}Repository()$args))


@pytest.fixture
def router(handlers: ${Entity}Handlers) -> ${Entity}Router:
    return ${Entity}Router(handlers)


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
    assert handlers.show("$entity-missing")[0] == 404
    assert handlers.patch("$entity-missing", {"name": "x"})[0] == 404
    assert handlers.destroy("$entity-missing")[0] == 404
    status, error = handlers.history("$entity-missing")
    assert (status, error["error"], error["id"]) == (404, "not_found", "$entity-missing")


def test_duplicate_names_answer_409(handlers: ${Entity}Handlers) -> None:
    handlers.create(body(1))
    status, error = handlers.create(body(2, name="$Entity 1"))
    assert status == 409
    assert error["error"] == "conflict"
    assert error["reason"] == "name already used"


def test_the_schema_describes_every_field(handlers: ${Entity}Handlers) -> None:
    status, schema = handlers.schema()
    assert status == 200
    assert schema["entity"] == "$Entity"
    assert {item["name"] for item in schema["fields"] if item["required"]} == REQUIRED_FIELDS


def test_bulk_create_is_all_or_nothing(handlers: ${Entity}Handlers) -> None:
    status, created = handlers.bulk_create({"items": [body(1), body(2)]})
    assert (status, created["count"]) == (201, 2)
    status, error = handlers.bulk_create({"items": [body(3), body(4, name="")]})
    assert status == 400
    assert any(problem.startswith("name") for problem in error["problems"])
    assert handlers.index()[1]["total"] == 2
    assert handlers.bulk_create({"items": "not a list"})[0] == 400
    assert handlers.bulk_create({"items": [{**body(5), "id": "x"}]})[0] == 400


def test_index_lists_and_filters_by_name(handlers: ${Entity}Handlers) -> None:
    for n in (1, 2, 12):
        handlers.create(body(n))
    assert handlers.index()[1]["count"] == 3
    status, found = handlers.index({"name": "$Entity 1"})
    assert status == 200
    assert [item["name"] for item in found["items"]] == ["$Entity 1", "$Entity 12"]


def test_index_sorts_and_pages(handlers: ${Entity}Handlers) -> None:
    for n in (1, 2, 3):
        handlers.create(body(n))
    _, first = handlers.index({"sort": "-name", "limit": "2"})
    assert [item["name"] for item in first["items"]] == ["$Entity 3", "$Entity 2"]
    assert (first["count"], first["total"], first["offset"], first["limit"]) == (2, 3, 0, 2)
    _, rest = handlers.index({"sort": "-name", "limit": "2", "offset": "2"})
    assert [item["name"] for item in rest["items"]] == ["$Entity 1"]
    _, by_id = handlers.index({"sort": "id"})
    assert [item["name"] for item in by_id["items"]] == ["$Entity 1", "$Entity 2", "$Entity 3"]


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"sort": "colour"}, "sort must be one of"),
        ({"limit": "0"}, "limit must be between 1 and"),
        ({"limit": str(MAX_LIMIT + 1)}, "limit must be between 1 and"),
        ({"limit": "ten"}, "limit must be a whole number"),
        ({"offset": "-1"}, "offset must be a whole number"),
    ],
)
def test_bad_paging_parameters_answer_400(handlers: ${Entity}Handlers, query: dict, problem: str) -> None:
    status, error = handlers.index(query)
    assert status == 400
    assert error["problems"][0].startswith(problem)


def test_put_needs_every_required_field(handlers: ${Entity}Handlers) -> None:
    _, created = handlers.create(body(1))
    status, replaced = handlers.replace(created["id"], body(5))
    assert (status, replaced["name"], replaced["id"]) == (200, "$Entity 5", created["id"])
    status, error = handlers.replace(created["id"], {"name": "Only a name"})
    assert status == 400
    assert len(error["problems"]) == len(REQUIRED_FIELDS) - 1
    assert all(problem.endswith("is required") for problem in error["problems"])


def test_patch_changes_fields_and_destroy_deletes(handlers: ${Entity}Handlers) -> None:
    _, created = handlers.create(body())
    status, patched = handlers.patch(created["id"], {"name": "Patched"})
    assert (status, patched["name"]) == (200, "Patched")
    assert handlers.patch(created["id"], {"id": "$entity-other"})[0] == 400
    assert handlers.destroy(created["id"]) == (204, {"deleted": created["id"]})
    assert handlers.index()[1]["count"] == 0


def test_history_and_restore(handlers: ${Entity}Handlers) -> None:
    _, created = handlers.create(body())
    handlers.patch(created["id"], {"name": "Patched"})
    handlers.destroy(created["id"])
    status, history = handlers.history(created["id"])
    assert (status, history["history"]) == (200, ["created", "updated name", "deleted"])
    status, restored = handlers.restore(created["id"])
    assert (status, restored["name"]) == (200, "Patched")
    status, error = handlers.restore(created["id"])
    assert (status, error["error"]) == (409, "state")


def test_the_router_maps_methods_and_paths(router: ${Entity}Router) -> None:
    status, created = router.dispatch("POST", "/$plural", body())
    assert status == 201
    assert router.dispatch("GET", f"/$plural/{created['id']}") == (200, created)
    assert router.dispatch("GET", "/$plural?name=$Entity")[1]["count"] == 1
    assert router.dispatch("PATCH", f"/$plural/{created['id']}", {"name": "Routed"})[1]["name"] == "Routed"
    assert router.dispatch("PUT", f"/$plural/{created['id']}", body(7))[1]["name"] == "$Entity 7"
    assert router.dispatch("GET", "/$plural/_schema")[1]["entity"] == "$Entity"
    assert router.dispatch("DELETE", f"/$plural/{created['id']}")[0] == 204
    assert router.dispatch("GET", f"/$plural/{created['id']}/history")[1]["history"][-1] == "deleted"
    assert router.dispatch("POST", f"/$plural/{created['id']}/restore")[0] == 200


def test_the_router_decodes_query_strings_and_bulk_bodies(router: ${Entity}Router) -> None:
    status, created = router.dispatch("POST", "/$plural/_bulk", {"items": [body(1), body(2)]})
    assert (status, created["count"]) == (201, 2)
    _, found = router.dispatch("GET", "/$plural?name=$Entity%202&sort=-name")
    assert [item["name"] for item in found["items"]] == ["$Entity 2"]


UNKNOWN_ROUTES = [
    ("GET", "/elsewhere", 404),
    ("GET", "/$plural/a/b/c", 404),
    ("GET", "/$plural/a/unknown", 404),
    ("PUT", "/$plural", 405),
    ("POST", "/$plural/x", 405),
    ("DELETE", "/$plural/_schema", 405),
    ("GET", "/$plural/_bulk", 405),
    ("GET", "/$plural/x/restore", 405),
    ("POST", "/$plural/x/history", 405),
]
"""Requests the router must refuse: 404 for paths it does not know, 405 for methods a path does not take."""


def test_the_router_refuses_unknown_routes_and_methods(router: ${Entity}Router) -> None:
    for method, path, status in UNKNOWN_ROUTES:
        answer_status, body = router.dispatch(method, path)
        assert answer_status == status, (method, path)
        assert body["error"] == ("not_found" if status == 404 else "method_not_allowed")
'''


def api_tests(package: str, entity: EntityInfo, project: Project) -> str:
    imports, setup, args = ref_setup(package, entity, project)
    return render(
        _TESTS, package=package, Entity=entity.name, entity=entity.snake, imports=imports, setup=setup, args=args,
        kwargs=kwargs(entity, 1, "        "), plural=plural(entity.snake), unique_overrides=unique_overrides(entity),
    )  # fmt: skip
