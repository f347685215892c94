"""The entity JSON handlers and router of a generated project."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.api_tests import api_tests
from masterplan.sim.scripted.codegen.values import plural, render
from masterplan.sim.scripted.entities import EntityInfo, Project
from masterplan.sim.scripted.naming import title_words

_HANDLERS = '''
"""JSON handlers for ${words_plural}, independent of any web framework.

Each handler takes decoded JSON (query parameters as strings) and returns ``(status, body)``.
Domain errors become their status with the error's payload (400 validation, 404 not found,
409 conflict or state); a malformed request (an unknown field, a bad paging parameter) is a
400 whose ``problems`` name what is wrong.

Routes, as ``${Entity}Router`` dispatches them:

    GET    /$plural                  index: ``name`` filter, ``sort`` (``-`` for descending), ``offset``, ``limit``
    POST   /$plural                  create
    POST   /$plural/_bulk            bulk_create: ``{"items": [...]}``, all or nothing
    GET    /$plural/_schema          schema: fields, types and rules
    GET    /$plural/<id>             show
    PUT    /$plural/<id>             replace: every required field
    PATCH  /$plural/<id>             patch: some fields
    DELETE /$plural/<id>             destroy
    GET    /$plural/<id>/history     history
    POST   /$plural/<id>/restore     restore a deleted $words
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from $package.core.errors import DomainError, NotFoundError, ValidationError, error_response
from $package.core.ids import id_sort_key
from $package.models.$entity import DATETIME_FIELDS, FIELD_TYPES, REQUIRED_FIELDS, $Entity
from $package.services.${entity}_service import ${Entity}Service

Response = tuple[int, dict[str, Any]]
Action = Callable[[], Response]
MAX_LIMIT = 100
SORTABLE_FIELDS = ("id", *(name for name, kind in FIELD_TYPES.items() if kind != "list[str]"))


def _bad_request(*problems: str) -> Response:
    return 400, {"error": "validation", "entity": "$Entity", "problems": list(problems)}


