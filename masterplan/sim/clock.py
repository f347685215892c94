"""The simulator's time source: monotonic seconds that tests can move forward.

Cache TTLs and rate-limit buckets read this clock, never ``time`` directly, so a test
can expire a cache entry or refill a bucket by advancing it instead of sleeping.
Latency sleeps are real ``asyncio`` sleeps and do not read it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Monotonic seconds plus an offset that only grows.

    ``frozen=True`` stops the real passage of time: the clock moves only when advanced,
    which makes rate-limit figures exact in tests.
    """

    def __init__(self, *, frozen: bool = False) -> None:
        self._frozen = frozen
        self._offset = 0.0
        self._origin_monotonic = time.monotonic()
        self._origin_wall = time.time()

    def now(self) -> float:
        """Seconds since the clock was made (monotonic, never goes back)."""
        elapsed = 0.0 if self._frozen else time.monotonic() - self._origin_monotonic
        return elapsed + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got {seconds} seconds")
        self._offset += seconds

    def wall_at(self, moment: float) -> datetime:
        """The UTC wall-clock time of a ``now()`` value, for RFC 3339 headers."""
        return datetime.fromtimestamp(self._origin_wall, UTC) + timedelta(seconds=moment)
