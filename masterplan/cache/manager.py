"""PromptCacheManager: lays out each request as a stable, cacheable prefix plus a variable tail.

Breakpoints (at most 4) sit where prompts repeat:
1. the role's system prompt with its output schema;
2. the project context (request, discovery document, master plan, learnings), stable for a run;
3. the last entry of the append-only completed-task log, so the next task call reads all of
   this call's prefix from cache (Anthropic looks up to 20 blocks back for an earlier breakpoint).
The tail (task, feedback, files...) is never cached. The prefix of a run is byte-identical from
call to call because every part of it is rendered deterministically and the log only grows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from masterplan.cache.context import RunCacheContext, running_digests
from masterplan.cache.layout import schema_for, system_text
from masterplan.cache.ttl import TTLHint
from masterplan.llm.clock import Clock, SystemClock
from masterplan.llm.observer import GatewayObserver, ShortCacheBreakpoint
from masterplan.llm.pricing import PriceTable
from masterplan.llm.request import CacheTTL, LLMRequest, PromptBlock
from masterplan.models import PhaseConfig

LOG_CLOSE = "</completed_tasks>"


@dataclass(frozen=True)
class _Layout:
    system: tuple[PromptBlock, ...]
    user: tuple[PromptBlock, ...]


class PromptCacheManager:
    def __init__(
        self,
        prices: PriceTable,
        *,
        observer: GatewayObserver | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._prices = prices
        self._observer = observer or GatewayObserver()
        self._clock = clock or SystemClock()

    def build_request(
        self,
        phase: PhaseConfig,
        model: str,
        system_prompt: str,
        *,
        tail: str,
        run: RunCacheContext | None = None,
        ttl_hint: TTLHint | None = None,
        include_project: bool = True,
        include_completed_tasks: bool = False,
        max_tokens: int | None = None,
    ) -> LLMRequest:
        """One request of ``phase`` for ``model``.

        ``system_prompt`` is the role prompt (the output schema is appended from ``phase.schema_name``);
        the project block comes from ``run.project`` when set and ``include_project``; the completed-task
        log and phase summaries from ``run`` when ``include_completed_tasks``; ``tail`` is the variable rest.
        The answer may have up to the phase's ``max_tokens`` (capped by the model's maximum output);
        ``max_tokens``, when given, is what the request asks for at first (an answer-sized choice, see
        ``masterplan.llm.answer_sizes``): an answer cut there is continued up to the phase's maximum.
        """
        price = self._prices.get(model)
        answer_max_tokens = self.answer_max_tokens(phase, model)
        if not tail.strip():
            raise ValueError(f"the tail of a {phase.phase} request is empty; it carries the call's variable input")
        hint = ttl_hint or TTLHint()
        layout = self._layout(
            phase,
            system_prompt,
            tail,
            run=run,
            hint=hint,
            include_project=include_project,
            include_log=include_completed_tasks,
        )
        request = LLMRequest(
            model=model,
            max_tokens=answer_max_tokens if max_tokens is None else min(max_tokens, answer_max_tokens),
            answer_max_tokens=answer_max_tokens,
            temperature=phase.temperature if price.sampling_parameters else None,
            system=layout.system,
            user=layout.user,
            schema_name=phase.schema_name,
            phase=phase.phase,
        )
        if run is not None:
            request = self._plan_cache_reads(request, run)
        self._check_minimum(request, run, price.min_cacheable_tokens)
        return request

    def answer_max_tokens(self, phase: PhaseConfig, model: str) -> int:
        """The most output tokens an answer of ``phase`` by ``model`` may have: the phase's, within the model's."""
        return min(phase.max_tokens, self._prices.get(model).max_output_tokens)

    def _layout(
        self,
        phase: PhaseConfig,
        system_prompt: str,
        tail: str,
        *,
        run: RunCacheContext | None,
        hint: TTLHint,
        include_project: bool,
        include_log: bool,
    ) -> _Layout:
        stable_ttl, log_ttl = _ordered_ttls(hint.stable_ttl, hint.log_ttl)
        system = (PromptBlock(system_text(system_prompt, schema_for(phase.schema_name)), "role", stable_ttl),)
        user: list[PromptBlock] = []
        if run is not None and include_project and run.project is not None:
            user.append(PromptBlock(run.project.render(), "project", stable_ttl))
        log_blocks = run.log_blocks() if run is not None and include_log else []
        summaries = run.phase_summaries_text() if run is not None and include_log else None
        if summaries is not None:
            user.append(PromptBlock(summaries, "phase_summaries"))
        for i, text in enumerate(log_blocks):
            last = i == len(log_blocks) - 1
            user.append(PromptBlock(text, "completed_tasks", log_ttl if last else None))
        user.append(PromptBlock((LOG_CLOSE + "\n\n" + tail) if log_blocks else tail, "tail"))
        return _Layout(system, tuple(user))

    def _plan_cache_reads(self, request: LLMRequest, run: RunCacheContext) -> LLMRequest:
        """Predicts this request's cache reads from what the run sent before, and remembers what it writes."""
        now = self._clock.now()
        keys = [("system", b.text) for b in request.system] + [("user", b.text) for b in request.user]
        digests = running_digests(keys, run.block_digests)
        prefix_tokens = []
        running = 0
        for tokens in request.block_tokens:
            running += tokens
            prefix_tokens.append(running)
        points = request.breakpoints()
        expected = run.expected_read_tokens(request.model, digests, prefix_tokens, [p.index for p in points], now)
        minimum = self._prices.get(request.model).min_cacheable_tokens
        for point in points:
            if point.prefix_tokens >= minimum:
                run.remember_cached(request.model, digests[point.index], point.prefix_tokens, point.ttl, now)
        return _with_expected_reads(request, expected)

    def _check_minimum(self, request: LLMRequest, run: RunCacheContext | None, minimum: int) -> None:
        """Reports when even the longest breakpoint's prefix is too short to cache: the prompt is billed in full."""
        points = request.breakpoints()
        if not points or points[-1].prefix_tokens >= minimum:
            return
        last = points[-1]
        first = run.first_short_report(request.model, last.label) if run is not None else True
        self._observer.on_cache_breakpoint_too_short(
            ShortCacheBreakpoint(
                model=request.model,
                block=last.label,
                prefix_tokens=last.prefix_tokens,
                minimum_tokens=minimum,
                run_id=run.run_id if run is not None else None,
                phase=request.phase,
                first_in_run=first,
            )
        )


def _ordered_ttls(stable: CacheTTL, log: CacheTTL) -> tuple[CacheTTL, CacheTTL]:
    """Anthropic requires 1h breakpoints before 5m ones: a 1h log upgrades the stable blocks to 1h."""
    if log == "1h":
        return "1h", "1h"
    return stable, log


def _with_expected_reads(request: LLMRequest, expected: int) -> LLMRequest:
    return replace(request, expected_cache_read_tokens=expected)
