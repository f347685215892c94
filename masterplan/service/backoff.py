"""Waiting out an unreachable store: delays that double up to a cap, with optional jitter.

Time and randomness are injected, so tests see the exact delays without sleeping them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Backoff:
    """``first_s``, doubling up to ``max_s``; ``jitter`` (0-1) takes off up to that share of each delay."""

    first_s: float = 0.5
    max_s: float = 10.0
    jitter: float = 0.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s:
            raise ValueError(f"backoff needs 0 < first_s <= max_s, got {self.first_s} and {self.max_s}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter is a share in [0, 1], got {self.jitter}")

    def delays(self) -> Delays:
        """A fresh sequence of delays, for one wait."""
        return Delays(self)


class Delays:
    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff
        self._next = backoff.first_s
        self.waited_s = 0.0

    def next(self) -> float:
        backoff = self._backoff
        delay = self._next * (1 - backoff.jitter * backoff.rng.random())
        self._next = min(self._next * 2, backoff.max_s)
        return delay

    async def sleep(self) -> None:
        delay = self.next()
        self.waited_s += delay
        await self._backoff.sleep(delay)
