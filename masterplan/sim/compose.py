"""An answer's text, stop reason and output tokens: the scripted answer with its content faults."""

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


def compose_answer(role: Role, request: MessagesRequest, draw: FaultDraw, seed: int) -> Answer:
    answer = scripted_answer(role, request.system_text, request.user_text, seed)
    if isinstance(answer, str):
        return _fit(answer, request.max_tokens, truncated=False, faults=[])
    rng = random.Random(draw.detail_seed)
    applied = apply_object_faults(role, answer, draw, rng)
    text = orjson.dumps(answer).decode()
    text, text_faults, truncated = apply_text_faults(text, draw, rng)
    return _fit(text, request.max_tokens, truncated=truncated, faults=applied + text_faults)


def _fit(text: str, max_tokens: int, *, truncated: bool, faults: list[FaultKind]) -> Answer:
    """Cut an answer longer than ``max_tokens`` the way the API does: stop_reason max_tokens."""
    tokens = output_tokens(text)
    if tokens > max_tokens:
        text = text.encode()[: max_tokens * BYTES_PER_TOKEN].decode("utf-8", "ignore")
        return Answer(text, "max_tokens", max_tokens, faults)
    return Answer(text, "max_tokens" if truncated else "end_turn", tokens, faults)
