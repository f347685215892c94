"""Wall time of a plan's execution: the longest of what bounds it.

A run cannot end before its critical path (the longest chain of dependent tasks, each weighted by its
expected duration), nor before its task slots have done all the work (total duration / concurrency), nor
before the rate limits let its requests and tokens through (per model group: requests / RPM, input
tokens that count (uncached and cache writes) / ITPM, output tokens / OTPM, less the minute's worth a full
bucket lets through at once). The forecast is
the largest of these bounds; issue 11 measured runs within 2-11% of it.

Durations: time to first token plus output tokens at the model's speed. Before any history the speeds are
priors (``SPEED_PRIORS``, typical of the fast and strong classes); with history they are the measured ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from masterplan.config import RateTier
from masterplan.executor.ordering import TaskGraph
from masterplan.forecast.report import WallTime
from masterplan.llm.ratelimit.limits import tier_limits

TIERS: tuple[RateTier, ...] = ("1", "2", "3", "4", "none")
CONCURRENCIES = (1, 2, 4)


@dataclass(frozen=True)
class Speed:
    ttft_s: float
    output_tokens_per_s: float

    def seconds(self, output_tokens: int) -> float:
        return self.ttft_s + output_tokens / self.output_tokens_per_s


SPEED_PRIORS: Mapping[str, Speed] = {"fast": Speed(0.6, 150.0), "strong": Speed(1.2, 75.0)}


@dataclass
class GroupLoad:
    """What a model group's calls ask of its rate limits over the whole execution."""

    requests: float = 0.0
    input_tokens: float = 0.0
    """Uncached input and cache writes: what the input-tokens-per-minute limit counts."""
    output_tokens: float = 0.0


@dataclass
class ExecutionLoad:
    durations: dict[str, float] = field(default_factory=dict)
    """Task id -> expected seconds of its calls and checks (retries included)."""
    groups: dict[str, GroupLoad] = field(default_factory=dict)

    def group(self, name: str) -> GroupLoad:
        return self.groups.setdefault(name, GroupLoad())


def wall_time(graph: TaskGraph, load: ExecutionLoad, *, tier: RateTier, concurrency: int) -> WallTime:
    paths = graph.remaining_paths(load.durations)
    bounds: list[tuple[float, str]] = [
        (max(paths.values(), default=0.0), "critical_path"),
        (sum(load.durations.values()) / concurrency, "task_slots"),
    ]
    for name, group in sorted(load.groups.items()):
        try:
            limits = tier_limits(tier, name)
        except ValueError:  # a group with no published preset: its limits are learnt from the headers
            limits = None
        if limits is None:
            continue
        bounds += [
            (_through_bucket(group.requests, limits.requests_per_minute), f"requests ({name})"),
            (_through_bucket(group.input_tokens, limits.input_tokens_per_minute), f"input_tokens ({name})"),
            (_through_bucket(group.output_tokens, limits.output_tokens_per_minute), f"output_tokens ({name})"),
        ]
    seconds, bound = max(bounds)
    return WallTime(tier=tier, concurrency=concurrency, seconds=round(seconds, 1), bound=bound)


def _through_bucket(amount: float, per_minute: int) -> float:
    """Seconds a token bucket of one minute's capacity, full at the start, needs to let ``amount`` through."""
    return 60.0 * max(0.0, amount - per_minute) / per_minute


def wall_times(graph: TaskGraph, load: ExecutionLoad, concurrencies: Sequence[int]) -> list[WallTime]:
    return [
        wall_time(graph, load, tier=tier, concurrency=concurrency) for tier in TIERS for concurrency in concurrencies
    ]
