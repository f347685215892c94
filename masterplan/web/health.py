"""Liveness, readiness and the Prometheus scrape endpoint (all public when auth is on)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from masterplan.service.readiness import store_problem, workspace_root_problem
from masterplan.service.runs import RunService
from masterplan.web.keys import REGISTRY, SERVICE
from masterplan.web.responses import json_response
from masterplan.web.schemas import HealthView, ReadyView

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """The process answers; says nothing about the database."""
    return json_response(HealthView(status="ok"))


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    """200 when runs can be taken now; 503 naming what stops them (see ``readiness_problem``)."""
    problem = await readiness_problem(request.app[SERVICE])
    if problem is not None:
        logger.warning("not ready: %s", problem)
        return json_response(ReadyView(status="not ready", reason=problem), status=503)
    return json_response(ReadyView(status="ready"))


async def readiness_problem(service: RunService) -> str | None:
    """Why the service cannot take a run now: the store unreachable, unmigrated or read-only, or the
    workspace root unwritable; None when it can."""
    return await store_problem(service.store) or workspace_root_problem(Path(service.settings.workspace_root))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