def _decode(body: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(body)
    for name in DATETIME_FIELDS:
        if isinstance(values.get(name), str):
            try:
                values[name] = datetime.fromisoformat(values[name])
            except ValueError:
                raise ValidationError("$Entity", [f"{name} must be a datetime"]) from None
    return values


def _whole_number(query: Mapping[str, str], key: str, default: int, problems: list[str]) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    if not raw.isdigit():
        problems.append(f"{key} must be a whole number >= 0, got {raw!r}")
        return default
    return int(raw)


def page_params(query: Mapping[str, str]) -> tuple[str, bool, int, int]:
    """``(field, descending, offset, limit)`` from a query; a ValidationError names every bad parameter."""
    problems: list[str] = []
    sort = query.get("sort", "name")
    field_name = sort.removeprefix("-")
    if field_name not in SORTABLE_FIELDS:
        problems.append(f"sort must be one of {', '.join(SORTABLE_FIELDS)}, with - in front for descending")
    offset = _whole_number(query, "offset", 0, problems)
    limit = _whole_number(query, "limit", 20, problems)
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if problems:
        raise ValidationError("$Entity", problems)
    return field_name, sort.startswith("-"), offset, limit


class ${Entity}Handlers:
    def __init__(self, service: ${Entity}Service) -> None:
        self._service = service

    def _guard(self, action: Action) -> Response:
        try:
            return action()
        except TypeError as error:
            return _bad_request(str(error))
        except DomainError as error:
            return error_response(error)

    def create(self, body: Mapping[str, Any]) -> Response:
        if "id" in body:
            return _bad_request("id is assigned by the server")
        return self._guard(lambda: (201, self._service.create(**_decode(body)).to_dict()))

    def bulk_create(self, body: Mapping[str, Any]) -> Response:
        """Create every item of ``body["items"]``, or none of them."""
        items = body.get("items")
        if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
            return _bad_request("items must be a list of objects")
        if any("id" in item for item in items):
            return _bad_request("id is assigned by the server")

        def create_all() -> Response:
            created = self._service.create_many([_decode(item) for item in items])
            return 201, {"items": [item.to_dict() for item in created], "count": len(created)}

        return self._guard(create_all)

    def schema(self) -> Response:
        return 200, $Entity.schema()

    def show(self, ${entity}_id: str) -> Response:
        return self._guard(lambda: (200, self._service.get(${entity}_id).to_dict()))

    def index(self, query: Mapping[str, str] | None = None) -> Response:
        """A page of ${words_plural} whose name contains ``query["name"]``, sorted as asked."""
        query = query or {}
        try:
            field_name, descending, offset, limit = page_params(query)
        except ValidationError as error:
            return error_response(error)
        text = query.get("name", "").casefold()
        found = [item for item in self._service.list() if text in item.name.casefold()]
        if field_name == "id":
            found.sort(key=lambda item: id_sort_key(item.id), reverse=descending)
        else:
            found.sort(key=lambda item: getattr(item, field_name), reverse=descending)
        window = [item.to_dict() for item in found[offset : offset + limit]]
        return 200, {"items": window, "count": len(window), "total": len(found), "offset": offset, "limit": limit}

    def replace(self, ${entity}_id: str, body: Mapping[str, Any]) -> Response:
        """PUT semantics: every required field must be given; the id cannot change."""
        missing = sorted(REQUIRED_FIELDS - set(body))
        if missing:
            return _bad_request(*(f"{name} is required" for name in missing))
        return self.patch(${entity}_id, body)

    def patch(self, ${entity}_id: str, body: Mapping[str, Any]) -> Response:
        if body.get("id", ${entity}_id) != ${entity}_id:
            return _bad_request("id cannot change")
        changes = {name: value for name, value in body.items() if name != "id"}
        return self._guard(lambda: (200, self._service.update(${entity}_id, **_decode(changes)).to_dict()))

    def destroy(self, ${entity}_id: str) -> Response:
        return self._guard(lambda: (204, {"deleted": self._service.delete(${entity}_id).id}))

    def history(self, ${entity}_id: str) -> Response:
        """What happened to $a_words, deleted ones included; 404 when it never existed."""
        events = self._service.history(${entity}_id)
        if not events:
            return error_response(NotFoundError("$Entity", ${entity}_id))
        return 200, {"id": ${entity}_id, "history": events}

    def restore(self, ${entity}_id: str) -> Response:
        return self._guard(lambda: (200, self._service.restore(${entity}_id).to_dict()))


def _not_allowed(*allowed: str) -> Response:
    return 405, {"error": "method_not_allowed", "allowed": list(allowed)}


class ${Entity}Router:
    """Maps ``(method, path)`` to the handlers; the routes are listed in the module docstring."""

    def __init__(self, handlers: ${Entity}Handlers) -> None:
        self._handlers = handlers

    def dispatch(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Response:
        parsed = urlsplit(path)
        parts = [part for part in parsed.path.split("/") if part]
        if not parts or parts[0] != "$plural" or len(parts) > 3:
            return 404, {"error": "not_found", "message": f"no route for {path}"}
        verb = method.upper()
        if len(parts) == 1:
            return self._collection(verb, dict(parse_qsl(parsed.query)), body or {})
        if len(parts) == 2:
            return self._member(verb, parts[1], body or {})
        return self._action(verb, parts[1], parts[2], path)

    def _collection(self, verb: str, query: dict[str, str], body: Mapping[str, Any]) -> Response:
        if verb == "GET":
            return self._handlers.index(query)
        if verb == "POST":
            return self._handlers.create(body)
        return _not_allowed("GET", "POST")

    def _member(self, verb: str, name: str, body: Mapping[str, Any]) -> Response:
        if name == "_schema":
            return self._handlers.schema() if verb == "GET" else _not_allowed("GET")
        if name == "_bulk":
            return self._handlers.bulk_create(body) if verb == "POST" else _not_allowed("POST")
        routes: dict[str, Action] = {
            "GET": lambda: self._handlers.show(name),
            "PUT": lambda: self._handlers.replace(name, body),
            "PATCH": lambda: self._handlers.patch(name, body),
            "DELETE": lambda: self._handlers.destroy(name),
        }
        return routes[verb]() if verb in routes else _not_allowed(*routes)

    def _action(self, verb: str, item_id: str, action: str, path: str) -> Response:
        actions: dict[str, tuple[str, Callable[[str], Response]]] = {
            "history": ("GET", self._handlers.history),
            "restore": ("POST", self._handlers.restore),
        }
        if action not in actions:
            return 404, {"error": "not_found", "message": f"no route for {path}"}
        allowed, handler = actions[action]
        return handler(item_id) if verb == allowed else _not_allowed(allowed)


def as_entity(body: Mapping[str, Any]) -> $Entity:
    """Decode a full JSON body (with id) into $a_words."""
    return $Entity.from_dict(body)
'''


def api_source(package: str, entity: EntityInfo) -> str:
    return render(
        _HANDLERS, package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake),
    )  # fmt: skip


def api_files(package: str, entity: EntityInfo, project: Project) -> dict[str, str]:
    return {
        f"{package}/api/{entity.snake}_handlers.py": api_source(package, entity),
        f"tests/test_{entity.snake}_api.py": api_tests(package, entity, project),
    }
