"""A Message Batch's per-request results as the attempts the gateway knows, and its requests' parameters.

A batch answers each request with one of four results: ``succeeded`` (the whole Message, as a streamed
answer would end), ``errored`` (the error an interactive request would have got, without its HTTP status:
it is inferred from the error's type), ``expired`` (not processed within 24 hours) or ``canceled`` (the
batch was cancelled first). Only succeeded requests are billed.
"""

from __future__ import annotations

from typing import Any

from anthropic.types.messages import MessageBatchIndividualResponse

from masterplan.llm.attempt import AttemptFailure, AttemptSuccess, outcome_of_error
from masterplan.llm.request import LLMRequest
from masterplan.llm.usage import TokenUsage
from masterplan.models import CallOutcome

STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""The HTTP status an interactive request would have had for each error type (Anthropic's "Errors" page)."""


class BatchRequestFailed(Exception):
    """The cause recorded for a request of a batch that did not succeed."""


def batch_params(request: LLMRequest) -> dict[str, Any]:
    """``request`` as the ``params`` of a batch request: what ``messages.create`` would take.

    The SDK's ``extra_body`` (temperature, left out of its signatures) is a field of the params here."""
    params = request.to_params()
    params.update(params.pop("extra_body", {}))
    return params


def attempt_of_result(entry: MessageBatchIndividualResponse, waited_ms: float) -> AttemptSuccess | AttemptFailure:
    """One request's result as an attempt; ``waited_ms``: from the batch's creation to its end."""
    result = entry.result
    if result.type == "succeeded":
        message = result.message
        return AttemptSuccess(
            text="".join(block.text for block in message.content if block.type == "text"),
            stop_reason=message.stop_reason,
            usage=TokenUsage.from_sdk(message.usage),
            request_id=message.id,
            latency_ms=waited_ms,
            ttft_ms=None,
        )
    if result.type == "errored":
        error = result.error.error
        status = STATUS_OF_ERROR_TYPE.get(error.type, 500)
        outcome = outcome_of_error(error.type, status)
        described = f"batch request errored: HTTP {status} {error.type}: {error.message}"
        return batch_failure(
            outcome, outcome != "client_error", described, waited_ms, status=status, request_id=result.error.request_id
        )
    if result.type == "expired":
        return batch_failure(
            "expired", True, "the batch expired (24 hours) before this request was processed; not billed", waited_ms
        )
    return batch_failure("canceled", False, "the batch was cancelled before this request was processed", waited_ms)


def missing_result(custom_id: str, batch_id: str, waited_ms: float) -> AttemptFailure:
    """A request the ended batch's results do not list (no Anthropic API does that; a broken server might)."""
    message = f"batch {batch_id} ended without a result for {custom_id}"
    return batch_failure("server_error", True, message, waited_ms)


def batch_failure(
    outcome: CallOutcome,
    retryable: bool,
    message: str,
    waited_ms: float,
    *,
    status: int | None = None,
    request_id: str | None = None,
) -> AttemptFailure:
    return AttemptFailure(
        outcome=outcome,
        retryable=retryable,
        message=message,
        cause=BatchRequestFailed(message),
        usage=TokenUsage(),
        request_id=request_id,
        latency_ms=waited_ms,
        ttft_ms=None,
        status_code=status,
    )
