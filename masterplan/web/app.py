"""The aiohttp application: a factory, resources opened and closed in ``cleanup_ctx``, typed state keys.

Shutdown order: the open WebSockets are told ``GOING_AWAY`` (clients reconnect
with ``after``), then in-flight requests finish, then the run service closes:
its drivers are cancelled and their runs resume when the service starts again
(a call in flight is not recorded, so it is made again; finished work is never
paid for twice).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from masterplan.config import Settings
from masterplan.llm.observer import ObserverGroup
from masterplan.llm.pricing import PriceTable
from masterplan.metrics import LLMMetrics, ServiceMetrics
from masterplan.service.assembly import open_service
from masterplan.service.runs import RunService
from masterplan.web import health, plans, prompts, runs, websocket
from masterplan.web.access_log import RedactingAccessLogger
from masterplan.web.cross_site import cross_site_middleware
from masterplan.web.files import add_files
from masterplan.web.keys import METRICS, REGISTRY, SERVICE, SETTINGS, SOCKETS, WEBSOCKET_LIMITS, WebSocketLimits
from masterplan.web.middleware import auth_middleware, error_middleware
from masterplan.web.openapi import add_docs
from masterplan.web.protocol import JSONErrorAppRunner

logger = logging.getLogger(__name__)

CLIENT_MAX_SIZE = 1024 * 1024
STATIC_DIR = Path(__file__).parent / "static"
SHUTDOWN_TIMEOUT_S = 10.0


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    service: RunService | None = None,
    websocket_limits: WebSocketLimits | None = None,
    client_max_size: int = CLIENT_MAX_SIZE,
) -> web.Application:
    """The application; with no ``service`` it opens its own (store, gateway, drivers) while it runs.

    A service passed in is used as it is and is not closed with the application;
    its gateway observer is the caller's, so the LLM metrics and the per-attempt
    parts of the wasted cost are not in this app's registry.
    """
    # outermost first: refusals of cross-site requests (with CORS headers on every answer to an allowed origin),
    # then JSON errors, then the token
    middlewares: list[Middleware] = [cross_site_middleware(settings), error_middleware]
    if settings.api_token is not None:
        middlewares.append(auth_middleware(settings.api_token))
    app = web.Application(middlewares=middlewares, client_max_size=client_max_size)
    app[SETTINGS] = settings
    app[REGISTRY] = registry if registry is not None else CollectorRegistry()
    app[METRICS] = ServiceMetrics(app[REGISTRY])
    app[WEBSOCKET_LIMITS] = websocket_limits or WebSocketLimits()
    app[SOCKETS] = {}
    if service is not None:
        _attach(app, service)
    else:
        app.cleanup_ctx.append(_service_context)
    app.on_shutdown.append(websocket.close_open_sockets)
    for table in (runs.routes, plans.routes, prompts.routes, health.routes, websocket.routes):
        app.router.add_routes(table)
    add_docs(app)
    _add_dashboard(app)
    return app


def _attach(app: web.Application, service: RunService) -> None:
    app[SERVICE] = service
    metrics = app[METRICS]
    service.bus.add_listener(metrics.observe)
    metrics.track_active_runs(lambda: service.active_runs)


async def _service_context(app: web.Application) -> AsyncIterator[None]:
    llm_metrics = LLMMetrics(app[REGISTRY], batch_share=PriceTable.load().batch_share)
    observer = ObserverGroup([llm_metrics, app[METRICS]])
    async with open_service(app[SETTINGS], observer=observer, watchdog=True) as service:
        _attach(app, service)
        problem = await health.readiness_problem(service)
        if problem is not None:
            logger.error("not ready: %s", problem)
        resumed = await service.resume_unfinished()
        if resumed:
            logger.info("resumed %d unfinished run(s): %s", len(resumed), ", ".join(resumed))
        yield


def _add_dashboard(app: web.Application) -> None:
    """The dashboard page at ``/`` and its files under ``/static/`` (public: its API calls carry the token)."""

    async def index(request: web.Request) -> web.FileResponse:
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            raise web.HTTPNotFound(text="the dashboard is not installed (masterplan/web/static/index.html)")
        return web.FileResponse(page)

    app.router.add_get("/", index)
    if STATIC_DIR.is_dir():
        add_files(app, "/static", STATIC_DIR)


@asynccontextmanager
async def running_app(app: web.Application, *, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``app`` on host:port (0 picks a free port) until the block ends; yields the base URL."""
    runner = JSONErrorAppRunner(app, access_log_class=RedactingAccessLogger, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if port == 0 else port
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound}"
    finally:
        await runner.cleanup()


async def serve(settings: Settings, *, host: str, port: int, on_started: Callable[[str], None] | None = None) -> None:
    """Run the service until cancelled (Ctrl-C) or SIGTERM; ``on_started`` gets the base URL."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with suppress(NotImplementedError, RuntimeError):  # no signal handlers off the main thread or on Windows
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        async with running_app(create_app(settings, registry=registry), host=host, port=port) as url:
            logger.info("masterplan serving on %s (dashboard %s/, API docs %s/docs)", url, url, url)
            if on_started is not None:
                on_started(url)
            await stop.wait()
            logger.info("SIGTERM: shutting down")
    finally:
        with suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
