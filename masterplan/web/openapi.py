"""``/openapi.json`` built from the pydantic models, and ``/docs``: Swagger UI served from its package.

The paths are listed by hand here (one place to read the whole contract); the
schemas come from the models the handlers use, so the document cannot drift
from what the API validates and returns. Swagger UI's files ship in the
``swagger-ui-py`` package and are served locally: the page needs no network.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from masterplan.web.files import add_files
from masterplan.web.inputs import AnswersRequest, PromptUpdate, RunRequest, SocketAnswers
from masterplan.web.plan_inputs import PlanEditRequest, ReplanRequest, SocketApproval, SocketPlanEdit, SocketReplan
from masterplan.web.responses import json_response
from masterplan.web.schemas import (
    ArtifactSummary,
    CallView,
    ErrorBody,
    EventView,
    HealthView,
    PlanView,
    PromptView,
    ReadyView,
    RunView,
    SocketError,
    TaskView,
)

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
SWAGGER_UI_PACKAGE = "swagger_ui"
Mode = Literal["validation", "serialization"]

routes = web.RouteTableDef()

REQUESTS: tuple[type[BaseModel], ...] = (
    RunRequest,
    AnswersRequest,
    PromptUpdate,
    SocketAnswers,
    PlanEditRequest,
    ReplanRequest,
    SocketApproval,
    SocketPlanEdit,
    SocketReplan,
)
RESPONSES: tuple[type[BaseModel], ...] = (
    RunView,
    PlanView,
    TaskView,
    CallView,
    EventView,
    ArtifactSummary,
    PromptView,
    HealthView,
    ReadyView,
    ErrorBody,
    SocketError,
)

ERRORS = {
    400: "malformed JSON",
    401: "missing or wrong bearer token (when MASTERPLAN_API_TOKEN is set)",
    403: "a cross-site request (see docs/api.md); options.checks without MASTERPLAN_ALLOW_HTTP_CHECKS; a "
    "repository outside MASTERPLAN_REPOSITORY_ROOTS",
    404: "no such run (or artifact, or prompt)",
    409: "the run is not in a state that allows this",
    413: "request body larger than 1 MiB",
    415: "the body is not application/json",
    422: "invalid fields; `error.fields` names each one",
}


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: dict[str, Any] | None = None, *, media: str = "application/json") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    return response


def array_of(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": ref(model)}


def operation(
    summary: str,
    responses: dict[int, dict[str, Any]],
    *,
    errors: tuple[int, ...] = (),
    body: type[BaseModel] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    result: dict[str, Any] = {"summary": summary, "responses": {str(code): value for code, value in responses.items()}}
    for code in (*errors, *(() if public else (401,)), 403, *(() if body is None else (415,))):
        result["responses"][str(code)] = {"description": ERRORS[code], "content": json_content(ref(ErrorBody))}
    if body is not None:
        result["requestBody"] = {"required": True, "content": json_content(ref(body))}
    if parameters:
        result["parameters"] = parameters
    if public:
        result["security"] = []
    return result


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def query_param(name: str, description: str, default: int, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": 0, "default": default}
    if maximum is not None:
        schema["maximum"] = maximum
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


RUN_ID = path_param("run_id", "the run's id")
AFTER = query_param("after", "only events with a larger seq", 0)


def run_paths() -> dict[str, dict[str, Any]]:
    run = ok("the run", ref(RunView))
    return {
        "/runs": {
            "post": operation(
                "Start a run", {201: ok("the run, queued", ref(RunView))}, errors=(400, 403, 413, 422), body=RunRequest
            ),
            "get": operation(
                "List runs, newest first",
                {200: ok("the runs", array_of(RunView))},
                errors=(422,),
                parameters=[query_param("limit", "how many runs", 100, 1_000)],
            ),
        },
        "/runs/{run_id}": {"get": operation("One run", {200: run}, errors=(404,), parameters=[RUN_ID])},
        "/runs/{run_id}/answers": {
            "post": operation(
                "Answer a waiting run's discovery questions",
                {200: run},
                errors=(400, 404, 409, 413, 422),
                body=AnswersRequest,
                parameters=[RUN_ID],
            )
        },
        **plan_paths(),
        "/runs/{run_id}/cancel": {
            "post": operation("Cancel a run (between calls)", {200: run}, errors=(404, 409), parameters=[RUN_ID])
        },
        **run_record_paths(),
    }


def plan_paths() -> dict[str, dict[str, Any]]:
    """The plan review of a run with ``approval: manual`` (see docs/api.md, "Plan review")."""
    run = ok("the run", ref(RunView))
    plan = ok("the plan, its model pins and its forecast", ref(PlanView))
    return {
        "/runs/{run_id}/plan": {
            "get": operation(
                "The run's plan with its forecast (409 before the plan is made)",
                {200: plan},
                errors=(404, 409),
                parameters=[RUN_ID],
            ),
            "patch": operation(
                "Edit the plan of a run awaiting approval; re-forecast. An invalid edit is refused with every "
                "problem in error.fields (422) and nothing changes",
                {200: plan},
                errors=(400, 404, 409, 413, 415, 422),
                body=PlanEditRequest,
                parameters=[RUN_ID],
            ),
        },
        "/runs/{run_id}/approve": {
            "post": operation(
                "Approve the plan of a run awaiting approval: it executes",
                {200: run},
                errors=(404, 409),
                parameters=[RUN_ID],
            )
        },
        "/runs/{run_id}/replan": {
            "post": operation(
                "Send the plan back to the model with feedback (one billed call); the run waits again after",
                {202: ok("the run, planning again", ref(RunView))},
                errors=(400, 404, 409, 413, 415, 422),
                body=ReplanRequest,
                parameters=[RUN_ID],
            )
        },
    }


def run_record_paths() -> dict[str, dict[str, Any]]:
    """What a run recorded: tasks, the audit trail, events (also live) and documents."""
    return {
        "/runs/{run_id}/tasks": {
            "get": operation(
                "The run's plan tasks", {200: ok("tasks", array_of(TaskView))}, errors=(404,), parameters=[RUN_ID]
            )
        },
        "/runs/{run_id}/calls": {
            "get": operation(
                "The run's LLM calls (the audit trail)",
                {200: ok("one entry per attempt", array_of(CallView))},
                errors=(404,),
                parameters=[RUN_ID],
            )
        },
        "/runs/{run_id}/events": {
            "get": operation(
                "The run's events in seq order",
                {200: ok("events", array_of(EventView))},
                errors=(404, 422),
                parameters=[RUN_ID, AFTER, query_param("limit", "at most this many", 10_000, 10_000)],
            )
        },
        "/runs/{run_id}/ws": {
            "get": operation(
                "Follow the run's events over a WebSocket",
                {
                    101: ok(
                        "Switching protocols. Each text message is one event (EventView) with seq > after, stored "
                        "then live, no gap, no duplicate; closes with 1000 after the run ends, with 4008 "
                        "'too slow; reconnect with after=SEQ' when the client falls behind. The client may send "
                        "SocketAnswers, and for a run awaiting approval SocketApproval, SocketPlanEdit or "
                        "SocketReplan; a refused message is answered with SocketError."
                    )
                },
                errors=(404, 422),
                parameters=[RUN_ID, AFTER],
            )
        },
        "/runs/{run_id}/artifacts": {
            "get": operation(
                "The run's documents (names and sizes)",
                {200: ok("artifacts", array_of(ArtifactSummary))},
                errors=(404,),
                parameters=[RUN_ID],
            )
        },
        "/runs/{run_id}/artifacts/{name}": {
            "get": operation(
                "One document's content, with its content type",
                {200: ok("the content (Markdown or JSON)", {"type": "string"}, media="text/markdown")},
                errors=(404,),
                parameters=[RUN_ID, path_param("name", "e.g. REPORT.md")],
            )
        },
    }


def service_paths() -> dict[str, dict[str, Any]]:
    return {
        "/prompts": {"get": operation("Role prompts, newest versions", {200: ok("prompts", array_of(PromptView))})},
        "/prompts/{name}": {
            "put": operation(
                "Store a role prompt's new version",
                {201: ok("the new version", ref(PromptView)), 200: ok("unchanged text", ref(PromptView))},
                errors=(400, 404, 413, 422),
                body=PromptUpdate,
                parameters=[path_param("name", "the prompt's name, e.g. developer")],
            )
        },
        "/health": {"get": operation("Liveness", {200: ok("alive", ref(HealthView))}, public=True)},
        "/ready": {
            "get": operation(
                "Readiness: the store answers and is migrated",
                {200: ok("ready", ref(ReadyView)), 503: ok("not ready, with the reason", ref(ReadyView))},
                public=True,
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus metrics",
                {200: ok("text exposition format", {"type": "string"}, media="text/plain")},
                public=True,
            )
        },
        "/openapi.json": {"get": operation("This document", {200: ok("OpenAPI 3.1", {"type": "object"})}, public=True)},
        "/docs": {
            "get": operation("Swagger UI", {200: ok("HTML page", {"type": "string"}, media="text/html")}, public=True)
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Mode]] = [(model, "validation") for model in REQUESTS]
    models += [(model, "serialization") for model in RESPONSES]
    _, schemas = models_json_schema(models, ref_template=REF)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "masterplan",
            "version": "0.1.0",
            "description": "Turns a software request into a workspace of working code through LLM phases.",
        },
        "paths": {**run_paths(), **service_paths()},
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def swagger_ui_dir() -> Path:
    """The Swagger UI files installed with the ``swagger-ui-py`` package."""
    return Path(str(importlib.resources.files(SWAGGER_UI_PACKAGE).joinpath("static")))


DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>masterplan API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/swagger-initializer.js"></script>
</body>
</html>
"""

INITIALIZER = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
  });
};
"""


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


@routes.get("/docs")
async def docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html", charset="utf-8")


@routes.get("/docs/swagger-initializer.js")
async def docs_initializer(request: web.Request) -> web.Response:
    """Own initializer (the packaged one points at the Petstore); a file, not inline, so a strict CSP works."""
    return web.Response(text=INITIALIZER, content_type="text/javascript", charset="utf-8")


def add_docs(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_files(app, "/docs/static", swagger_ui_dir())
