"""Servers that look like the Anthropic Messages API from afar, for the gateway's accounting and error tests.

``rewriting_proxy`` stands between masterplan and the simulator over real HTTP: it forwards every request
and can rewrite the streamed events (to zero or drop the usage, as some Anthropic-compatible servers do)
or hold a request unanswered (a call in flight when the service dies). ``fixed_answer`` answers every
request with one fixed body. The simulator itself is never relaxed: it stays a faithful Anthropic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

EventRewrite = Callable[[dict[str, Any]], dict[str, Any]]
HoldRule = Callable[[dict[str, Any]], bool]
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def zero_usage(event: dict[str, Any]) -> dict[str, Any]:
    """Every usage count of the stream reported as 0, as a server that does not count would."""
    if event.get("type") == "message_start":
        usage = event["message"]["usage"]
        event["message"]["usage"] = {key: 0 for key, value in usage.items() if isinstance(value, int)}
    elif event.get("type") == "message_delta":
        event["usage"] = {"output_tokens": 0}
    return event


def drop_usage(event: dict[str, Any]) -> dict[str, Any]:
    """No usage fields at all in the stream."""
    if event.get("type") == "message_start":
        event["message"]["usage"] = {}
    elif event.get("type") == "message_delta":
        event["usage"] = {}
    return event


@dataclass
class ProxyHandle:
    base_url: str
    held: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once a request matched the hold rule (and was left unanswered)."""
    requests: int = 0


async def _rewrite_stream(
    upstream: aiohttp.ClientResponse, response: web.StreamResponse, rewrite: EventRewrite
) -> None:
    """Forwards Server-Sent Events one at a time, each ``data:`` line rewritten."""
    async for raw in upstream.content:
        line = raw.decode("utf-8")
        if line.startswith("data: "):
            line = "data: " + orjson.dumps(rewrite(orjson.loads(line[len("data: ") :]))).decode() + "\n"
        await response.write(line.encode("utf-8"))


@asynccontextmanager
async def rewriting_proxy(
    upstream_url: str, *, rewrite: EventRewrite | None = None, hold: HoldRule | None = None
) -> AsyncIterator[ProxyHandle]:
    """A proxy in front of ``upstream_url`` on an ephemeral port of 127.0.0.1."""
    handle = ProxyHandle(base_url="")
    session = aiohttp.ClientSession()

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        handle.requests += 1
        if hold is not None and hold(orjson.loads(body)):
            handle.held.set()
            await asyncio.Event().wait()  # never answered: the client waits until it is killed
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", *_HOP_BY_HOP}}
        async with session.post(f"{upstream_url}{request.path_qs}", data=body, headers=headers) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            )
            await response.prepare(request)
            if rewrite is not None and upstream.content_type == "text/event-stream":
                await _rewrite_stream(upstream, response, rewrite)
            else:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            await response.write_eof()
            return response

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    async with _serving(app) as base_url:
        handle.base_url = base_url
        try:
            yield handle
        finally:
            await session.close()


@asynccontextmanager
async def fixed_answer(status: int, content_type: str, body: str) -> AsyncIterator[ProxyHandle]:
    """Answers every Messages request with ``status``, ``content_type`` and ``body``."""
    handle = ProxyHandle(base_url="")

    async def messages(request: web.Request) -> web.Response:
        await request.read()
        handle.requests += 1
        return web.Response(status=status, text=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    async with _serving(app) as base_url:
        handle.base_url = base_url
        yield handle


@asynccontextmanager
async def _serving(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        port = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
