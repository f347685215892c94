"""Continuing an answer cut at max_tokens instead of throwing it away.

``max_tokens`` is sized to what answers of a kind usually need (``masterplan.llm.answer_sizes``),
so now and then an answer is longer. When a part ends with ``stop_reason == "max_tokens"`` and
the answer so far is shorter than its maximum (``LLMRequest.answer_limit``, the phase's
configured maximum), the gateway asks the model to go on, and joins the parts:

- for a model with assistant prefill (``ModelPrice.assistant_prefill``), the same request with a
  final ``{"role": "assistant", "content": <the answer so far, trailing whitespace removed>}``;
  the API answers only the continuation;
- for a model without (the Claude 4.6 family answers 400 to a final assistant message), the same
  assistant message followed by ``{"role": "user", "content": CONTINUE_INSTRUCTION}``.

Either way the joined answer is the answer so far without its trailing whitespace, then the
continuation. A structured answer (``output_config.format``) is continued without the schema:
the API does not combine structured outputs with a prefilled answer, and a schema would make the
model start a new JSON object instead of finishing this one; the parser checks the joined text.
The request's blocks and cache breakpoints are unchanged, so a continuation reads the prompt's
prefix from the cache its first part wrote (not a structured first part's: the schema is part of
what the API caches).

A part cut at max_tokens whose text (joined with the parts before) already parses into the
answer's schema is complete, a JSON object that ended right at the limit: it is not continued.
The parse decides only that; the answer's result is the parse of the complete, joined text.

Bounds: each continuation asks for the first part's ``max_tokens``, at most what the answer's
maximum leaves; there is none once that maximum is reached, after ``MAX_ANSWER_PARTS`` parts, or
after a part that added no text (the answer is then an ordinary truncated one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from masterplan.llm.attempt import AnswerWatcher
from masterplan.llm.request import Continuation, LLMRequest

CONTINUE_INSTRUCTION = (
    "Your answer was cut off at the output limit. Continue exactly where it stopped, "
    "without repeating anything and without any preamble."
)
MAX_ANSWER_PARTS = 8


@dataclass
class AnswerParts:
    """The answer so far: its parts joined, with their output tokens."""

    text: str = ""
    output_tokens: int = 0
    parts: int = 0
    stop_reason: str | None = None
    last_added_text: bool = False

    def add(self, text: str, output_tokens: int, stop_reason: str | None) -> None:
        self.text = text if self.parts == 0 else self.text.rstrip() + text
        self.output_tokens += output_tokens
        self.parts += 1
        self.stop_reason = stop_reason
        self.last_added_text = bool(text.strip())


def continuation_request(
    request: LLMRequest, answer: AnswerParts, *, prefill: bool, min_cacheable_tokens: int
) -> LLMRequest | None:
    """The request for the answer's next part, or None when the answer is complete or may not go on.

    ``request`` is the answer's first request.
    """
    if answer.stop_reason != "max_tokens" or not answer.last_added_text or answer.parts >= MAX_ANSWER_PARTS:
        return None
    remaining = request.answer_limit - answer.output_tokens
    partial = answer.text.rstrip()
    if remaining < 1 or not partial:
        return None
    return dataclasses.replace(
        request,
        max_tokens=min(request.max_tokens, remaining),
        continuation=Continuation(partial, None if prefill else CONTINUE_INSTRUCTION),
        expected_cache_read_tokens=_cached_by_first_part(request, min_cacheable_tokens),
        output_schema=None,
    )


def _cached_by_first_part(request: LLMRequest, min_cacheable_tokens: int) -> int:
    """The first part wrote (or read) the prompt up to its last breakpoint: a continuation reads it.

    Not when the first part was structured: the schema is part of the cached prompt, and a continuation
    goes without it."""
    if request.output_schema is not None:
        return request.expected_cache_read_tokens
    cached = [point.prefix_tokens for point in request.breakpoints() if point.prefix_tokens >= min_cacheable_tokens]
    return max([request.expected_cache_read_tokens, *cached])


class ContinuedWatcher:
    """Shows a watcher the joined answer while a continuation streams.

    Before each attempt of the continuation the watcher restarts and is fed the answer so far
    (as it is joined: trailing whitespace removed), then whatever the continuation streams.
    """

    def __init__(self, inner: AnswerWatcher, partial: str) -> None:
        self._inner = inner
        self._partial = partial

    def restart(self) -> None:
        self._inner.restart()
        self._inner.feed(self._partial)

    def feed(self, text: str) -> None:
        self._inner.feed(text)
