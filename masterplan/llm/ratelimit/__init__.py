"""Client-side token buckets that keep masterplan under Anthropic's rate limits."""

from masterplan.llm.ratelimit.bucket import TokenBucket
from masterplan.llm.ratelimit.limiter import RateLimiter, RateLimiterStats, RatePool, RateReservation
from masterplan.llm.ratelimit.limits import RateLimits, load_tier_presets, tier_limits

__all__ = [
    "RateLimiter",
    "RateLimiterStats",
    "RateLimits",
    "RatePool",
    "RateReservation",
    "TokenBucket",
    "load_tier_presets",
    "tier_limits",
]
