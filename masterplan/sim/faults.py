"""Seeded, reproducible fault injection.

Each kind has its own rate. Kinds that exclude each other form a group and share one uniform
draw, cut into consecutive intervals, so each kind still happens at exactly its rate (a group's
rates must add up to at most 1). A request's draws come from (seed, hash of the body, how many
times that body was seen before): the outcome does not depend on the order concurrent requests
arrive, and a retried identical request draws afresh.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "overloaded",
    "server_error",
    "disconnect",
    "slow",
    "prose_json",
    "fenced_json",
    "malformed_json",
    "truncated",
    "plan_cycle",
    "plan_unknown_dep",
    "syntax_error",
    "failing_tests",
    "path_escape",
    "edit_miss",
    "refusal",
    "batch_expired",
]

_FIRST_GROUPS: dict[str, tuple[FaultKind, ...]] = {
    "transport": ("overloaded", "server_error", "disconnect"),
    "slow": ("slow",),
    "wrapping": ("prose_json", "fenced_json"),
    "damage": ("malformed_json", "truncated", "refusal"),
    "plan": ("plan_cycle", "plan_unknown_dep"),
    "code": ("syntax_error", "failing_tests", "path_escape", "edit_miss"),
}
LATER_GROUPS: dict[str, tuple[FaultKind, ...]] = {
    "batch": ("batch_expired",),
}
"""Groups drawn after a draw's detail seed, so adding them left every seed's earlier draws as they were."""
FAULT_GROUPS: dict[str, tuple[FaultKind, ...]] = {**_FIRST_GROUPS, **LATER_GROUPS}
BATCH_FAULT_KINDS: tuple[FaultKind, ...] = ("batch_expired",)
"""Kinds that happen only to the requests of a message batch (``batches``)."""
FAULT_KINDS: tuple[FaultKind, ...] = tuple(kind for kinds in FAULT_GROUPS.values() for kind in kinds)
FAULT_DESCRIPTIONS: dict[FaultKind, str] = {
    "overloaded": "529 overloaded_error",
    "server_error": "500 api_error",
    "disconnect": "the connection drops (before the answer, or midway through a stream)",
    "slow": "the answer comes slow_seconds later than the latency model says",
    "prose_json": "the JSON answer is wrapped in prose",
    "fenced_json": "the JSON answer is wrapped in a markdown code fence",
    "malformed_json": "the JSON answer does not parse",
    "truncated": "the answer is cut short with stop_reason max_tokens",
    "refusal": "the model declines: a short text that is not the JSON asked for, with stop_reason refusal (with "
    "structured outputs too)",
    "plan_cycle": "a master plan has a dependency cycle",
    "plan_unknown_dep": "a master plan depends on a task that does not exist",
    "syntax_error": "a task's Python source has a syntax error",
    "failing_tests": "a task's tests fail",
    "path_escape": "a task writes to a path outside the workspace (../ or absolute)",
    "edit_miss": "an edit's search text is not in the file, or matches more than once (the first edit of a task "
    "answer that has edits; a re-ask whose feedback is about a search text is spared)",
    "batch_expired": "a message batch request's result is expired, as when a batch runs out of its 24 hours before "
    "reaching it (message batches only)",
}


class FaultSpecError(ValueError):
    """A fault specification that names an unknown kind or an impossible rate."""


@dataclass(frozen=True)
class FaultDraw:
    """What one request got: at most one kind per group."""

    picks: dict[str, FaultKind]
    detail_seed: int = 0
    """Seeds the details of content faults (where a cut falls, which file breaks)."""

    def get(self, group: str) -> FaultKind | None:
        return self.picks.get(group)


def parse_fault_spec(spec: str) -> dict[FaultKind, float]:
    """``"overloaded=0.05,fenced_json=0.1"`` -> rates; empty or ``none`` -> no faults."""
    rates: dict[str, float] = {}
    if spec.strip().lower() in ("", "none"):
        return {}
    for item in spec.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise FaultSpecError(f"fault {item.strip()!r} has no rate; write KIND=RATE, e.g. overloaded=0.05")
        rates[_kind(name.strip())] = _rate(name.strip(), value.strip())
    return validate_fault_rates(rates)


def _kind(name: str) -> FaultKind:
    for kind in FAULT_KINDS:
        if kind == name:
            return kind
    raise FaultSpecError(f"unknown fault kind {name!r}; known kinds: {', '.join(FAULT_KINDS)}")


def _rate(name: str, value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise FaultSpecError(f"fault {name}: rate {value!r} is not a number") from None
    return rate


def validate_fault_rates(rates: Mapping[str, float]) -> dict[FaultKind, float]:
    checked: dict[FaultKind, float] = {}
    for name, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"fault {name}: rate {rate} is outside [0, 1]")
        checked[_kind(name)] = rate
    for kinds in FAULT_GROUPS.values():
        total = sum(checked.get(kind, 0.0) for kind in kinds)
        if total > 1.0 + 1e-9:
            raise FaultSpecError(
                f"faults {', '.join(kinds)} exclude each other, so their rates must add up to at most 1; got {total:g}"
            )
    return checked


class FaultInjector:
    """Draws the faults of each request; remembers how often each body was seen."""

    def __init__(self, rates: dict[FaultKind, float], seed: int) -> None:
        self._rates = rates
        self._seed = seed
        self._seen: Counter[bytes] = Counter()

    @property
    def enabled(self) -> bool:
        return any(rate > 0 for rate in self._rates.values())

    def reset(self) -> None:
        self._seen.clear()

    def draw(self, body: bytes) -> FaultDraw:
        digest = hashlib.sha256(body).digest()
        occurrence = self._seen[digest]
        self._seen[digest] += 1
        if not self.enabled:
            return FaultDraw({}, occurrence)
        material = hashlib.sha256(f"{self._seed}:{occurrence}:".encode() + digest).digest()
        rng = random.Random(int.from_bytes(material[:8], "big"))
        picks = self._pick(rng, _FIRST_GROUPS)
        detail_seed = rng.getrandbits(63)
        picks.update(self._pick(rng, LATER_GROUPS))
        return FaultDraw(picks, detail_seed)

    def _pick(self, rng: random.Random, groups: Mapping[str, tuple[FaultKind, ...]]) -> dict[str, FaultKind]:
        """At most one kind per group: one uniform draw each, cut into consecutive intervals of the rates."""
        picks: dict[str, FaultKind] = {}
        for group, kinds in groups.items():
            draw = rng.random()
            edge = 0.0
            for kind in kinds:
                edge += self._rates.get(kind, 0.0)
                if draw < edge:
                    picks[group] = kind
                    break
        return picks
