"""Anthropic's per-minute limits as data (``rate_limits.toml``): tier presets and custom limits."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from masterplan.config import RateTier


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits of one rate-limit pool (a model group such as Sonnet 4.x)."""

    requests_per_minute: int
    input_tokens_per_minute: int
    output_tokens_per_minute: int

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"):
            if getattr(self, name) <= 0:
                raise ValueError(f"rate limit {name} must be positive, got {getattr(self, name)}")


@cache
def load_tier_presets() -> dict[str, dict[str, RateLimits]]:
    """Tier ("1".."4") -> rate-limit group -> limits, from the packaged rate_limits.toml."""
    text = resources.files("masterplan.llm").joinpath("rate_limits.toml").read_text(encoding="utf-8")
    presets: dict[str, dict[str, RateLimits]] = {}
    for section, groups in tomllib.loads(text).items():
        tier = section.removeprefix("tier")
        presets[tier] = {
            group: RateLimits(
                requests_per_minute=int(values["rpm"]),
                input_tokens_per_minute=int(values["itpm"]),
                output_tokens_per_minute=int(values["otpm"]),
            )
            for group, values in groups.items()
        }
    return presets


def tier_limits(tier: RateTier, group: str) -> RateLimits | None:
    """The preset limits of ``group`` at ``tier``; None for tier "none" (no client-side limit)."""
    if tier == "none":
        return None
    presets = load_tier_presets()
    if tier not in presets:
        raise ValueError(f"unknown rate-limit tier {tier!r}; known: {', '.join(sorted(presets))}, none")
    try:
        return presets[tier][group]
    except KeyError:
        known = ", ".join(sorted(presets[tier]))
        raise ValueError(f"no tier {tier} rate limits for model group {group!r}; known groups: {known}") from None
