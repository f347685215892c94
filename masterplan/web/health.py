"""Liveness, readiness and the Prometheus scrape endpoint (all public when auth is on)."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from masterplan.store.migrate import pending_migrations
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
    """200 when the store answers and has every migration; 503 with the reason otherwise."""
    store = request.app[SERVICE].store
    try:
        async with store.transaction() as tx:
            await tx.ping()
        pending = await pending_migrations(store)
    except Exception as error:  # any driver failure means "not ready"; the probe reports it instead of a 500
        logger.warning("not ready: store %s unreachable: %s", store.description, error)
        return json_response(ReadyView(status="not ready", reason=f"store unreachable: {error}"), status=503)
    if pending:
        labels = ", ".join(migration.label for migration in pending)
        return json_response(ReadyView(status="not ready", reason=f"pending migrations: {labels}"), status=503)
    return json_response(ReadyView(status="ready"))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
