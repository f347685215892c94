"""Typed keys of the application's state: everything a handler needs, found by type."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from masterplan.config import Settings
from masterplan.metrics import ServiceMetrics
from masterplan.service.runs import RunService


@dataclass(frozen=True)
class WebSocketLimits:
    """How much one WebSocket client may hold back before it is dropped.

    ``queue_size`` events wait for the client's sender; ``send_buffer_bytes``
    bounds what the server buffers for the socket (kernel send buffer, transport
    buffer and frame writer), so a client that stops reading fills its queue
    quickly instead of hiding megabytes in buffers. A send that cannot complete
    within ``send_timeout_s`` also counts as too slow.
    """

    queue_size: int = 256
    send_buffer_bytes: int = 64 * 1024
    send_timeout_s: float = 30.0
    close_timeout_s: float = 5.0
    page_size: int = 500


SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", RunService)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", ServiceMetrics)
WEBSOCKET_LIMITS = web.AppKey("websocket_limits", WebSocketLimits)
#: open WebSockets and their requests (whose transports are aborted when a close cannot get through)
SOCKETS = web.AppKey("sockets", dict[web.WebSocketResponse, web.Request])
