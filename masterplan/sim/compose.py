"""An answer's text, stop reason and output tokens: the scripted answer with its content faults.

A continuation (``MessagesRequest.continuation``) is answered with the rest of the whole answer
after the answer so far, cut at its own ``max_tokens``; its output tokens are those of the rest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import orjson

from masterplan.sim.content_faults import apply_object_faults, apply_text_faults
from masterplan.sim.faults import FaultDraw, FaultKind
from masterplan.sim.request import MessagesRequest
from masterplan.sim.roles import Role
from masterplan.sim.scripted import scripted_answer
from masterplan.sim.tokens import BYTES_PER_TOKEN, output_tokens


@dataclass(frozen=True)
class Answer:
    text: str
    stop_reason: str
    output_tokens: int
    faults: list[FaultKind] = field(default_factory=list)


@dataclass
class OutputCharge:
    """The output tokens a request has generated so far: what settling its rate-limit reservation charges."""

    tokens: int = 0


def compose_answer(role: Role, request: MessagesRequest, draw: FaultDraw, seed: int) -> Answer:
    text, faults, truncated = whole_answer(role, request, draw, seed)
    if request.continuation is None:
        return _fit(text, request.max_tokens, truncated=truncated, faults=faults)
    # The faults were counted with the answer's first part; the rest carries none of its own.
    return _fit(rest_after(text, request.continuation.prefix), request.max_tokens, truncated=False, faults=[])


def whole_answer(role: Role, request: MessagesRequest, draw: FaultDraw, seed: int) -> tuple[str, list[FaultKind], bool]:
    """The full answer's text before any cut at max_tokens, its content faults, and whether one truncated it."""
    answer = scripted_answer(role, request.system_text, request.user_text, seed)
    if isinstance(answer, str):
        return answer, [], False
    rng = random.Random(draw.detail_seed)
    applied = apply_object_faults(role, answer, draw, rng)
    text = orjson.dumps(answer).decode()
    text, text_faults, truncated = apply_text_faults(text, draw, rng)
    return text, applied + text_faults, truncated


def rest_after(text: str, prefix: str) -> str:
    """What the model writes after ``prefix``: the rest of ``text``, or all of it when ``prefix`` is not its start.

    A prefix the model would not have written (edited, or from another answer) is not followed
    from the middle: the model starts its answer over after it.
    """
    return text[len(prefix) :] if text.startswith(prefix) else text


def _fit(text: str, max_tokens: int, *, truncated: bool, faults: list[FaultKind]) -> Answer:
    """Cut an answer longer than ``max_tokens`` the way the API does: stop_reason max_tokens."""
    tokens = output_tokens(text)
    if tokens > max_tokens:
        text = text.encode()[: max_tokens * BYTES_PER_TOKEN].decode("utf-8", "ignore")
        return Answer(text, "max_tokens", max_tokens, faults)
    return Answer(text, "max_tokens" if truncated else "end_turn", tokens, faults)
