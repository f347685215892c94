"""No request from another site: Origin and Host checks, JSON-only bodies, CORS for allowed origins.

A page on any site the user opens can make the browser send requests to the
service on 127.0.0.1. Three rules keep those requests out:

* a request whose ``Origin`` is neither the service's own (the origin the
  ``Host`` header names) nor in ``allowed_origins`` is refused with 403, for
  HTTP and the WebSocket handshake alike (browsers send ``Origin`` on every
  cross-site fetch, form post and WebSocket);
* a state-changing request (POST, PUT, PATCH, DELETE) with a body must send it
  as ``application/json`` (415 otherwise): a cross-site form or a ``text/plain``
  fetch, which browsers send without a CORS preflight, never reaches a handler;
* without an API token, the API answers only to a ``Host`` that is an IP
  address, ``localhost`` or the host of an allowed origin, so a DNS-rebinding
  page (its own name resolved to 127.0.0.1, its origin then "the same") cannot
  use it. The probes, the metrics and the dashboard's files stay open.

Allowed origins get CORS headers and answered preflights; others get none.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from masterplan.config import Settings, canonical_origin
from masterplan.web.middleware import is_public
from masterplan.web.responses import error_body, json_response

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPE = "application/json"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_HEADERS = "Authorization, Content-Type"
CORS_MAX_AGE_S = 600


def request_origin(request: web.Request, scheme: str) -> str | None:
    """The origin the request's ``Host`` names under ``scheme``; None if the header is not a host."""
    try:
        return canonical_origin(f"{scheme}://{request.host}")
    except ValueError:
        return None


def is_local_name(host: str) -> bool:
    """An IP address or ``localhost``: names no other site can make resolve to this machine."""
    hostname = urlsplit(f"http://{host}").hostname or ""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


class CrossSitePolicy:
    """Which requests may reach a handler, from the settings' allowed origins and whether a token is set."""

    def __init__(self, settings: Settings) -> None:
        self.allowed = frozenset(settings.allowed_origins)
        self.allowed_hosts = frozenset(urlsplit(origin).netloc for origin in self.allowed)
        self.check_host = settings.api_token is None

    def refusal(self, request: web.Request) -> tuple[int, str] | None:
        """(status, message) when the request may not reach a handler; None when it may."""
        for status, check in ((403, self.foreign_origin), (403, self.foreign_host), (415, self.not_json)):
            message = check(request)
            if message is not None:
                return status, message
        return None

    def allows_cors(self, request: web.Request) -> bool:
        return _canonical_or_none(request.headers.get(hdrs.ORIGIN)) in self.allowed

    def foreign_origin(self, request: web.Request) -> str | None:
        header = request.headers.get(hdrs.ORIGIN)
        if header is None:
            return None
        origin = _canonical_or_none(header)
        if origin is None:
            return f"requests from origin {header[:100]!r} are refused"
        if origin in self.allowed or origin == request_origin(request, urlsplit(origin).scheme):
            return None
        return (
            f"cross-origin request from {origin} refused; "
            "add it to MASTERPLAN_ALLOWED_ORIGINS to let its pages use this API"
        )

    def foreign_host(self, request: web.Request) -> str | None:
        host = request.headers.get(hdrs.HOST)
        if not self.check_host or host is None or is_public(request):
            return None
        if is_local_name(host) or host in self.allowed_hosts:
            return None
        return (
            f"requests for host {host[:100]!r} are refused: without MASTERPLAN_API_TOKEN the API answers "
            "only to localhost or an IP address; set a token or add the origin to MASTERPLAN_ALLOWED_ORIGINS"
        )

    @staticmethod
    def not_json(request: web.Request) -> str | None:
        # an empty body carries nothing to refuse (aiohttp's client labels even that application/octet-stream)
        if request.method not in STATE_CHANGING or not request.body_exists or request.content_type == JSON_TYPE:
            return None
        return f"send the body as {JSON_TYPE} (Content-Type was {request.content_type!r})"


def cross_site_middleware(settings: Settings) -> Middleware:
    policy = CrossSitePolicy(settings)

    @web.middleware
    async def refuse_cross_site(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN, "")
        cors = policy.allows_cors(request)
        refused = policy.refusal(request)
        if refused is not None:
            status, message = refused
            response: web.StreamResponse = json_response(error_body(status, message), status=status)
        elif cors and request.method == "OPTIONS" and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
            return web.Response(status=204, headers=_cors_headers(origin, preflight=True))
        else:
            response = await handler(request)
        if cors and not response.prepared:
            response.headers.update(_cors_headers(origin, preflight=False))
        return response

    return refuse_cross_site


def _canonical_or_none(origin: str | None) -> str | None:
    if origin is None:
        return None
    try:
        return canonical_origin(origin)
    except ValueError:
        return None


def _cors_headers(origin: str, *, preflight: bool) -> dict[str, str]:
    headers: dict[str, str] = {
        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
        hdrs.VARY: hdrs.ORIGIN,
        hdrs.ACCESS_CONTROL_EXPOSE_HEADERS: "Retry-After",
    }
    if preflight:
        headers |= {
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: CORS_METHODS,
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: CORS_HEADERS,
            hdrs.ACCESS_CONTROL_MAX_AGE: str(CORS_MAX_AGE_S),
        }
    return headers
