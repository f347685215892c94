"""Requests refused before routing (a request line over 8 KB, malformed headers) answer JSON too.

aiohttp answers a request it cannot parse from its protocol handler, before any
middleware: a plain-text body and a logged traceback for each. A client error
is not the server's trouble, so here it gets the API's JSON error and one log
line; the server's own errors (5xx) keep aiohttp's handling.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from masterplan.web.responses import error_body, json_response

logger = logging.getLogger(__name__)


class JSONErrorRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        reason = unreadable_reason(exc, message)
        logger.info("refused an unreadable request from %s: %s", request.remote, reason)
        if request.method == "HEAD":  # an answer to HEAD has no body
            response = web.Response(status=status, content_type="application/json")
        else:
            response = json_response(error_body(status, f"the request cannot be read: {reason}"), status=status)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """A body that cannot be decoded was the client's mistake, already answered with 400: one line, no traceback.

        (aiohttp reads what is left of the body after the answer, meets the same
        decoding error again, and would log it as an unhandled exception.)
        """
        error = kwargs.get("exc_info")
        if isinstance(error, web.RequestPayloadError):
            logger.info("dropped the rest of an unreadable request body: %s", str(error).splitlines()[-1].strip())
            return
        super().log_exception(*args, **kwargs)


def unreadable_reason(exc: BaseException | None, message: str | None) -> str:
    """aiohttp's reason in one short line, without the bytes it could not read."""
    text = str(getattr(exc, "message", "") or exc or message or "bad request")
    first = text.strip().splitlines()[0] if text.strip() else "bad request"
    return first.split(": bytearray(", 1)[0].split(": b'", 1)[0][:200]


class JSONErrorServer(Server):
    def __call__(self) -> RequestHandler:
        return JSONErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class JSONErrorAppRunner(web.AppRunner):
    """An AppRunner whose connections answer unparsable requests with JSON errors."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        # aiohttp builds its Server in Application._make_handler; the subclass only changes which
        # RequestHandler each connection gets, so the built server takes it on as it is.
        server.__class__ = JSONErrorServer
        return server
