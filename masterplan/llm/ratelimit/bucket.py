"""A continuously refilled token bucket (Anthropic's limits work this way, not per fixed minute)."""

from __future__ import annotations

_EPSILON = 1e-6


class TokenBucket:
    """Holds up to ``capacity`` tokens (the per-minute limit) and refills at capacity/60 per second.

    The level may go below zero: a request larger than the whole bucket is let through when
    the bucket is full and leaves a debt that later requests wait out.
    """

    def __init__(self, per_minute: float, now: float) -> None:
        if per_minute <= 0:
            raise ValueError(f"a bucket needs a positive per-minute limit, got {per_minute}")
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self._updated = now

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.capacity / 60.0

    def refill(self, now: float) -> None:
        if now > self._updated:
            self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = max(self._updated, now)

    def _needed(self, amount: float) -> float:
        return min(amount, self.capacity)

    def can_take(self, amount: float) -> bool:
        return self.level + _EPSILON >= self._needed(amount)

    def seconds_until(self, amount: float) -> float:
        """How long until ``amount`` can be taken, with no one else taking in between."""
        missing = self._needed(amount) - self.level
        return max(0.0, missing / self.rate)

    def take(self, amount: float) -> None:
        self.level -= amount

    def give(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)

    def adopt(self, limit: int | None, remaining: int | None, *, in_flight: float = 0.0) -> None:
        """Takes the server's word: its limit as capacity, and its remaining count as the level.

        ``in_flight`` is what this bucket holds back for requests the server may not have counted
        yet: a level above ``remaining - in_flight`` is lowered to ``remaining`` at most (never more
        left than the server says), one below it is raised to it. The raise is what lets a tier upgrade
        take effect at once instead of waiting for the old, smaller bucket to refill.
        """
        if limit is not None and limit > 0 and limit != self.capacity:
            self.capacity = float(limit)
            self.level = min(self.level, self.capacity)
        if remaining is None:
            return
        if remaining < self.level:
            self.level = float(remaining)
        else:
            self.level = max(self.level, min(self.capacity, remaining - in_flight))
