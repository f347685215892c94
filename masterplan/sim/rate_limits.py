"""Anthropic's rate limits: per model class, token buckets refilled continuously.

Each class has three buckets: requests, input tokens (uncached input plus cache writes; cache
reads are free) and output tokens per minute. A request is admitted when it has a request to
spend and its input tokens fit; an input larger than the whole bucket is admitted only when the
bucket is full (otherwise it could never pass). Output tokens are charged when the answer is
known, so a bucket can go into debt; while the output bucket is in debt, requests are refused.
Anthropic estimates output from ``max_tokens`` up front instead: with ``max_tokens`` above the
tier's output limit (masterplan's planner asks 32,000 on tier 1's 8,000) nothing would pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from masterplan.sim.clock import SimClock
from masterplan.sim.errors import rate_limited
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

    def admit(self, rate_class: str, model: str, input_tokens: int) -> None:
        """Spend one request and ``input_tokens``, or raise a 429 ``SimAPIError``."""
        buckets = self._for(rate_class)
        if buckets is None:
            return
        waits: list[tuple[float, str]] = []
        if buckets.requests.level() < 1:
            waits.append((buckets.requests.seconds_until(1), f"{int(buckets.requests.capacity):,} requests"))
        input_level = buckets.input_tokens.level()
        if input_level < min(input_tokens, buckets.input_tokens.capacity):
            waits.append(
                (
                    buckets.input_tokens.seconds_until(input_tokens),
                    f"{int(buckets.input_tokens.capacity):,} input tokens",
                )
            )
        if buckets.output_tokens.level() <= 0:
            waits.append(
                (buckets.output_tokens.seconds_until(1), f"{int(buckets.output_tokens.capacity):,} output tokens")
            )
        if waits:
            wait, what = max(waits)
            error = rate_limited(
                f"This request would exceed your organization's rate limit of {what} per minute "
                f"(model: {model}, tier {self._tier}). Retry after the time in the retry-after header.",
                max(1, math.ceil(wait)),
            )
            error.headers.update(self.headers(rate_class))
            raise error
        buckets.requests.take(1)
        buckets.input_tokens.take(input_tokens)

    def charge_output(self, rate_class: str, output_tokens: int) -> None:
        buckets = self._for(rate_class)
        if buckets is not None:
            buckets.output_tokens.take(output_tokens)

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
