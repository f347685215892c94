"""How the scripted model answers one request of a message batch: as ``/v1/messages`` would, less the transport.

The request draws its faults as any request does (from its params). ``batch_expired`` leaves it unprocessed
(``expired``); invalid params are an ``errored`` result with the error the Messages API would answer; a
transport fault (``overloaded``, ``server_error``, ``disconnect``) is an ``errored`` result
(``overloaded_error``, or ``api_error`` for the other two); ``slow`` does nothing. Otherwise the answer is the
interactive one, content faults included, in a message whose ``usage.service_tier`` is ``batch``. The prompt
cache is read and written as by any request; the rate-limit buckets are not touched (batches have limits of
their own: the processing queue's, checked at creation in ``batch_handlers``). Faults drawn inside batches
are counted in ``stats.batches.faults``, so ``stats.faults`` keeps counting what happened to HTTP requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from masterplan.sim.answering import compose, count_request, message_object, record_tokens
from masterplan.sim.batches import Result
from masterplan.sim.errors import SimAPIError, overloaded, server_error
from masterplan.sim.request import parse_messages_request

if TYPE_CHECKING:
    from masterplan.sim.state import SimState


def answer_batch_request(state: SimState, params: dict[str, Any]) -> Result:
    draw = state.faults.draw(orjson.dumps(params))
    faults = state.stats.batches.faults
    if draw.get("batch") == "batch_expired":
        faults["batch_expired"] += 1
        return {"type": "expired"}
    try:
        parsed = parse_messages_request(params, state.table, structured_outputs=state.config.structured_outputs)
    except SimAPIError as error:
        return errored(error)
    role = count_request(state, parsed)
    transport = draw.get("transport")
    if transport is not None:
        faults[transport] += 1
        return errored(overloaded("Overloaded") if transport == "overloaded" else server_error("Internal server error"))
    plan = state.cache.plan(parsed)
    state.cache.commit(plan)
    answer = compose(state, role, parsed, draw)
    faults.update(answer.faults)
    record_tokens(state, plan, answer, in_batch=True)
    _, message_id = state.next_ids()
    return {"type": "succeeded", "message": message_object(message_id, parsed, plan, answer, service_tier="batch")}


def errored(error: SimAPIError) -> Result:
    return {
        "type": "errored",
        "error": {"type": "error", "error": {"type": error.error_type, "message": error.message}},
    }
