"""Prompt caching as Anthropic describes it.

The prompt is a sequence of blocks in prefix order (tools -> system -> messages). A block with
``cache_control`` is a breakpoint: the prefix ending there may be cached, if it is at least the
model's minimum cacheable length. A request reads the longest cached prefix it can find (at a
breakpoint, or up to ``LOOKBACK_BLOCKS`` blocks before one, where an earlier request put its
breakpoint), writes its later breakpoints, and pays full price for the rest. A hit refreshes
the entry's TTL. Entries are per model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from masterplan.sim.clock import SimClock
from masterplan.sim.request import TTL_SECONDS, CacheTTL, MessagesRequest

LOOKBACK_BLOCKS = 20
_PRUNE_EVERY = 256


@dataclass
class _Entry:
    ttl: CacheTTL
    expires_at: float


@dataclass(frozen=True)
class _Write:
    digest: bytes
    ttl: CacheTTL


@dataclass(frozen=True)
class CachePlan:
    """What a request reads from and writes to the cache; nothing is stored until ``commit``."""

    read_tokens: int
    write_5m_tokens: int
    write_1h_tokens: int
    uncached_tokens: int
    refreshes: tuple[_Write, ...] = field(default=())
    writes: tuple[_Write, ...] = field(default=())

    @property
    def write_tokens(self) -> int:
        return self.write_5m_tokens + self.write_1h_tokens


class PromptCache:
    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._entries: dict[bytes, _Entry] = {}
        self._commits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def _live(self, digest: bytes, now: float) -> _Entry | None:
        entry = self._entries.get(digest)
        if entry is None or entry.expires_at <= now:
            return None
        return entry

    def plan(self, request: MessagesRequest) -> CachePlan:
        now = self._clock.now()
        running = hashlib.sha256(request.spec.name.encode())
        if request.output_schema is not None:  # the schema is part of the prompt: another schema, another prefix
            running.update(orjson.dumps(request.output_schema, option=orjson.OPT_SORT_KEYS))
        digests: list[bytes] = []
        ends: list[int] = []
        total = 0
        for segment in request.segments:
            running.update(hashlib.sha256(segment.key).digest())
            digests.append(running.copy().digest())
            total += segment.tokens
            ends.append(total)
        breakpoints = [i for i, segment in enumerate(request.segments) if segment.ttl is not None]
        hit = self._longest_hit(digests, breakpoints, now)
        read_tokens = ends[hit] if hit >= 0 else 0
        refreshes = tuple(
            _Write(digests[i], request.segments[i].ttl or "5m")
            for i in breakpoints
            if i <= hit and self._live(digests[i], now) is not None
        )
        if hit >= 0 and hit not in breakpoints:
            refreshes += (_Write(digests[hit], self._entries[digests[hit]].ttl),)
        written = {"5m": 0, "1h": 0}
        writes: list[_Write] = []
        covered = read_tokens
        for i in breakpoints:
            ttl = request.segments[i].ttl or "5m"
            if i <= hit or ends[i] < request.spec.min_cacheable_tokens:
                continue
            written[ttl] += ends[i] - covered
            covered = ends[i]
            writes.append(_Write(digests[i], ttl))
        return CachePlan(
            read_tokens=read_tokens,
            write_5m_tokens=written["5m"],
            write_1h_tokens=written["1h"],
            uncached_tokens=total - covered,
            refreshes=refreshes,
            writes=tuple(writes),
        )

    def _longest_hit(self, digests: list[bytes], breakpoints: list[int], now: float) -> int:
        for breakpoint in reversed(breakpoints):
            for i in range(breakpoint, max(-1, breakpoint - LOOKBACK_BLOCKS), -1):
                if self._live(digests[i], now) is not None:
                    return i
        return -1

    def commit(self, plan: CachePlan) -> None:
        now = self._clock.now()
        for item in (*plan.refreshes, *plan.writes):
            entry = self._entries.get(item.digest)
            ttl: CacheTTL = "1h" if item.ttl == "1h" or (entry is not None and entry.ttl == "1h") else "5m"
            self._entries[item.digest] = _Entry(ttl, now + TTL_SECONDS[ttl])
        self._commits += 1
        if self._commits % _PRUNE_EVERY == 0:
            self._entries = {key: entry for key, entry in self._entries.items() if entry.expires_at > now}
