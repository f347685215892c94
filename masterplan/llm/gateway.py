"""LLMGateway: the one way masterplan calls an LLM.

Per attempt: the worst case is set aside from the run's budget (or the call is refused with
BudgetExceeded), the rate limiter admits it, the attempt is written as started with its worst case
(so a crash cannot hide what it spent), the request is streamed, the rate-limit headers and the real
usage go back to the limiter, the real cost to the budget, and the attempt is recorded. An answer that
reports no input tokens is counted at masterplan's own estimate instead of $0, and flagged.
429s hold the model's pool for retry-after; 529/5xx/connection errors back off exponentially with
jitter; both within ``settings.max_attempts``. The SDK's own retries are off so every attempt is seen.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from types import TracebackType
from typing import Self, TypeVar

import anthropic
from pydantic import BaseModel

from masterplan.config import Settings
from masterplan.llm.attempt import AnswerWatcher, AttemptFailure, AttemptSuccess, stream_attempt
from masterplan.llm.budget import BudgetExceeded, RunBudget
from masterplan.llm.clock import Clock, SystemClock
from masterplan.llm.errors import GatewayConfigError, LLMRequestRejected, LLMUnavailable
from masterplan.llm.observer import GatewayObserver
from masterplan.llm.parser import LLMResponseParser, ParseFailure
from masterplan.llm.pricing import ModelPrice, PriceTable
from masterplan.llm.ratelimit import RateLimiter, RatePool, tier_limits
from masterplan.llm.request import LLMRequest, RequestLayoutError
from masterplan.llm.result import CallContext, LLMResult
from masterplan.llm.retry import Backoff
from masterplan.llm.routing import class_of_model, validate_configured_models
from masterplan.llm.usage import TokenUsage
from masterplan.models import CallOutcome, LLMCallRecord, ModelClass, utcnow

T = TypeVar("T", bound=BaseModel)

CallRecorder = Callable[[LLMCallRecord], Awaitable[None]]
"""Stores one attempt; the pipeline passes the store's ``record_llm_call``."""

CallStarter = Callable[[LLMCallRecord], Awaitable[int]]
"""Makes an attempt's ``started`` record (with its worst case) durable before it is sent; returns its id.

The record of the finished attempt then carries that id, so the recorder completes the row."""

logger = logging.getLogger(__name__)


def limiter_for_settings(
    settings: Settings,
    prices: PriceTable,
    *,
    clock: Clock | None = None,
    observer: GatewayObserver | None = None,
) -> RateLimiter:
    """Pools for the fast and strong models' rate-limit groups, at the configured tier's limits."""
    groups: dict[ModelClass, str] = {
        "fast": prices.get(settings.fast_model).rate_limit_group,
        "strong": prices.get(settings.strong_model).rate_limit_group,
    }
    pools = {group: tier_limits(settings.rate_limit_tier, group) for group in groups.values()}
    return RateLimiter(pools, groups, clock=clock, observer=observer)


