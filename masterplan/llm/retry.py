"""When to try again: exponential back-off with jitter, and the server's retry-after."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol


class _Headers(Protocol):
    def get(self, key: str, /) -> str | None: ...


@dataclass
class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failures: half fixed, half random ("equal jitter").

    The exponential part doubles from ``base_s`` and is capped at ``cap_s``; the random half
    spreads concurrent callers apart so they do not retry in lockstep.
    """

    base_s: float = 1.0
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** max(0, failures - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


def retry_after_seconds(headers: _Headers, now: datetime | None = None) -> float | None:
    """The server's requested wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
