"""The HTTP surface: the aiohttp application, its API, live progress over WebSockets, metrics."""

from masterplan.web.app import create_app, running_app, serve
from masterplan.web.keys import WebSocketLimits

__all__ = ["WebSocketLimits", "create_app", "running_app", "serve"]