class LLMGateway:
    def __init__(
        self,
        settings: Settings,
        *,
        recorder: CallRecorder,
        starter: CallStarter | None = None,
        prices: PriceTable | None = None,
        observer: GatewayObserver | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        today: date | None = None,
    ) -> None:
        """``today`` (default: the UTC date) decides which configured models are past their end of life."""
        if settings.anthropic_api_key is None or not settings.anthropic_api_key.get_secret_value().strip():
            raise GatewayConfigError(
                "no Anthropic API key: set MASTERPLAN_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY); "
                "for the simulator any key works, e.g. 'sim-key', with MASTERPLAN_ANTHROPIC_BASE_URL pointing at it"
            )
        self._settings = settings
        self._prices = prices or PriceTable.load()
        validate_configured_models(settings, self._prices, today=today)
        self._recorder = recorder
        self._starter = starter
        self._usage_missing_warned: set[str | None] = set()
        self._observer = observer or GatewayObserver()
        self._clock = clock or SystemClock()
        self._limiter = limiter or limiter_for_settings(
            settings, self._prices, clock=self._clock, observer=self._observer
        )
        self._backoff = Backoff(rng=rng or random.Random())
        self._parser = LLMResponseParser()
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            max_retries=0,
            timeout=settings.request_timeout_s,
        )

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def prices(self) -> PriceTable:
        return self._prices

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    async def aclose(self) -> None:
        await self._limiter.aclose()
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def worst_case_cost(self, request: LLMRequest) -> Decimal:
        """Nothing cached, every breakpoint written, max_tokens of output: the most one attempt can cost."""
        split = request.full_miss_split()
        usage = TokenUsage(
            input_tokens=split.uncached,
            cache_write_5m_tokens=split.write_5m,
            cache_write_1h_tokens=split.write_1h,
            output_tokens=request.max_tokens,
        )
        return self._prices.get(request.model).cost(usage)

    async def complete(
        self,
        request: LLMRequest,
        *,
        schema: type[T],
        context: CallContext,
        budget: RunBudget | None = None,
        watcher: AnswerWatcher | None = None,
    ) -> LLMResult[T]:
        """Sends ``request`` (retrying transport failures within bounds) and parses the answer into ``schema``.

        ``watcher`` sees the answer's text as it streams, every attempt's.

        Raises BudgetExceeded before any attempt whose worst case does not fit, LLMUnavailable when
        every attempt failed in transport, LLMRequestRejected when the API refused the request.
        A parse or validation failure is not an exception: it is ``result.outcome``.
        """
        price = self._prices.get(request.model)
        if request.max_tokens > price.max_output_tokens:
            raise RequestLayoutError(
                f"max_tokens {request.max_tokens} exceeds {request.model}'s maximum of {price.max_output_tokens}"
            )
        model_class = class_of_model(request.model, self._settings)
        pool = self._limiter.pool(model_class)
        records: list[LLMCallRecord] = []
        attempt = 0
        while True:
            attempt += 1
            outcome, record = await self._attempt(
                request,
                context=context,
                budget=budget,
                pool=pool,
                model_class=model_class,
                price=price,
                attempt=attempt,
                watcher=watcher,
            )
            if isinstance(outcome, AttemptSuccess):
                return await self._finish(
                    request,
                    schema,
                    outcome=outcome,
                    record=record,
                    earlier=records,
                    model_class=model_class,
                    price=price,
                )
            records.append(record)
            await self._record(record)
            if not outcome.retryable:
                raise LLMRequestRejected(outcome.message, records, outcome.status_code or 0) from outcome.cause
            if outcome.outcome == "rate_limited":
                self._hold_pool(outcome, pool, model_class, attempt)
            if attempt >= self._settings.max_attempts:
                raise LLMUnavailable(
                    f"{request.model} unavailable after {attempt} attempts; last: {outcome.message}",
                    records,
                    outcome.cause,
                ) from outcome.cause
            await self._wait_before_retry(outcome, model_class, attempt)

    async def _finish(
        self,
        request: LLMRequest,
        schema: type[T],
        *,
        outcome: AttemptSuccess,
        record: LLMCallRecord,
        earlier: list[LLMCallRecord],
        model_class: ModelClass,
        price: ModelPrice,
    ) -> LLMResult[T]:
        """Parses the answer, records the attempt with the parse outcome, and sums the call up."""
        parsed = self._parser.parse(
            outcome.text, schema, stop_reason=outcome.stop_reason, max_tokens=request.max_tokens
        )
        if isinstance(parsed, ParseFailure):
            record = record.model_copy(update={"outcome": parsed.outcome, "error": parsed.summary})
        await self._record(record)
        records = (*earlier, record)
        usage = sum((TokenUsage.from_record(r) for r in records), TokenUsage())
        return LLMResult(
            outcome=parsed,
            text=outcome.text,
            model=request.model,
            model_class=model_class,
            stop_reason=outcome.stop_reason,
            usage=usage,
            cost_usd=sum((r.cost_usd for r in records), Decimal(0)),
            uncached_cost_usd=price.uncached_cost(usage),
            records=records,
        )

    async def _attempt(
        self,
        request: LLMRequest,
        *,
        context: CallContext,
        budget: RunBudget | None,
        pool: RatePool,
        model_class: ModelClass,
        price: ModelPrice,
        attempt: int,
        watcher: AnswerWatcher | None,
    ) -> tuple[AttemptSuccess | AttemptFailure, LLMCallRecord]:
        worst_case = self.worst_case_cost(request)
        hold = None
        if budget is not None:
            try:
                hold = await budget.reserve(worst_case)
            except BudgetExceeded as refused:
                self._observer.on_budget_exceeded(budget.run_id, refused.needed, refused.remaining)
                raise
        cost = Decimal(0)
        started = _started_record(request, context, attempt, worst_case)
        try:
            reservation = await pool.acquire(model_class, request.rate_limited_input_estimate, request.max_tokens)
            outcome: AttemptSuccess | AttemptFailure | None = None
            try:
                if self._starter is not None:
                    started = started.model_copy(update={"id": await self._starter(started)})
                outcome = await stream_attempt(self._client, request, pool.adopt_headers, watcher)
                if isinstance(outcome, AttemptSuccess) and outcome.usage.total_input_tokens == 0:
                    outcome = self._estimate_missing_usage(request, context, outcome)
            finally:
                if outcome is None:
                    pool.release(reservation)
                else:
                    # What the server reported is what it counted; a failure before message_start reports nothing.
                    pool.reconcile(reservation, outcome.usage.rate_limited_input_tokens, outcome.usage.output_tokens)
                if isinstance(outcome, AttemptFailure) and outcome.headers is not None:
                    pool.adopt_headers(outcome.headers)  # error responses carry the server's view of the limits too
            cost = price.cost(outcome.usage)
        finally:
            if budget is not None and hold is not None:
                budget.settle(hold, cost)
        return outcome, self._make_record(started, outcome, cost)

    def _estimate_missing_usage(
        self, request: LLMRequest, context: CallContext, outcome: AttemptSuccess
    ) -> AttemptSuccess:
        """An answer that reports no input tokens (no real prompt is free) is counted at our own estimate."""
        usage = outcome.usage.estimated_where_missing(request.estimated_input_tokens, outcome.text)
        if context.run_id not in self._usage_missing_warned:
            self._usage_missing_warned.add(context.run_id)
            logger.warning(
                "the server at %s reported no input tokens for an answer of %s (run %s, phase %s): "
                "counting masterplan's own estimate (%d input, %d output tokens) against the budget; "
                "is it an Anthropic API that reports usage?",
                self._client.base_url,
                request.model,
                context.run_id,
                context.phase,
                usage.input_tokens,
                usage.output_tokens,
            )
        return dataclasses.replace(outcome, usage=usage, usage_estimated=True)

    @staticmethod
    def _make_record(started: LLMCallRecord, outcome: AttemptSuccess | AttemptFailure, cost: Decimal) -> LLMCallRecord:
        """The finished attempt: the started record (same id) with what the answer told."""
        usage = outcome.usage
        failure = outcome if isinstance(outcome, AttemptFailure) else None
        result_outcome: CallOutcome = failure.outcome if failure is not None else "ok"
        return started.model_copy(
            update={
                "input_tokens": usage.input_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "cache_write_1h_tokens": usage.cache_write_1h_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "output_tokens": usage.output_tokens,
                "cost_usd": cost,
                "latency_ms": outcome.latency_ms,
                "ttft_ms": outcome.ttft_ms,
                "outcome": result_outcome,
                "error": failure.message if failure is not None else None,
                "request_id": outcome.request_id,
                "usage_estimated": isinstance(outcome, AttemptSuccess) and outcome.usage_estimated,
                "created_at": utcnow(),
            }
        )

    async def _record(self, record: LLMCallRecord) -> None:
        await self._recorder(record)
        self._observer.on_call(record)

    def _hold_pool(self, failure: AttemptFailure, pool: RatePool, model_class: ModelClass, failures: int) -> None:
        """A 429 stops every caller of the pool for the server's retry-after, not just this one."""
        hold_s = failure.retry_after_s if failure.retry_after_s is not None else self._backoff.delay(failures)
        pool.hold(hold_s)
        self._observer.on_rate_limited(model_class, hold_s)

    async def _wait_before_retry(self, failure: AttemptFailure, model_class: ModelClass, failures: int) -> None:
        if failure.outcome == "rate_limited":
            self._observer.on_retry(model_class, failure.outcome, failure.retry_after_s or 0.0)
            return  # the next acquire waits out the pool's hold, in line with every other caller
        delay = self._backoff.delay(failures)
        self._observer.on_retry(model_class, failure.outcome, delay)
        await self._clock.sleep(delay)


def _started_record(request: LLMRequest, context: CallContext, attempt: int, worst_case: Decimal) -> LLMCallRecord:
    return LLMCallRecord(
        run_id=context.run_id,
        task_id=context.task_id,
        phase=context.phase,
        role=context.role,
        prompt_name=context.prompt_name,
        prompt_version=context.prompt_version,
        model=request.model,
        attempt=attempt,
        outcome="started",
        worst_case_usd=worst_case,
    )
