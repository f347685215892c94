"""An answer's text, stop reason and output tokens: the scripted answer with its content faults.

A continuation (``MessagesRequest.continuation``) is answered with the rest of the whole answer
after the answer so far, cut at its own ``max_tokens``; its output tokens are those of the rest.
The whole answer has the content faults of the answer it continues (``continuation``); the part
itself can be cut short by a ``truncated`` fault of its own draw, as any response can.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import orjson

from masterplan.sim.content_faults import apply_object_faults, apply_text_faults, cut_short
from masterplan.sim.faults import FaultDraw, FaultKind
from masterplan.sim.request import MessagesRequest
from masterplan.sim.roles import Role
from masterplan.sim.scripted import scripted_answer
from masterplan.sim.structured import REFUSAL_TEXT
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


def compose_answer(
    role: Role, request: MessagesRequest, draw: FaultDraw, seed: int, *, rewrites: bool = False
) -> Answer:
    """``rewrites``: a repository run's existing files are written whole instead of edited (``edit_style``)."""
    if draw.get("damage") == "refusal":  # the model declines, with or without structured outputs
        return Answer(REFUSAL_TEXT, "refusal", output_tokens(REFUSAL_TEXT), ["refusal"])
    text, faults, truncated = whole_answer(role, request, draw, seed, rewrites=rewrites)
    return _fit(text, request.max_tokens, truncated=truncated, faults=faults)


def compose_continuation(
    role: Role,
    request: MessagesRequest,
    whole_draw: FaultDraw,
    own_draw: FaultDraw,
    seed: int,
    *,
    rewrites: bool = False,
) -> Answer:
    """The rest of the whole answer (composed with ``whole_draw``) after the answer so far.

    The whole answer's content faults were counted with its first part; only a ``truncated``
    fault of this part's own draw is new.
    """
    prefix = request.continuation.prefix if request.continuation is not None else ""
    text, _, _ = whole_answer(role, request, whole_draw, seed, rewrites=rewrites)
    rest = rest_after(text, prefix)
    if own_draw.get("damage") == "truncated" and len(rest) > 1:
        cut = cut_short(rest, random.Random(own_draw.detail_seed))
        return _fit(cut, request.max_tokens, truncated=True, faults=["truncated"])
    return _fit(rest, request.max_tokens, truncated=False, faults=[])


def whole_answer(
    role: Role, request: MessagesRequest, draw: FaultDraw, seed: int, *, rewrites: bool = False
) -> tuple[str, list[FaultKind], bool]:
    """The full answer's text before any cut at max_tokens, its content faults, and whether one truncated it."""
    answer = scripted_answer(role, request.system_text, request.user_text, seed, rewrites=rewrites)
    if isinstance(answer, str):
        return answer, [], False
    rng = random.Random(draw.detail_seed)
    applied = apply_object_faults(role, answer, draw, rng, request.user_text)
    text = orjson.dumps(answer).decode()
    if request.output_schema is not None:
        # Decoding is constrained to the schema: no prose, no fence, no broken JSON; a cut stays possible.
        picks = {group: kind for group, kind in draw.picks.items() if group not in ("wrapping", "damage")}
        if draw.get("damage") == "truncated":
            picks["damage"] = "truncated"
        text, text_faults, truncated = apply_text_faults(text, FaultDraw(picks, draw.detail_seed), rng)
    else:
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
