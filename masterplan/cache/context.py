"""What one run keeps for its requests: the project context and the append-only logs.

The completed-task log only grows, and each entry is its own prompt block, so the blocks a
task call sends are exactly the blocks the previous task call sent plus the new entries.
The previous call's cached prefix is therefore a prefix of this call's, and is read from cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from masterplan.cache.layout import canonical_json, completed_task_line, tagged
from masterplan.llm.request import CacheTTL
from masterplan.models import DiscoveryDocument, MasterPlan, PhaseSummary

TTL_SECONDS: dict[str, float] = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20
"""How far before a breakpoint Anthropic looks for an earlier cached prefix."""


@dataclass(frozen=True)
class ProjectContext:
    """The stable part of a run's prompts: the request, the repository's map, the domain model, the plan and the
    learnings."""

    request: str
    repository_map: str | None = None
    """A repository run's map of the existing code (``masterplan.repository.map``), built once and stored."""
    discovery_document: DiscoveryDocument | None = None
    master_plan: MasterPlan | None = None
    learnings: tuple[str, ...] = ()

    def render(self) -> str:
        return self._rendered

    @cached_property
    def _rendered(self) -> str:
        """Rendered once: the plan alone is tens of kilobytes of JSON, and every call of the run sends it."""
        parts = [tagged("request", self.request)]
        if self.repository_map is not None:
            parts.append(tagged("repository_map", "\n" + self.repository_map.rstrip("\n") + "\n"))
        if self.discovery_document is not None:
            parts.append(tagged("discovery_document", canonical_json(self.discovery_document)))
        if self.master_plan is not None:
            parts.append(tagged("master_plan", canonical_json(self.master_plan)))
        if self.learnings:
            parts.append(tagged("learnings", "\n".join(f"- {' '.join(text.split())}" for text in self.learnings)))
        return tagged("project", "\n" + "\n".join(parts) + "\n")


@dataclass
class _CachedPrefix:
    tokens: int
    expires_at: float


@dataclass
class RunCacheContext:
    """Per run: project context, completed-task log and phase summaries (both append-only)."""

    run_id: str
    project: ProjectContext | None = None
    _completed: list[str] = field(default_factory=list, repr=False)
    _completed_ids: set[str] = field(default_factory=set, repr=False)
    _phase_summaries: list[PhaseSummary] = field(default_factory=list, repr=False)
    _cached: dict[tuple[str, bytes], _CachedPrefix] = field(default_factory=dict, repr=False)
    _reported_short: set[tuple[str, str]] = field(default_factory=set, repr=False)
    block_digests: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False)
    """Digests of prompt blocks this run sent before the tail (see ``running_digests``)."""

    def append_completed(self, task_id: str, summary: str, files: Sequence[str]) -> None:
        """Adds one line to the log; a task already logged is refused (the log never changes, only grows)."""
        if task_id in self._completed_ids:
            raise ValueError(f"task {task_id!r} is already in the completed-task log of run {self.run_id}")
        self._completed_ids.add(task_id)
        self._completed.append(completed_task_line(task_id, summary, files))

    def append_phase_summary(self, summary: PhaseSummary) -> None:
        self._phase_summaries.append(summary)

    @property
    def completed_lines(self) -> tuple[str, ...]:
        return tuple(self._completed)

    @property
    def phase_summaries(self) -> tuple[PhaseSummary, ...]:
        return tuple(self._phase_summaries)

    def log_blocks(self) -> list[str]:
        """One text per completed task; the first opens ``<completed_tasks>`` (the tail closes it)."""
        if not self._completed:
            return []
        return ["<completed_tasks>\n" + self._completed[0], *self._completed[1:]]

    def phase_summaries_text(self) -> str | None:
        if not self._phase_summaries:
            return None
        return tagged("phase_summaries", canonical_json(list(self._phase_summaries)))

    # -- what this run has (probably) cached, to predict cache reads

    def expected_read_tokens(
        self, model: str, digests: Sequence[bytes], prefix_tokens: Sequence[int], breakpoints: Sequence[int], now: float
    ) -> int:
        """Tokens of the longest prefix an earlier request of this run cached (as Anthropic looks it up)."""
        for index in reversed(breakpoints):
            for position in range(index, max(-1, index - LOOKBACK_BLOCKS), -1):
                entry = self._cached.get((model, digests[position]))
                if entry is not None and entry.expires_at > now:
                    return prefix_tokens[position]
        return 0

    def remember_cached(self, model: str, digest: bytes, tokens: int, ttl: CacheTTL, now: float) -> None:
        self._cached[(model, digest)] = _CachedPrefix(tokens, now + TTL_SECONDS[ttl])

    def first_short_report(self, model: str, block: str) -> bool:
        key = (model, block)
        if key in self._reported_short:
            return False
        self._reported_short.add(key)
        return True


def running_digests(
    blocks: Sequence[tuple[str, str]], known: dict[tuple[str, str], bytes] | None = None
) -> list[bytes]:
    """Digest of each prefix of (role, text) blocks: block i's digest covers blocks 0..i.

    ``known`` keeps the digests of the blocks before the last (the stable prefix a run sends
    again and again), so each is hashed once; the last block, the call's own tail, is not kept.
    """
    running = hashlib.sha256()
    digests = []
    for index, block in enumerate(blocks):
        digest = known.get(block) if known is not None else None
        if digest is None:
            role, text = block
            digest = hashlib.sha256(f"{role}:{text}".encode()).digest()
            if known is not None and index < len(blocks) - 1:
                known[block] = digest
        running.update(digest)
        digests.append(running.copy().digest())
    return digests
