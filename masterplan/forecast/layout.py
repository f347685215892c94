"""A run's requests as the PromptCacheManager will lay them out, replayed before any is sent.

The prefix (role prompt with its schema, the project block with the plan) is known exactly; the
completed-task log grows by one line a task and phase summaries join it, as in a run; the tail is the
task's JSON and its dependencies' files, estimated from their expected output. Each request goes
through the real ``PromptCacheManager.build_request`` against a run cache context of the forecast's
own, on a ``ManualClock`` that nothing advances, so the split into cache reads, cache writes and uncached input is
the one the manager predicts for the run (and the one the simulator bills).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from masterplan.cache.context import ProjectContext, RunCacheContext
from masterplan.cache.layout import canonical_json, tagged
from masterplan.cache.manager import PromptCacheManager
from masterplan.executor.calling import PHASES_WITH_LOG
from masterplan.llm.clock import ManualClock
from masterplan.llm.pricing import PriceTable
from masterplan.llm.request import LLMRequest
from masterplan.models import PhaseConfig, PhaseSummary, PlanTask, RolePrompt, Usage

SUMMARY_CHARS = 160
"""A completed task's summary line in the log (the developer role writes one or two sentences)."""
BYTES_PER_TOKEN = 4


@dataclass(frozen=True)
class PhaseSetup:
    config: PhaseConfig
    prompt: RolePrompt


class RequestReplay:
    """Builds the run's task requests in execution order and says how each one's input will be billed."""

    def __init__(self, prices: PriceTable, project: ProjectContext) -> None:
        self._manager = PromptCacheManager(prices, clock=ManualClock())
        self._cache = RunCacheContext(run_id="forecast", project=project)
        self._prices = prices

    def task_tokens(
        self, setup: PhaseSetup, model: str, task: PlanTask, dependency_tokens: int, output_tokens: int
    ) -> Usage:
        parts = [tagged("task", canonical_json(task))]
        if dependency_tokens:
            parts.append(tagged("dependency_outputs", _filler(dependency_tokens)))
        return self._tokens(setup, model, "\n".join(parts), output_tokens)

    def summary_tokens(self, setup: PhaseSetup, model: str, phase_id: str, tasks: Sequence[PlanTask]) -> Usage:
        lines = [{"task_id": t.task_id, "title": t.title, "summary": _filler(SUMMARY_CHARS // 4)} for t in tasks]
        tail = "\n".join([tagged("phase", phase_id), tagged("phase_tasks", canonical_json(lines))])
        return self._tokens(setup, model, tail, 0)

    def review_tokens(self, setup: PhaseSetup, model: str, task: PlanTask, answer_tokens: int) -> Usage:
        tail = "\n".join([tagged("task", canonical_json(task)), tagged("task_output", _filler(answer_tokens))])
        return self._tokens(setup, model, tail, 0)

    def complete(self, task: PlanTask) -> None:
        """The task's line joins the log, as when it completes in the run."""
        self._cache.append_completed(task.task_id, "x" * SUMMARY_CHARS, task.files)

    def summarize(self, phase_id: str, summary_tokens: int) -> None:
        self._cache.append_phase_summary(PhaseSummary(phase=phase_id, summary=_filler(summary_tokens)))

    def _tokens(self, setup: PhaseSetup, model: str, tail: str, output_tokens: int) -> Usage:
        request = self._manager.build_request(
            setup.config,
            model,
            setup.prompt.body,
            tail=tail,
            run=self._cache,
            include_completed_tasks=setup.config.phase in PHASES_WITH_LOG,
        )
        return split_input(request, self._prices.get(model).min_cacheable_tokens, output_tokens)


def split_input(request: LLMRequest, min_cacheable_tokens: int, output_tokens: int) -> Usage:
    """Reads as predicted; the longest breakpoint's prefix beyond them written (when long enough to cache)."""
    total = request.estimated_input_tokens
    read = request.expected_cache_read_tokens
    points = request.breakpoints()
    cached_prefix = points[-1].prefix_tokens if points else 0
    written = max(0, cached_prefix - read) if cached_prefix >= min_cacheable_tokens else 0
    return Usage(
        input_tokens=total - read - written,
        cache_write_tokens=written,
        cache_read_tokens=read,
        output_tokens=output_tokens,
    )


def _filler(tokens: int) -> str:
    """Text that counts ``tokens`` tokens under masterplan's estimate (words, so it reads like prose)."""
    return ("word " * tokens)[: tokens * BYTES_PER_TOKEN]
