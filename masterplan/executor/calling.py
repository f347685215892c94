"""One phase's LLM call for one run: configuration, prompt version, model, request layout, budget.

The prompt version is pinned for the run at first use, so a prompt edited while
a run is going neither breaks its cache prefix nor mixes versions in one run.
The cache TTL follows the gap actually seen between this run's calls: once
checks or waits make gaps near 5 minutes, the 1-hour TTL is cheaper than
rewriting a 5-minute entry. A call asks for as many output tokens as answers of
its kind needed in earlier runs (``answer_sizes``, see ``masterplan.llm.answer_sizes``),
and its answer's size is recorded for the runs after it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel

from masterplan.cache.context import RunCacheContext
from masterplan.cache.layout import tagged
from masterplan.cache.manager import PromptCacheManager
from masterplan.cache.ttl import TTLHint
from masterplan.config import Settings
from masterplan.executor.context import CallResult, RunCancelled
from masterplan.executor.journal import Journal
from masterplan.llm.answer_history import AnswerSizeBook
from masterplan.llm.attempt import AnswerWatcher
from masterplan.llm.batching import RunBatches
from masterplan.llm.budget import RunBudget
from masterplan.llm.errors import CallCanceled
from masterplan.llm.gateway import LLMGateway
from masterplan.llm.observer import GatewayObserver, ShortCacheBreakpoint
from masterplan.llm.result import CallContext, LLMResult
from masterplan.llm.routing import select_model
from masterplan.models import Complexity, PhaseConfig, PlanTask, RolePrompt, TaskType
from masterplan.store import AnswerSize, AnswerSizeKey

T = TypeVar("T", bound=BaseModel)

BUDGET_WARNING_SHARE = Decimal("0.8")
PHASES_WITH_LOG = frozenset({"task_execution", "qa_review", "phase_summary"})
TASK_PHASE = "task_execution"
"""The phase whose answer sizes are kept per task type and complexity."""
RECENT_GAPS = 3


class ShortPrefixReports(GatewayObserver):
    """Collects the cache manager's too-short-prefix reports per run until that run's caller records them."""

    def __init__(self) -> None:
        self._pending: dict[str | None, list[ShortCacheBreakpoint]] = defaultdict(list)

    def on_cache_breakpoint_too_short(self, breakpoint: ShortCacheBreakpoint) -> None:
        if breakpoint.first_in_run:
            self._pending[breakpoint.run_id].append(breakpoint)

    def take(self, run_id: str) -> list[ShortCacheBreakpoint]:
        return self._pending.pop(run_id, [])


@dataclass(frozen=True)
class _PhaseSetup:
    config: PhaseConfig
    prompt: RolePrompt


class PhaseCaller:
    def __init__(
        self,
        *,
        run_id: str,
        gateway: LLMGateway,
        cache_manager: PromptCacheManager,
        journal: Journal,
        settings: Settings,
        budget: RunBudget,
        cache: RunCacheContext,
        is_cancelled: Callable[[], bool],
        short_prefixes: ShortPrefixReports | None = None,
        answer_sizes: AnswerSizeBook | None = None,
        batches: RunBatches | None = None,
    ) -> None:
        """``answer_sizes`` defaults to a book of this run that reads earlier runs' sizes through ``journal``;
        ``batches``: a batch-mode run's Message Batches, which every call then goes through."""
        self.run_id = run_id
        self.answer_sizes = answer_sizes or AnswerSizeBook(journal.read, run_id=run_id)
        self._gateway = gateway
        self._cache_manager = cache_manager
        self._journal = journal
        self._settings = settings
        self.budget = budget
        self._cache = cache
        self._is_cancelled = is_cancelled
        self._short_prefixes = short_prefixes or ShortPrefixReports()
        self._setups: dict[str, _PhaseSetup] = {}
        self._last_call_end: float | None = None
        self._gaps: deque[float] = deque(maxlen=RECENT_GAPS)
        self._usage_missing_reported = False
        self.batches = batches
        self._asks: dict[tuple[str, str | None, str], int] = defaultdict(int)

    async def _setup(self, phase: str) -> _PhaseSetup:
        setup = self._setups.get(phase)
        if setup is None:
            async with self._journal.read() as tx:
                config = await tx.get_phase_config(phase)
                prompt = await tx.get_prompt(config.prompt)
            setup = self._setups[phase] = _PhaseSetup(config, prompt)
        return setup

    def _ttl_hint(self) -> TTLHint:
        return TTLHint(stable_gap_s=max(self._gaps, default=0.0))

    async def call(
        self,
        phase: str,
        schema: type[T],
        *,
        tail: str,
        task_id: str | None = None,
        task_type: TaskType | None = None,
        complexity: Complexity | None = None,
        escalate: bool = False,
        watcher: AnswerWatcher | None = None,
        model: str | None = None,
        reask_of: str | None = None,
    ) -> CallResult[T]:
        """One call of ``phase``; ``reask_of`` is the outcome of the unusable answer this call asks again for."""
        if self._is_cancelled():
            raise RunCancelled(self.run_id)
        setup = await self._setup(phase)
        model = model or select_model(setup.config, complexity, escalate, self._settings)
        size_key = answer_size_key(phase, model, task_type, complexity)
        ceiling = self._cache_manager.answer_max_tokens(setup.config, model)
        request = self._cache_manager.build_request(
            setup.config,
            model,
            setup.prompt.body,
            tail=tail,
            run=self._cache,
            ttl_hint=self._ttl_hint(),
            include_completed_tasks=phase in PHASES_WITH_LOG,
            max_tokens=await self.answer_sizes.max_tokens(size_key, ceiling),
        )
        asked = call_key(phase, task_id, tail)
        self._asks[asked] += 1
        context = CallContext(
            phase=phase,
            role=setup.config.role,
            prompt_name=setup.prompt.name,
            prompt_version=setup.prompt.version,
            run_id=self.run_id,
            task_id=task_id,
            # A resumed run asks again in the same order, so the same call gets the same key (batch mode).
            call_key=f"{asked[2]}ask{self._asks[asked]}",
            reuse_answered=task_id is not None,
        )
        await self._journal.settle(self.run_id)  # nothing is sent before what came before it is durable
        spent_before = self.budget.spent_usd
        started = time.monotonic()
        if self._last_call_end is not None:
            self._gaps.append(started - self._last_call_end)
        try:
            result = await self._gateway.complete(
                request, schema=schema, context=context, budget=self.budget, watcher=watcher, batches=self.batches
            )
        except CallCanceled:
            raise RunCancelled(self.run_id) from None
        finally:
            self._last_call_end = time.monotonic()
        self._record_size(size_key, result)
        self._record(result, phase, task_id, spent_before, reask_of)
        failure = result.failure
        return CallResult(
            value=result.parsed,
            feedback=failure.feedback if failure is not None else None,
            outcome=failure.outcome if failure is not None else "ok",
            model=result.model,
            cost_usd=result.cost_usd,
            truncated=failure.truncated if failure is not None else False,
            error=failure.summary if failure is not None else None,
            text=result.text,
        )

    async def attempts_allowed(self, phase: str) -> int:
        return 1 + (await self._setup(phase)).config.retries

    async def expected_output_tokens(
        self,
        phase: str,
        *,
        task_type: TaskType | None = None,
        complexity: Complexity | None = None,
    ) -> int:
        """Output tokens an answer of ``phase`` is expected to have (for tasks: of this type and complexity).

        The median of earlier runs' answers of the kind, or the phase's prior
        (``masterplan.llm.answer_sizes.PRIORS``); for the model a first call (no escalation) would use.
        """
        setup = await self._setup(phase)
        model = select_model(setup.config, complexity, False, self._settings)
        return await self.answer_sizes.expected_output_tokens(answer_size_key(phase, model, task_type, complexity))

    async def expected_task_output_tokens(self, tasks: Sequence[PlanTask]) -> dict[str, int]:
        """Task id -> expected output tokens of its answer (see ``expected_output_tokens``)."""
        return {
            task.task_id: await self.expected_output_tokens(
                TASK_PHASE, task_type=task.task_type, complexity=task.complexity
            )
            for task in tasks
        }

    async def call_until_valid(
        self,
        phase: str,
        schema: type[T],
        *,
        tail: str,
        task_id: str | None = None,
        task_type: TaskType | None = None,
        complexity: Complexity | None = None,
        escalate: bool = False,
        accept: Callable[[T], Awaitable[str | None]] | None = None,
        watcher: AnswerWatcher | None = None,
        on_answer: Callable[[CallResult[T]], None] | None = None,
        model: str | None = None,
    ) -> CallResult[T]:
        """Re-asks an unusable answer with its problem as feedback; the cost covers every call made.

        An answer is unusable when it does not parse into ``schema`` or when ``accept`` returns
        why it cannot be used (invalid files, say); it is asked at most 1 + the phase's retries times.
        ``on_answer`` sees each call's own result as it arrives (before the next call is sent).
        """
        attempts = await self.attempts_allowed(phase)
        total = Decimal(0)
        ask_tail = tail
        reask_of: str | None = None
        for _ in range(attempts):
            result = await self.call(
                phase,
                schema,
                tail=ask_tail,
                task_id=task_id,
                task_type=task_type,
                complexity=complexity,
                escalate=escalate,
                watcher=watcher,
                model=model,
                reask_of=reask_of,
            )
            total += result.cost_usd
            if on_answer is not None:
                on_answer(result)
            if result.value is not None and accept is not None:
                problem = await accept(result.value)
                if problem is not None:
                    result = dataclasses.replace(result, value=None, feedback=problem, outcome="rejected")
            if result.value is not None:
                break
            reask_of = result.outcome
            ask_tail = tail + "\n" + tagged("feedback", "\n" + (result.feedback or "") + "\n")
        return dataclasses.replace(result, cost_usd=total)

    def _record_size(self, key: AnswerSizeKey, result: LLMResult[T]) -> None:
        """The answer's size, for the calls of its kind in the runs after this one (written behind)."""
        size = AnswerSize(
            key=key,
            output_tokens=result.answer_output_tokens,
            cut=result.cut,
            parts=result.parts,
            run_id=self.run_id,
        )
        self._journal.defer(self.run_id, lambda tx: tx.record_answer_size(size))

    def _record(
        self, result: LLMResult[T], phase: str, task_id: str | None, spent_before: Decimal, reask_of: str | None
    ) -> None:
        """The call's event (and what it revealed: short cache prefixes, the budget warning), written behind."""
        threshold = self.budget.limit_usd * BUDGET_WARNING_SHARE
        events: list[tuple[str, dict[str, object]]] = [
            (
                "llm.call",
                {
                    "phase": phase,
                    "task_id": task_id,
                    "model": result.model,
                    "attempts": result.attempts,
                    "parts": result.parts,
                    "max_tokens": result.records[0].max_tokens,
                    "outcome": result.failure.outcome if result.failure is not None else "ok",
                    "input_tokens": result.usage.input_tokens,
                    "cache_write_tokens": result.usage.cache_write_tokens,
                    "cache_read_tokens": result.usage.cache_read_tokens,
                    "output_tokens": result.usage.output_tokens,
                    "cost_usd": str(result.cost_usd),
                    "uncached_cost_usd": str(result.uncached_cost_usd),
                    "cache_read_share": round(result.cache_read_share, 4),
                    "usage_estimated": any(record.usage_estimated for record in result.records),
                    "structured_output": result.structured_output,
                    "reask_of": reask_of,
                },
            )
        ]
        for short in self._short_prefixes.take(self.run_id):
            events.append(
                (
                    "cache.prefix_too_short",
                    {
                        "phase": short.phase,
                        "model": short.model,
                        "block": short.block,
                        "prefix_tokens": short.prefix_tokens,
                        "minimum_tokens": short.minimum_tokens,
                    },
                )
            )
        estimated = [record for record in result.records if record.usage_estimated]
        if estimated and not self._usage_missing_reported:
            self._usage_missing_reported = True  # once per run: every call of such a server would repeat it
            events.append(
                (
                    "llm.usage_missing",
                    {
                        "phase": phase,
                        "task_id": task_id,
                        "model": result.model,
                        "estimated_input_tokens": estimated[-1].input_tokens,
                        "estimated_output_tokens": estimated[-1].output_tokens,
                        "estimated_cost_usd": str(estimated[-1].cost_usd),
                    },
                )
            )
        if spent_before < threshold <= self.budget.spent_usd:
            events.append(
                (
                    "budget.warning",
                    {"spent_usd": str(self.budget.spent_usd), "budget_usd": str(self.budget.limit_usd)},
                )
            )
        for type_, data in events:
            self._journal.defer_event(self.run_id, type_, data)


def call_key(phase: str, task_id: str | None, tail: str) -> tuple[str, str | None, str]:
    """What tells a call apart from the run's other calls after a restart: its phase and task, and for a call
    that is no task's, its question (the tail): the summary of phase 2 is not that of phase 1."""
    if task_id is not None:
        return phase, task_id, ""
    return phase, None, hashlib.blake2b(tail.encode(), digest_size=4).hexdigest() + "-"


def answer_size_key(phase: str, model: str, task_type: TaskType | None, complexity: Complexity | None) -> AnswerSizeKey:
    """The kind of an answer: task calls by task type and complexity too, other calls by phase and model."""
    if phase != TASK_PHASE:
        return AnswerSizeKey(phase, model)
    return AnswerSizeKey(phase, model, task_type, complexity)
