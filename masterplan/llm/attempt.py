"""One streamed attempt at the Messages API, and what its failure means for retrying.

The response is streamed so the time to first token can be measured. A failure is turned into
an ``AttemptFailure`` that says how to record it and whether trying again can help.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import anthropic
import httpx2

from masterplan.llm.request import LLMRequest
from masterplan.llm.retry import retry_after_seconds
from masterplan.llm.usage import TokenUsage
from masterplan.models import CallOutcome

_RETRYABLE_STATUS: dict[int, CallOutcome] = {
    408: "connection_error",
    409: "server_error",
    429: "rate_limited",
    529: "overloaded",
}
_OUTCOME_BY_ERROR_TYPE: dict[str, CallOutcome] = {
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate_limited",
    "api_error": "server_error",
    "timeout_error": "connection_error",
}


@dataclass(frozen=True)
class AttemptSuccess:
    text: str
    stop_reason: str | None
    usage: TokenUsage
    request_id: str | None
    latency_ms: float
    ttft_ms: float | None
    usage_estimated: bool = False
    """The server reported no input tokens; ``usage`` is masterplan's own estimate."""


@dataclass(frozen=True)
class AttemptFailure:
    outcome: CallOutcome
    retryable: bool
    message: str
    cause: BaseException
    usage: TokenUsage
    """What the server reported before failing (message_start), zero when nothing arrived."""
    request_id: str | None
    latency_ms: float
    ttft_ms: float | None
    status_code: int | None = None
    retry_after_s: float | None = None
    headers: Mapping[str, str] | None = None


class AnswerWatcher(Protocol):
    """Sees an answer's text while it streams, to start work on it before it ends (syntax checks, say).

    ``restart`` comes before every attempt: text fed before it belonged to an attempt that failed.
    The final answer is still what ``complete`` returns; a watcher only gets a head start on it.
    """

    def restart(self) -> None: ...

    def feed(self, text: str) -> None: ...


class IncompleteStream(Exception):
    """The stream ended without ``message_stop``: the connection was dropped mid-answer."""


class NotAnEventStream(Exception):
    """The server answered 200 to a streaming request with something else than Server-Sent Events.

    An HTML page or a JSON body from a proxy, a login portal or a server that is no Messages API:
    asking again gets the same, so the attempt is not retried.
    """

    def __init__(self, content_type: str, base_url: str, body_start: str) -> None:
        shown = content_type or "none"
        excerpt = f"; it begins: {body_start!r}" if body_start else ""
        super().__init__(
            f"the server answered 200 with content-type {shown}, not an event stream: "
            f"is MASTERPLAN_ANTHROPIC_BASE_URL ({base_url}) an Anthropic API?{excerpt}"
        )


EVENT_STREAM = "text/event-stream"
BODY_EXCERPT_CHARS = 120


class _StreamProgress:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.usage = TokenUsage()
        self.request_id: str | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def ttft_ms(self) -> float | None:
        return None if self.first_token is None else (self.first_token - self.started) * 1000


async def stream_attempt(
    client: anthropic.AsyncAnthropic,
    request: LLMRequest,
    on_headers: Callable[[Mapping[str, str]], None],
    watcher: AnswerWatcher | None = None,
) -> AttemptSuccess | AttemptFailure:
    """Sends ``request`` once, streaming; ``on_headers`` sees the response headers as soon as they arrive."""
    progress = _StreamProgress()
    if watcher is not None:
        watcher.restart()
    try:
        return await _stream(client, request, on_headers, progress, watcher)
    except anthropic.APIStatusError as error:
        return _status_failure(error, progress)
    except NotAnEventStream as error:
        return AttemptFailure(
            "server_error",
            False,
            str(error),
            error,
            progress.usage,
            progress.request_id,
            progress.elapsed_ms(),
            progress.ttft_ms(),
            status_code=200,
        )
    except (anthropic.APIConnectionError, httpx2.TransportError, IncompleteStream) as error:
        return AttemptFailure(
            "connection_error",
            True,
            _describe(error),
            error,
            progress.usage,
            progress.request_id,
            progress.elapsed_ms(),
            progress.ttft_ms(),
        )


