"""JSON in and out: orjson responses, request bodies validated by pydantic models, error bodies."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class MalformedJSON(ValueError):
    """The request body is not the JSON document the endpoint expects."""


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=JSON_OPTIONS).decode()


def json_response(value: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response; pydantic models are dumped in JSON mode first."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [item.model_dump(mode="json") for item in value]
    return web.json_response(value, status=status, headers=headers, dumps=dumps)


def error_body(status: int, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def validation_fields(error: ValidationError) -> list[dict[str, str]]:
    """Each problem as ``{"field": "options.tasks", "message": ...}``; ``body`` when the whole body is wrong."""
    return [
        {"field": ".".join(str(part) for part in problem["loc"]) or "body", "message": problem["msg"]}
        for problem in error.errors(include_url=False)
    ]


def parse_json(raw: bytes | str) -> Any:
    """The JSON document in ``raw``; MalformedJSON if it is not one, strictly read.

    orjson refuses what is not JSON (NaN, Infinity, numbers that overflow a
    double, lone surrogates, invalid UTF-8, nesting deeper than 1024) but keeps the
    last of duplicate keys; a second reading with the standard library refuses
    those, so ``{"tasks": 1, "tasks": 50}`` cannot mean different things to
    different readers.
    """
    if not raw:
        raise MalformedJSON("the request body is empty; send a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise MalformedJSON(f"the request body is not valid JSON: {error}") from None
    if isinstance(value, (dict, list)):
        try:
            json.loads(raw, object_pairs_hook=_unique_keys)
        except RecursionError:
            raise MalformedJSON("the request body is nested too deeply") from None
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise MalformedJSON(f"the request body is not valid JSON: the key {key[:100]!r} appears twice")
        value[key] = item
    return value


async def read_model(request: web.Request, model: type[T]) -> T:
    """The body parsed as ``model``: MalformedJSON (400) or ValidationError (422); 413 past client_max_size."""
    try:
        raw = await request.read()
    except web.RequestPayloadError as error:  # e.g. a Content-Encoding the body is not in
        raise MalformedJSON(f"the request body cannot be read: {str(error).splitlines()[-1].strip()}") from None
    return model.model_validate(parse_json(raw))


def query_model(request: web.Request, model: type[T]) -> T:
    """Query parameters validated by ``model`` (ValidationError names the parameter)."""
    return model.model_validate(dict(request.query))
