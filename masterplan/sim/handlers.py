"""The HTTP handlers of the Anthropic API surface: ``/v1/messages`` and ``/v1/messages/count_tokens``."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from masterplan.sim.answering import compose, count_request, message_object, record_tokens
from masterplan.sim.compose import Answer, OutputCharge
from masterplan.sim.errors import (
    SimAPIError,
    authentication_error,
    invalid_request,
    overloaded,
    request_too_large,
    server_error,
)
from masterplan.sim.faults import FaultDraw
from masterplan.sim.latency import LatencyModel
from masterplan.sim.prompt_cache import CachePlan
from masterplan.sim.request import MessagesRequest, parse_messages_request
from masterplan.sim.sse import stream_answer
from masterplan.sim.state import SIM_STATE, SimState

MAX_BODY_BYTES = 32 * 1024 * 1024


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers=headers, content_type="application/json")


def check_auth(request: web.Request) -> None:
    if request.headers.get("x-api-key", "").strip():
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return
    raise authentication_error("x-api-key header is required (or Authorization: Bearer <key>)")


async def read_json(request: web.Request, limit: int = MAX_BODY_BYTES) -> tuple[bytes, Any]:
    """The body and its JSON; 413 past ``limit`` bytes (each endpoint has its own, as Anthropic's do)."""
    too_large = request_too_large(f"Request exceeds the maximum allowed number of bytes ({limit}).")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return raw, orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise invalid_request(f"the request body is not valid JSON: {error}") from None


def error_response(
    state: SimState, error: SimAPIError, headers: dict[str, str], rate_class: str | None
) -> web.Response:
    state.stats.requests_by_status[error.status] += 1
    if error.status == 429:
        state.stats.rate_limited += 1
    elif rate_class is not None:
        headers.update(state.limiter.headers(rate_class))
    return plain_error_response(error, headers)


def plain_error_response(error: SimAPIError, headers: dict[str, str]) -> web.Response:
    """The error in Anthropic's shape, with its headers; counted by the caller, if at all."""
    headers.update(error.headers)
    response = json_response(error.body(headers["request-id"]), status=error.status, headers=headers)
    if error.status == 413:
        response.force_close()  # the unread body makes the connection unusable
    return response


async def count_tokens(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    request_id, _ = state.next_ids()
    headers = {"request-id": request_id}
    try:
        check_auth(request)
        _, body = await read_json(request)
        parsed = parse_messages_request(
            body, state.table, counting=True, structured_outputs=state.config.structured_outputs
        )
    except SimAPIError as error:
        return error_response(state, error, headers, None)
    state.stats.requests_by_status[200] += 1
    return json_response({"input_tokens": parsed.input_tokens}, headers=headers)


async def messages(request: web.Request) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    request_id, message_id = state.next_ids()
    headers = {"request-id": request_id}
    rate_class: str | None = None
    try:
        check_auth(request)
        raw, body = await read_json(request)
        parsed = parse_messages_request(body, state.table, structured_outputs=state.config.structured_outputs)
        rate_class = parsed.spec.rate_class
        return await _serve(request, state, parsed, raw=raw, headers=headers, message_id=message_id)
    except SimAPIError as error:
        return error_response(state, error, headers, rate_class)


async def _serve(
    request: web.Request,
    state: SimState,
    parsed: MessagesRequest,
    *,
    raw: bytes,
    headers: dict[str, str],
    message_id: str,
) -> web.StreamResponse:
    """Admit the request (reserving ``max_tokens`` output tokens), answer it, and settle the reservation.

    Settling charges what the model generated: a JSON answer is generated whole before it is sent
    (a dropped connection after it is still charged in full); a stream is charged the text it sent
    before it ended or broke off; a 529 or 500 is charged nothing.
    """
    draw = state.faults.draw(raw)
    plan = state.cache.plan(parsed)
    rate_class = parsed.spec.rate_class
    reserved = state.limiter.admit(
        rate_class, parsed.model, plan.uncached_tokens + plan.write_tokens, parsed.max_tokens
    )
    charge = OutputCharge()
    try:
        role = count_request(state, parsed)
        _raise_transport_fault(state, draw)
        state.cache.commit(plan)
        answer = compose(state, role, parsed, draw)
        state.stats.faults.update(answer.faults)
        headers.update(state.limiter.headers(rate_class))
        message = message_object(message_id, parsed, plan, answer)
        _count_delivery(state, plan, answer, draw)
        return await _deliver(request, state, parsed, message, answer, draw=draw, headers=headers, charge=charge)
    finally:
        state.limiter.settle(rate_class, reserved, charge.tokens)


async def _deliver(
    request: web.Request,
    state: SimState,
    parsed: MessagesRequest,
    message: dict[str, Any],
    answer: Answer,
    *,
    draw: FaultDraw,
    headers: dict[str, str],
    charge: OutputCharge,
) -> web.StreamResponse:
    """Send the answer after the latency, as JSON or as a stream; a disconnect fault drops it."""
    latency = LatencyModel(state.config.latency)
    extra_s = state.config.slow_seconds if draw.get("slow") == "slow" else 0.0
    disconnect = draw.get("transport") == "disconnect"
    if parsed.stream:
        await asyncio.sleep(latency.first_token_s(parsed.spec) + extra_s)
        response = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        return await stream_answer(
            request,
            response,
            message,
            answer,
            generation_s=latency.generation_s(parsed.spec, answer.output_tokens),
            disconnect_midway=disconnect,
            charge=charge,
        )
    charge.tokens = answer.output_tokens
    await asyncio.sleep(latency.total_s(parsed.spec, answer.output_tokens) + extra_s)
    if disconnect:
        return _drop_connection(request)
    return json_response(message, headers=headers)


def _raise_transport_fault(state: SimState, draw: FaultDraw) -> None:
    fault = draw.get("transport")
    if fault == "overloaded":
        state.stats.faults[fault] += 1
        raise overloaded("Overloaded")
    if fault == "server_error":
        state.stats.faults[fault] += 1
        raise server_error("Internal server error")


def _drop_connection(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=200)


def _count_delivery(state: SimState, plan: CachePlan, answer: Answer, draw: FaultDraw) -> None:
    """Count the delivery faults; an answer that is not dropped counts as served."""
    if draw.get("slow") == "slow":
        state.stats.faults["slow"] += 1
    if draw.get("transport") == "disconnect":
        state.stats.faults["disconnect"] += 1
    else:
        _record_served(state, plan, answer)


def _record_served(state: SimState, plan: CachePlan, answer: Answer) -> None:
    state.stats.requests_by_status[200] += 1
    record_tokens(state, plan, answer)
