"""Which content faults a continuation's answer has: those of the answer it continues.

A request's faults are drawn from a hash of its body (``faults.FaultInjector``). A continuation
has another body (the answer so far is in it, ``max_tokens`` may differ), so its own draw would
give the whole answer other content faults, and the rest it sends would not follow the first part.
Instead, when an answer is cut at ``max_tokens``, the simulator remembers its draw under its
conversation key (model, system, tools and messages, not ``max_tokens`` or ``stream``); a
continuation of that conversation composes the whole answer with the remembered content faults,
and draws only its transport faults (``transport``, ``slow``) from its own body: it is a request
of its own, which can be overloaded or dropped. Ordinary requests draw exactly as before.

Two refinements: a ``truncated`` fault stands for an answer cut short, so the continued answer is
the untruncated one (whose start the cut first part is); and a continuation of a conversation
never seen cut (a restarted simulator, a hand-made request) gets no content faults.
"""

from __future__ import annotations

from collections import OrderedDict

from masterplan.sim.faults import FaultDraw, FaultKind

OWN_GROUPS = ("transport", "slow")
"""Fault groups a continuation draws from its own body; the others come from the answer it continues."""
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

    def continuation_draw(self, conversation_key: bytes, own: FaultDraw) -> FaultDraw:
        """A continuation's draw: its own transport faults, the continued answer's content faults."""
        picks: dict[str, FaultKind] = {group: kind for group, kind in own.picks.items() if group in OWN_GROUPS}
        continued = self._draws.get(conversation_key)
        if continued is None:
            return FaultDraw(picks, own.detail_seed)
        for group, kind in continued.picks.items():
            if group not in OWN_GROUPS and kind != "truncated":
                picks[group] = kind
        return FaultDraw(picks, continued.detail_seed)

    def clear(self) -> None:
        self._draws.clear()
