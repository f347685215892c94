"""Access log lines that never carry the API token (WebSockets may pass it as ``?token=``)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

SECRET_PARAMETERS = frozenset({"token"})


def redacted_target(request: web.BaseRequest) -> str:
    """The request's path and query with secret parameters replaced by ``***``."""
    url = request.rel_url
    if not SECRET_PARAMETERS.intersection(url.query):
        return str(url)
    query = [(key, "***" if key in SECRET_PARAMETERS else value) for key, value in url.query.items()]
    return str(url.with_query(query))


class RedactingAccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.3fs', request.remote, request.method, redacted_target(request), response.status, time
        )