async def _stream(
    client: anthropic.AsyncAnthropic,
    request: LLMRequest,
    on_headers: Callable[[Mapping[str, str]], None],
    progress: _StreamProgress,
    watcher: AnswerWatcher | None,
) -> AttemptSuccess:
    async with client.messages.stream(**request.to_params()) as stream:
        progress.request_id = stream.request_id
        on_headers(stream.response.headers)
        await _require_event_stream(stream.response, str(client.base_url))
        stopped = False
        async for event in stream:
            if event.type == "content_block_delta":
                if progress.first_token is None:
                    progress.first_token = time.perf_counter()
                if watcher is not None and event.delta.type == "text_delta":
                    watcher.feed(event.delta.text)
            elif event.type == "message_start":
                progress.usage = TokenUsage.from_sdk(event.message.usage)
            elif event.type == "message_delta":
                progress.usage = TokenUsage(
                    input_tokens=progress.usage.input_tokens,
                    cache_write_5m_tokens=progress.usage.cache_write_5m_tokens,
                    cache_write_1h_tokens=progress.usage.cache_write_1h_tokens,
                    cache_read_tokens=progress.usage.cache_read_tokens,
                    output_tokens=event.usage.output_tokens or 0,
                )
            elif event.type == "message_stop":
                stopped = True
        if not stopped:
            raise IncompleteStream("the response stream ended before message_stop")
        message = await stream.get_final_message()
    text = "".join(block.text for block in message.content if block.type == "text")
    return AttemptSuccess(
        text=text,
        stop_reason=message.stop_reason,
        usage=TokenUsage.from_sdk(message.usage),
        request_id=progress.request_id or getattr(message, "_request_id", None),
        latency_ms=progress.elapsed_ms(),
        ttft_ms=progress.ttft_ms(),
    )


async def _require_event_stream(response: httpx2.Response, base_url: str) -> None:
    content_type = response.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == EVENT_STREAM:
        return
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= BODY_EXCERPT_CHARS:
            break
    text = " ".join(body.decode("utf-8", errors="replace").split())
    raise NotAnEventStream(content_type, base_url, text[:BODY_EXCERPT_CHARS])


def failure_of_error(error: anthropic.APIError) -> AttemptFailure:
    """An API error raised outside a stream (creating a Message Batch, say) as a failed attempt."""
    progress = _StreamProgress()
    if isinstance(error, anthropic.APIStatusError):
        return _status_failure(error, progress)
    return AttemptFailure(
        "connection_error", True, _describe(error), error, progress.usage, None, progress.elapsed_ms(), None
    )


def outcome_of_error(error_type: str | None, status: int) -> CallOutcome:
    """How an API error is recorded (and retried): by its ``type`` where known, else by its HTTP status."""
    if error_type in _OUTCOME_BY_ERROR_TYPE:
        return _OUTCOME_BY_ERROR_TYPE[error_type]
    if status in _RETRYABLE_STATUS:
        return _RETRYABLE_STATUS[status]
    if status >= 500:
        return "server_error"
    if status == 200:
        # An error event inside a streamed answer of a type we do not know: a server-side failure.
        return "server_error"
    return "client_error"


def _status_failure(error: anthropic.APIStatusError, progress: _StreamProgress) -> AttemptFailure:
    status = error.status_code
    outcome = outcome_of_error(error.type, status)
    headers = error.response.headers
    return AttemptFailure(
        outcome=outcome,
        retryable=outcome != "client_error",
        message=_describe(error),
        cause=error,
        usage=progress.usage,
        request_id=error.request_id or progress.request_id,
        latency_ms=progress.elapsed_ms(),
        ttft_ms=progress.ttft_ms(),
        status_code=status,
        retry_after_s=retry_after_seconds(headers),
        headers=headers,
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, anthropic.APIStatusError):
        detail = error.api_message or error.message
        kind = f" {error.type}" if error.type else ""
        return f"HTTP {error.status_code}{kind}: {detail}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
