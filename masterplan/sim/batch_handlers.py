"""The HTTP handlers of the Message Batches API: ``/v1/messages/batches`` and its sub-resources.

Each checks the API key as the other endpoints do, then ends the batches whose time is over
(``batches``) before it looks. Their responses are not counted in ``stats.requests_by_status``,
which counts the Messages API's requests: polling a batch is not a request to the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from masterplan.sim.batches import (
    MAX_BATCH_BODY_BYTES,
    QUEUE_LIMITS,
    QUEUE_RETRY_AFTER_S,
    MessageBatch,
    batch_object,
    is_archived,
    parse_batch_body,
    results_jsonl,
)
from masterplan.sim.errors import SimAPIError, invalid_request, not_found, rate_limited
from masterplan.sim.handlers import check_auth, json_response, plain_error_response, read_json
from masterplan.sim.state import SIM_STATE, SimState

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000

BatchHandler = Callable[[web.Request, SimState, dict[str, str]], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def batch_endpoint(handler: BatchHandler) -> Handler:
    """Auth, batches settled, and errors in Anthropic's shape, around a handler given the state and headers."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        state = request.app[SIM_STATE]
        request_id, _ = state.next_ids()
        headers = {"request-id": request_id}
        try:
            check_auth(request)
            state.settle_batches()
            return await handler(request, state, headers)
        except SimAPIError as error:
            return plain_error_response(error, headers)

    return endpoint


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


def _shown(request: web.Request, state: SimState, batch: MessageBatch) -> dict[str, object]:
    return batch_object(batch, state.clock, _origin(request))


async def _create(request: web.Request, state: SimState, headers: dict[str, str]) -> web.StreamResponse:
    _, body = await read_json(request, MAX_BATCH_BODY_BYTES)
    requests = parse_batch_body(body)
    limit = QUEUE_LIMITS.get(state.config.tier)
    queued = state.batches.queued()
    if limit is not None and queued + len(requests) > limit:
        raise rate_limited(
            f"Number of batch requests in the processing queue would exceed your organization's limit of {limit} "
            f"({queued} queued, {len(requests)} in this batch). Wait for batches to end.",
            QUEUE_RETRY_AFTER_S,
        )
    batch = state.batches.create(requests, state.clock.now(), state.config.batch_seconds)
    state.stats.batches.created += 1
    return json_response(_shown(request, state, batch), headers=headers)


async def _retrieve(request: web.Request, state: SimState, headers: dict[str, str]) -> web.StreamResponse:
    batch = state.batches.get(request.match_info["batch_id"])
    return json_response(_shown(request, state, batch), headers=headers)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise invalid_request("limit: Input should be a valid integer, unable to parse string as an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_request(f"limit: Input should be between 1 and {MAX_LIMIT}; got {limit}")
    return limit


async def _list(request: web.Request, state: SimState, headers: dict[str, str]) -> web.StreamResponse:
    page, has_more = state.batches.page(_limit(request), request.query.get("before_id"), request.query.get("after_id"))
    return json_response(
        {
            "data": [_shown(request, state, batch) for batch in page],
            "has_more": has_more,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
        },
        headers=headers,
    )


async def _cancel(request: web.Request, state: SimState, headers: dict[str, str]) -> web.StreamResponse:
    batch = state.batches.get(request.match_info["batch_id"])
    if batch.status == "ended":
        raise invalid_request(f"message batch {batch.id!r} has ended; only a batch in progress can be canceled")
    if batch.cancel_initiated_at is None:
        batch.cancel_initiated_at = state.clock.now()
    return json_response(_shown(request, state, batch), headers=headers)


async def _delete(request: web.Request, state: SimState, headers: dict[str, str]) -> web.StreamResponse:
    batch = state.batches.get(request.match_info["batch_id"])
    if batch.status != "ended":
        raise invalid_request(
            f"message batch {batch.id!r} is {batch.status}: a batch can be deleted only once it has ended "
            "(cancel it first)"
        )
    state.batches.delete(batch.id)
    return json_response({"id": batch.id, "type": "message_batch_deleted"}, headers=headers)


async def _results(request: web.Request, state: SimState, headers: dict[str, str]) -> web.StreamResponse:
    batch = state.batches.get(request.match_info["batch_id"])
    if batch.status != "ended":
        raise invalid_request(
            f"message batch {batch.id!r} is {batch.status}: its results are available once processing has ended"
        )
    if is_archived(batch, state.clock.now()):
        raise not_found(f"the results of message batch {batch.id!r} are no longer available (kept 29 days)")
    return web.Response(
        body=results_jsonl(batch),
        headers={
            **headers,
            "Content-Type": "application/x-jsonl",
            "Content-Disposition": f"attachment; filename*=utf-8''{batch.id}_results.jsonl",
        },
    )


def add_batch_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/messages/batches", batch_endpoint(_create))
    router.add_get("/v1/messages/batches", batch_endpoint(_list))
    router.add_get("/v1/messages/batches/{batch_id}", batch_endpoint(_retrieve))
    router.add_delete("/v1/messages/batches/{batch_id}", batch_endpoint(_delete))
    router.add_post("/v1/messages/batches/{batch_id}/cancel", batch_endpoint(_cancel))
    router.add_get("/v1/messages/batches/{batch_id}/results", batch_endpoint(_results))
