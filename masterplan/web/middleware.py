"""Every error becomes ``{"error": {"status", "message"}}`` with the right status; bearer-token auth."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import SecretStr, ValidationError

from masterplan.service.errors import (
    RepositoryForbidden,
    RepositoryRefused,
    RunConflict,
    RunNotFound,
    WorkspaceUnavailable,
)
from masterplan.service.plan_edits import PlanEditRefused
from masterplan.store import NotFound, StoreUnavailable
from masterplan.web.responses import MalformedJSON, error_body, json_response, validation_fields

logger = logging.getLogger(__name__)

#: routes open without a token: probes, the metrics scrape, the API description and the pages
PUBLIC_ROUTES = frozenset(
    {
        *("/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/swagger-initializer.js", "/"),
        *("/static/{file}", "/docs/static/{file}"),
    }
)
WEBSOCKET_ROUTE = "/runs/{run_id}/ws"
#: headers of an HTTP error that a JSON error response keeps
KEPT_HEADERS = ("WWW-Authenticate", "Allow", "Retry-After")
#: seconds a client is asked to wait while the store is unreachable (a driver's retries back off to 10 s)
STORE_RETRY_AFTER_S = 5


ClientError = (
    MalformedJSON | ValidationError | RunNotFound | NotFound | RunConflict | PlanEditRefused | RepositoryRefused
)
CLIENT_ERRORS = (MalformedJSON, ValidationError, RunNotFound, NotFound, RunConflict, PlanEditRefused, RepositoryRefused)


def client_error(error: ClientError) -> tuple[int, str, list[dict[str, str]] | None]:
    """(status, message, fields) of an error the client caused."""
    if isinstance(error, MalformedJSON):
        return 400, str(error), None
    if isinstance(error, ValidationError):
        fields = validation_fields(error)
        names = ", ".join(dict.fromkeys(field["field"] for field in fields))
        return 422, f"invalid fields: {names}", fields
    if isinstance(error, (RunNotFound, NotFound)):
        return 404, str(error), None
    if isinstance(error, RepositoryRefused):
        status = 403 if isinstance(error, RepositoryForbidden) else 422
        return status, str(error), [{"field": f"repository.{error.field}", "message": str(error)}]
    if isinstance(error, PlanEditRefused):
        return (
            422,
            f"the edited plan is refused ({len(error.problems)} problems); the plan is unchanged",
            [{"field": "plan", "message": problem} for problem in error.problems],
        )
    return 409, str(error), None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {name: error.headers[name] for name in KEPT_HEADERS if name in error.headers}
        message = error.text if error.text and error.text != f"{error.status}: {error.reason}" else error.reason
        if error.status == 404 and message == error.reason:
            message = f"no such resource: {request.method} {request.path}"
        elif error.status == 405:
            message = f"{request.method} is not allowed on {request.path}; allowed: {error.headers.get('Allow', '')}"
        return json_response(error_body(error.status, message), status=error.status, headers=headers)
    except CLIENT_ERRORS as error:
        status, message, fields = client_error(error)
        return json_response(error_body(status, message, fields), status=status)
    except (StoreUnavailable, WorkspaceUnavailable) as error:  # the server's own trouble: 503, never a 500
        logger.warning("%s %s: %s", request.method, request.path, error)
        message = f"the service cannot take this now: {error}"
        headers = {"Retry-After": str(STORE_RETRY_AFTER_S)} if isinstance(error, StoreUnavailable) else {}
        return json_response(error_body(503, message), status=503, headers=headers)
    except Exception:  # the HTTP boundary: record the failure, answer without internals
        logger.exception("%s %s failed", request.method, request.path)
        return json_response(error_body(500, "internal server error; see the server log"), status=500)


def matched_route(request: web.Request) -> str | None:
    """The canonical path of the route that matched (``/runs/{run_id}``); None when nothing matched."""
    resource = request.match_info.route.resource
    return None if resource is None else resource.canonical


def is_public(request: web.Request) -> bool:
    """Decided by the matched route, never by the raw path, so ``/static/../runs`` cannot slip through."""
    return matched_route(request) in PUBLIC_ROUTES


def presented_token(request: web.Request) -> str | None:
    """The bearer token of the request; WebSockets may pass it as ``?token=`` (browsers cannot set headers)."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if matched_route(request) == WEBSOCKET_ROUTE:
        return request.query.get("token")
    return None


def auth_middleware(token: SecretStr) -> Middleware:
    """Refuse every request without ``Authorization: Bearer <token>``, except the public paths."""
    expected = token.get_secret_value().encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_public(request):
            presented = presented_token(request)
            if presented is None or not hmac.compare_digest(presented.encode(), expected):
                reason = "missing bearer token" if presented is None else "wrong bearer token"
                raise web.HTTPUnauthorized(
                    text=f"{reason}: send Authorization: Bearer <MASTERPLAN_API_TOKEN>",
                    headers={"WWW-Authenticate": 'Bearer realm="masterplan"'},
                )
        return await handler(request)

    return require_token
