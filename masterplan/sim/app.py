"""The simulator's aiohttp application: the API surface plus ``/sim/*`` control endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from masterplan.sim.batch_handlers import add_batch_routes
from masterplan.sim.clock import SimClock
from masterplan.sim.config import SimConfig
from masterplan.sim.errors import SimAPIError, invalid_request
from masterplan.sim.handlers import MAX_BODY_BYTES, count_tokens, json_response, messages
from masterplan.sim.state import SIM_STATE, SimState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def anthropic_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Routing errors (unknown path, wrong method) answered in Anthropic's error shape."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        kind = "not_found_error" if error.status == 404 else "invalid_request_error"
        body = SimAPIError(error.status, kind, f"{request.method} {request.path}: {error.reason}").body(
            "req_sim_routing"
        )
        return json_response(body, status=error.status)


async def stats(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    state.settle_batches()
    return json_response(state.stats.snapshot())


async def reset(request: web.Request) -> web.Response:
    """Clear the counters; ``?scope=all`` also forgets the cache, rate-limit buckets and seen bodies."""
    state = request.app[SIM_STATE]
    if request.query.get("scope") == "all":
        state.reset()
    else:
        state.stats.reset()
    return json_response({"ok": True})


async def advance_clock(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    try:
        body = orjson.loads(await request.read())
        seconds = float(body["seconds"])
        state.clock.advance(seconds)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        problem = invalid_request(f'expected {{"seconds": N}} with N >= 0: {error}')
        return json_response(problem.body("req_sim_clock"), status=400)
    return json_response({"now": state.clock.now()})


def create_sim_app(config: SimConfig, clock: SimClock | None = None) -> web.Application:
    """The simulator as an aiohttp application (run it with any aiohttp runner)."""
    app = web.Application(middlewares=[anthropic_errors], client_max_size=MAX_BODY_BYTES + 1)
    app[SIM_STATE] = SimState.create(config, clock or SimClock())
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    add_batch_routes(app.router)
    app.router.add_get("/sim/stats", stats)
    app.router.add_post("/sim/reset", reset)
    app.router.add_post("/sim/clock/advance", advance_clock)
    return app
