"""Anthropic's rate limits: per model class, token buckets refilled continuously.

Each class has three buckets: requests, input tokens (uncached input plus cache writes; cache
reads are free) and output tokens per minute. As Anthropic documents, a request's output tokens
are estimated from its ``max_tokens`` when it starts and adjusted at the end: admission takes one
request, the input tokens and ``max_tokens`` output tokens (a reservation), and settling gives
back what the answer did not use. A request is admitted only when all three fit; an input larger
than the whole input bucket is admitted only when that bucket is full (otherwise it could never
pass). A ``max_tokens`` above the whole output limit can never fit: it is refused at once, with a
message saying how far to reduce it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from masterplan.sim.clock import SimClock
from masterplan.sim.errors import SimAPIError, rate_limited
from masterplan.sim.model_table import ModelTable, RateLimits, Tier


class TokenBucket:
    def __init__(self, per_minute: int, clock: SimClock) -> None:
        self.capacity = float(per_minute)
        self._rate_per_s = per_minute / 60.0
        self._clock = clock
        self._level = self.capacity
        self._updated = clock.now()

    def level(self) -> float:
        now = self._clock.now()
        self._level = min(self.capacity, self._level + (now - self._updated) * self._rate_per_s)
        self._updated = now
        return self._level

    def seconds_until(self, amount: float) -> float:
        """How long until the bucket holds ``amount`` (capped at full)."""
        missing = min(amount, self.capacity) - self.level()
        return max(0.0, missing / self._rate_per_s)

    def take(self, amount: float) -> None:
        self._level = self.level() - amount

    def give_back(self, amount: float) -> None:
        """Return tokens taken earlier; the bucket never holds more than its capacity."""
        self._level = min(self.capacity, self.level() + max(0.0, amount))


@dataclass
class _ClassBuckets:
    requests: TokenBucket
    input_tokens: TokenBucket
    output_tokens: TokenBucket


class RateLimiter:
    """Buckets per model class at one tier; tier ``none`` admits everything and sends no headers."""

    def __init__(self, table: ModelTable, tier: Tier, clock: SimClock) -> None:
        self._table = table
        self._tier = tier
        self._clock = clock
        self._buckets: dict[str, _ClassBuckets] = {}

    def _for(self, rate_class: str) -> _ClassBuckets | None:
        limits: RateLimits | None = self._table.limits(self._tier, rate_class)
        if limits is None:
            return None
        if rate_class not in self._buckets:
            self._buckets[rate_class] = _ClassBuckets(
                TokenBucket(limits.requests_per_minute, self._clock),
                TokenBucket(limits.input_tokens_per_minute, self._clock),
                TokenBucket(limits.output_tokens_per_minute, self._clock),
            )
        return self._buckets[rate_class]

    def reset(self) -> None:
        self._buckets.clear()

    def admit(self, rate_class: str, model: str, input_tokens: int, max_tokens: int) -> int:
        """Spend one request and ``input_tokens``, reserve ``max_tokens`` output tokens, or raise a 429.

        Returns the output tokens reserved (0 when the tier does not limit): pass it to ``settle``.
        """
        buckets = self._for(rate_class)
        if buckets is None:
            return 0
        if max_tokens > buckets.output_tokens.capacity:
            raise self._max_tokens_over_limit(rate_class, model, buckets.output_tokens)
        waits = self._waits(buckets, input_tokens, max_tokens)
        if waits:
            wait, what = max(waits)
            raise self._refusal(
                rate_class,
                f"This request would exceed your organization's rate limit of {what} per minute "
                f"(model: {model}, tier {self._tier}). Retry after the time in the retry-after header.",
                wait,
            )
        buckets.requests.take(1)
        buckets.input_tokens.take(input_tokens)
        buckets.output_tokens.take(max_tokens)
        return max_tokens

    @staticmethod
    def _waits(buckets: _ClassBuckets, input_tokens: int, max_tokens: int) -> list[tuple[float, str]]:
        """(seconds until it fits, what it is) for each bucket that cannot take its share now."""
        waits: list[tuple[float, str]] = []
        needs = (
            (buckets.requests, 1.0, "requests"),
            (buckets.input_tokens, min(input_tokens, buckets.input_tokens.capacity), "input tokens"),
            (buckets.output_tokens, float(max_tokens), "output tokens"),
        )
        for bucket, amount, name in needs:
            if bucket.level() < amount:
                waits.append((bucket.seconds_until(amount), f"{int(bucket.capacity):,} {name}"))
        return waits

    def _max_tokens_over_limit(self, rate_class: str, model: str, output: TokenBucket) -> SimAPIError:
        limit = int(output.capacity)
        return self._refusal(
            rate_class,
            f"This request would exceed your organization's rate limit of {limit:,} output tokens per minute "
            f"(model: {model}, tier {self._tier}): output tokens are estimated from max_tokens at the start "
            f"of a request. Please reduce max_tokens to at most {limit}.",
            output.seconds_until(output.capacity),
        )

    def _refusal(self, rate_class: str, message: str, wait_s: float) -> SimAPIError:
        error = rate_limited(message, max(1, math.ceil(wait_s)))
        error.headers.update(self.headers(rate_class))
        return error

    def settle(self, rate_class: str, reserved: int, actual: int) -> None:
        """At the end of a request: give back the part of its reservation its answer did not use."""
        buckets = self._for(rate_class)
        if buckets is not None:
            buckets.output_tokens.give_back(reserved - min(reserved, max(0, actual)))

    def headers(self, rate_class: str) -> dict[str, str]:
        buckets = self._for(rate_class)
        if buckets is None:
            return {}
        headers: dict[str, str] = {}
        named = {
            "requests": buckets.requests,
            "input-tokens": buckets.input_tokens,
            "output-tokens": buckets.output_tokens,
        }
        # "tokens" reports the most restrictive token limit in effect: the one with the smaller share left.
        named["tokens"] = min(
            (buckets.input_tokens, buckets.output_tokens), key=lambda bucket: bucket.level() / bucket.capacity
        )
        for name, bucket in named.items():
            headers[f"anthropic-ratelimit-{name}-limit"] = str(int(bucket.capacity))
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, math.floor(bucket.level())))
            headers[f"anthropic-ratelimit-{name}-reset"] = self._reset_time(bucket)
        return headers

    def _reset_time(self, bucket: TokenBucket) -> str:
        full_at = self._clock.now() + bucket.seconds_until(bucket.capacity)
        return self._clock.wall_at(math.ceil(full_at)).strftime("%Y-%m-%dT%H:%M:%SZ")
