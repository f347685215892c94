"""Which content faults a continuation's whole answer has: those of the answer it continues.

A request's faults are drawn from a hash of its body (``faults.FaultInjector``). A continuation
has another body (the answer so far is in it, ``max_tokens`` may differ), so its own draw would
give the whole answer other content faults, and the rest it sends would not follow the first part.
Instead, when an answer is cut at ``max_tokens``, the simulator remembers its draw under its
conversation key (model, system, tools and messages, not ``max_tokens`` or ``stream``); a
continuation of that conversation composes the whole answer with the remembered content faults.
Its own draw still decides what happens to it as a response: its transport faults (``overloaded``,
``server_error``, ``disconnect``, ``slow``) and whether this part is cut short (``truncated``, which
stands for a response cut short, so the whole answer is the untruncated one). Ordinary requests
draw exactly as before. A continuation of a conversation never seen cut (a reset simulator, a
hand-made request) gets a whole answer without content faults.
"""

from __future__ import annotations

from collections import OrderedDict

from masterplan.sim.faults import FaultDraw, FaultKind

RESPONSE_GROUPS = ("transport", "slow")
"""Fault groups that happen to a response, not to the answer's content."""
MAX_REMEMBERED = 4096
"""Cut answers remembered at most; the oldest is forgotten first."""


class CutAnswers:
    """The fault draws of answers cut at max_tokens, by conversation key."""

    def __init__(self, capacity: int = MAX_REMEMBERED) -> None:
        self._capacity = capacity
        self._draws: OrderedDict[bytes, FaultDraw] = OrderedDict()

    def remember(self, conversation_key: bytes, draw: FaultDraw) -> None:
        self._draws[conversation_key] = draw
        self._draws.move_to_end(conversation_key)
        while len(self._draws) > self._capacity:
            self._draws.popitem(last=False)

    def whole_answer_draw(self, conversation_key: bytes) -> FaultDraw:
        """The content faults of the whole answer a continuation of this conversation goes on with."""
        continued = self._draws.get(conversation_key)
        if continued is None:
            return FaultDraw({})
        picks: dict[str, FaultKind] = {
            group: kind
            for group, kind in continued.picks.items()
            if group not in RESPONSE_GROUPS and kind != "truncated"
        }
        return FaultDraw(picks, continued.detail_seed)

    def clear(self) -> None:
        self._draws.clear()
