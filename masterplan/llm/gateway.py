"""LLMGateway: the one way masterplan calls an LLM.

Per attempt: max_tokens is fitted to the model class's output-tokens-per-minute limit, the worst case
is set aside from the run's budget (or the call is refused with BudgetExceeded), the rate limiter
admits it, the attempt is written as started with its worst case (so a crash cannot hide what it
spent), the request is streamed, the rate-limit headers and the real usage go back to the limiter,
the real cost to the budget, and the attempt is recorded. An answer that reports no input tokens is
counted at masterplan's own estimate instead of $0, and flagged.
429s hold the model's pool for retry-after; 529/5xx/connection errors back off exponentially with
jitter; both within ``settings.max_attempts``. The SDK's own retries are off so every attempt is seen.
An answer cut at max_tokens before its maximum is continued, each continuation a call of its own
(``masterplan.llm.continuation``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import TracebackType
from typing import Self, TypeVar

import anthropic
from pydantic import BaseModel

from masterplan.config import Settings
from masterplan.llm.attempt import AnswerWatcher, AttemptFailure, AttemptSuccess, stream_attempt
from masterplan.llm.batching import BatchLedger, BatchSettings, RunBatches, batch_custom_id
from masterplan.llm.budget import BudgetExceeded, RunBudget
from masterplan.llm.call_records import finished_record, started_record
from masterplan.llm.clock import Clock, SystemClock
from masterplan.llm.continuation import AnswerParts, ContinuedWatcher, continuation_request
from masterplan.llm.errors import CallCanceled, GatewayConfigError, LLMRequestRejected, LLMUnavailable
from masterplan.llm.observer import GatewayObserver
from masterplan.llm.parser import LLMResponseParser, Parsed, ParseFailure
from masterplan.llm.pricing import ModelPrice, PriceTable
from masterplan.llm.ratelimit import RateLimiter, RatePool, tier_limits
from masterplan.llm.request import LLMRequest, RequestLayoutError
from masterplan.llm.result import CallContext, LLMResult
from masterplan.llm.retry import Backoff
from masterplan.llm.routing import class_of_model, validate_configured_models
from masterplan.llm.structured import StructuredOutputs
from masterplan.llm.usage import TokenUsage
from masterplan.models import LLMCallRecord, ModelClass

T = TypeVar("T", bound=BaseModel)

CallRecorder = Callable[[LLMCallRecord], Awaitable[None]]
"""Stores one attempt; the pipeline passes the store's ``record_llm_call``."""

CallStarter = Callable[[LLMCallRecord], Awaitable[int]]
"""Makes an attempt's ``started`` record (with its worst case) durable before it is sent; returns its id.

The record of the finished attempt then carries that id, so the recorder completes the row."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Call:
    """What every attempt of every part of one call shares."""

    context: CallContext
    budget: RunBudget | None
    pool: RatePool
    model_class: ModelClass
    price: ModelPrice
    """At the batch price for a call sent in Message Batches."""
    batches: RunBatches | None = None


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
        self._structured = StructuredOutputs(enabled=settings.structured_outputs, server=str(self._client.base_url))
        self._run_batches: weakref.WeakSet[RunBatches] = weakref.WeakSet()  # a finished run's go with it

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def prices(self) -> PriceTable:
        return self._prices

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    def open_batches(
        self,
        run_id: str,
        ledger: BatchLedger,
        *,
        budget: RunBudget | None,
        cancel: asyncio.Event | None = None,
    ) -> RunBatches:
        """The Message Batches of one batch-mode run: pass them to ``complete`` for each of its calls."""
        if self._starter is None:
            raise GatewayConfigError("batch mode needs a starter: a batch's attempts are durable before it is sent")
        batches = RunBatches(
            self._client,
            run_id=run_id,
            ledger=ledger,
            starter=self._starter,
            budget=budget,
            clock=self._clock,
            observer=self._observer,
            settings=BatchSettings(
                gather_s=self._settings.batch_gather_s,
                poll_initial_s=self._settings.batch_poll_initial_s,
                poll_max_s=self._settings.batch_poll_max_s,
            ),
            cancel=cancel,
        )
        self._run_batches.add(batches)
        return batches

    async def aclose(self) -> None:
        for batches in list(self._run_batches):
            await batches.aclose()
        await self._limiter.aclose()
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def worst_case_cost(self, request: LLMRequest, price: ModelPrice | None = None) -> Decimal:
        """Nothing cached, every breakpoint written, max_tokens of output: the most one attempt can cost.

        ``price``: the model's, at the batch price for a request sent in a batch (default: its list price)."""
        split = request.full_miss_split()
        usage = TokenUsage(
            input_tokens=split.uncached,
            cache_write_5m_tokens=split.write_5m,
            cache_write_1h_tokens=split.write_1h,
            output_tokens=request.max_tokens,
        )
        return (price or self._prices.get(request.model)).cost(usage)

    def fit_to_pool(self, request: LLMRequest) -> LLMRequest:
        """What an attempt of ``request`` sends: max_tokens at most its model class's output tokens per minute.

        The limit is the rate pool's (the configured tier's, or what the server's ``anthropic-ratelimit-*``
        headers said). Anthropic estimates a request's output from its max_tokens when it starts, so a request
        asking more than the per-minute limit could never be admitted; a longer answer is continued instead.
        The attempt's worst case (budget) and its rate-limit reservation are this request's.
        """
        limits = self._limiter.pool(class_of_model(request.model, self._settings)).limits
        if limits is None or request.max_tokens <= limits.output_tokens_per_minute:
            return request
        return dataclasses.replace(request, max_tokens=limits.output_tokens_per_minute)

    async def complete(
        self,
        request: LLMRequest,
        *,
        schema: type[T],
        context: CallContext,
        budget: RunBudget | None = None,
        watcher: AnswerWatcher | None = None,
        batches: RunBatches | None = None,
    ) -> LLMResult[T]:
        """Sends ``request`` (retrying transport failures within bounds) and parses the answer into ``schema``.

        Where the model and server take structured outputs, the request carries ``schema`` as its
        ``output_config.format`` (``masterplan.llm.structured``); a server refusing it gets the request again
        without. An answer cut at max_tokens before ``request.answer_limit`` is continued
        (``masterplan.llm.continuation``): each part is a call of its own (rate-limited, budgeted, recorded
        with its ``part``), and the parser sees the joined answer once it is complete. ``watcher`` sees the
        answer's text as it streams, every attempt's, the answer so far again before each attempt of a
        continuation.

        Raises BudgetExceeded before any attempt whose worst case does not fit, LLMUnavailable when
        every attempt of a part failed in transport, LLMRequestRejected when the API refused a part.
        A parse or validation failure is not an exception: it is ``result.outcome``.

        With ``batches`` (a batch-mode run's), each attempt goes in the run's next Message Batch at the batch
        price instead of being streamed (``masterplan.llm.batching``); the Messages API's rate limits do not
        apply to it. Raises CallCanceled when the run was cancelled while it waited.
        """
        price = self._prices.get(request.model) if batches is None else self._prices.get_batched(request.model)
        if request.answer_limit > price.max_output_tokens:
            raise RequestLayoutError(
                f"max_tokens {request.answer_limit} exceeds {request.model}'s maximum of {price.max_output_tokens}"
            )
        model_class = class_of_model(request.model, self._settings)
        call = _Call(context, budget, self._limiter.pool(model_class), model_class, price, batches)
        request = self._structured.apply(request, schema, price)
        records: list[LLMCallRecord] = []
        answer = AnswerParts()
        part_request, part_watcher = request, watcher
        while True:
            outcome, record, sent = await self._send_part(call, part_request, answer.parts + 1, records, part_watcher)
            if answer.parts == 0:
                request = sent  # what part 1 was sent as (without its schema if the server refused it)
            answer.add(outcome.text, outcome.usage.output_tokens, outcome.stop_reason)
            parsed = self._parser.parse(
                answer.text, schema, stop_reason=answer.stop_reason, max_tokens=answer.output_tokens
            )
            # A cut answer that already parses is complete (a JSON object that ended right at the limit).
            following = None if isinstance(parsed, Parsed) else self._continuation(request, answer, price)
            if following is None or following.continuation is None:
                return await self._finish(
                    parsed, call, answer, record, records, structured=request.output_schema is not None
                )
            records.append(record)
            await self._record(record)
            part_request = following
            if watcher is not None:
                part_watcher = ContinuedWatcher(watcher, following.continuation.partial)

    async def _send_part(
        self,
        call: _Call,
        request: LLMRequest,
        part: int,
        records: list[LLMCallRecord],
        watcher: AnswerWatcher | None,
    ) -> tuple[AttemptSuccess, LLMCallRecord, LLMRequest]:
        """One part of the answer, retried within bounds; failed attempts are recorded and join ``records``.

        Returns the answer, its record and the request it was sent as. A refusal of the schema is not a
        failure of the part: it goes again at once without it, and does not use up one of its attempts."""
        attempt = refusals = 0
        while True:
            attempt += 1
            if request.output_schema is not None and not self._structured.available(call.price, request.schema_name):
                request = dataclasses.replace(request, output_schema=None)  # a refusal (this call's or another's)
            outcome, record = await self._attempt(call, request, part=part, attempt=attempt, watcher=watcher)
            if isinstance(outcome, AttemptSuccess):
                return outcome, record, request
            records.append(record)
            await self._record(record)
            if outcome.outcome == "canceled":
                raise CallCanceled(outcome.message, records)
            refusal = self._structured.refused(request, outcome, call.price)
            if refusal is not None:
                if refusal.first:
                    self._observer.on_structured_outputs_off(refusal)
                refusals += 1
                continue  # the same part again: the refusal turned the schema off, so it goes without
            if not outcome.retryable:
                raise LLMRequestRejected(outcome.message, records, outcome.status_code or 0) from outcome.cause
            if outcome.outcome == "rate_limited" and call.batches is None:
                self._hold_pool(outcome, call.pool, call.model_class, attempt)
            if attempt - refusals >= self._settings.max_attempts:
                raise LLMUnavailable(
                    f"{request.model} unavailable after {attempt} attempts; last: {outcome.message}",
                    records,
                    outcome.cause,
                ) from outcome.cause
            await self._wait_before_retry(outcome, call.model_class, attempt, batched=call.batches is not None)

    @staticmethod
    def _continuation(request: LLMRequest, answer: AnswerParts, price: ModelPrice) -> LLMRequest | None:
        return continuation_request(
            request, answer, prefill=price.assistant_prefill, min_cacheable_tokens=price.min_cacheable_tokens
        )

    async def _finish(
        self,
        parsed: Parsed[T] | ParseFailure,
        call: _Call,
        answer: AnswerParts,
        record: LLMCallRecord,
        earlier: list[LLMCallRecord],
        *,
        structured: bool,
    ) -> LLMResult[T]:
        """Records the joined answer's last attempt with its parse outcome, and sums the call up.

        ``structured``: the answer's first part was asked with its schema (the last part of a continued
        answer never is): what the unusable-answer count is labelled with."""
        if isinstance(parsed, ParseFailure):
            record = record.model_copy(update={"outcome": parsed.outcome, "error": parsed.summary})
            self._observer.on_unusable_answer(call.context.phase, parsed.outcome, structured)
        await self._record(record)
        records = (*earlier, record)
        usage = sum((TokenUsage.from_record(r) for r in records), TokenUsage())
        return LLMResult(
            outcome=parsed,
            text=answer.text,
            model=record.model,
            model_class=call.model_class,
            stop_reason=answer.stop_reason,
            usage=usage,
            cost_usd=sum((r.cost_usd for r in records), Decimal(0)),
            uncached_cost_usd=call.price.uncached_cost(usage),
            records=records,
            parts=answer.parts,
            answer_output_tokens=answer.output_tokens,
            structured_output=structured,
        )

    async def _attempt(
        self,
        call: _Call,
        request: LLMRequest,
        *,
        part: int,
        attempt: int,
        watcher: AnswerWatcher | None,
    ) -> tuple[AttemptSuccess | AttemptFailure, LLMCallRecord]:
        """One attempt: fitted to the pool's limits, its worst case set aside, admitted, sent, settled."""
        if call.batches is not None:
            return await self._batched_attempt(call, request, part=part, attempt=attempt, watcher=watcher)
        request = self.fit_to_pool(request)
        worst_case = self.worst_case_cost(request)
        budget, pool = call.budget, call.pool
        hold = None
        if budget is not None:
            try:
                hold = await budget.reserve(worst_case)
            except BudgetExceeded as refused:
                self._observer.on_budget_exceeded(budget.run_id, refused.needed, refused.remaining)
                raise
        cost = Decimal(0)
        started = started_record(request, call.context, part=part, attempt=attempt, worst_case=worst_case)
        try:
            reservation = await pool.acquire(call.model_class, request.rate_limited_input_estimate, request.max_tokens)
            outcome: AttemptSuccess | AttemptFailure | None = None
            try:
                if self._starter is not None:
                    started = started.model_copy(update={"id": await self._starter(started)})
                outcome = await stream_attempt(
                    self._client,
                    request,
                    lambda headers: pool.adopt_headers(headers, own=reservation),  # the server counted this call
                    watcher,
                )
                if isinstance(outcome, AttemptSuccess) and outcome.usage.total_input_tokens == 0:
                    outcome = self._estimate_missing_usage(request, call.context, outcome)
            finally:
                if outcome is None:
                    pool.release(reservation)
                else:
                    # What the server reported is what it counted; a failure before message_start reports nothing.
                    pool.reconcile(reservation, outcome.usage.rate_limited_input_tokens, outcome.usage.output_tokens)
                if isinstance(outcome, AttemptFailure) and outcome.headers is not None:
                    pool.adopt_headers(outcome.headers)  # error responses carry the server's view of the limits too
            cost = call.price.cost(outcome.usage)
        finally:
            if budget is not None and hold is not None:
                budget.settle(hold, cost)
        return outcome, finished_record(started, outcome, cost)

    async def _batched_attempt(
        self,
        call: _Call,
        request: LLMRequest,
        *,
        part: int,
        attempt: int,
        watcher: AnswerWatcher | None,
    ) -> tuple[AttemptSuccess | AttemptFailure, LLMCallRecord]:
        """One attempt sent in the run's next Message Batch; its worst case is set aside with the whole batch's."""
        assert call.batches is not None
        worst_case = self.worst_case_cost(request, call.price)
        started = started_record(request, call.context, part=part, attempt=attempt, worst_case=worst_case)
        started = started.model_copy(update={"custom_id": batch_custom_id(call.context, part, attempt)})
        try:
            answer = await call.batches.send(request, started, worst_case, reuse_answered=call.context.reuse_answered)
        except BudgetExceeded as refused:
            if call.budget is not None:
                self._observer.on_budget_exceeded(call.budget.run_id, refused.needed, refused.remaining)
            raise
        outcome = answer.outcome
        if isinstance(outcome, AttemptSuccess):
            if outcome.usage.total_input_tokens == 0:
                outcome = self._estimate_missing_usage(request, call.context, outcome)
            if watcher is not None:
                watcher.restart()
                watcher.feed(outcome.text)
        cost = call.price.cost(outcome.usage)
        if call.budget is not None:
            if answer.hold is not None:
                call.budget.settle(answer.hold, cost)
            elif not answer.booked:
                call.budget.rebook(answer.counted_usd, cost)  # a resumed run counted its worst case as spent
        return outcome, finished_record(answer.started, outcome, cost)

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

    async def _record(self, record: LLMCallRecord) -> None:
        await self._recorder(record)
        self._observer.on_call(record)

    def _hold_pool(self, failure: AttemptFailure, pool: RatePool, model_class: ModelClass, failures: int) -> None:
        """A 429 stops every caller of the pool for the server's retry-after, not just this one."""
        hold_s = failure.retry_after_s if failure.retry_after_s is not None else self._backoff.delay(failures)
        pool.hold(hold_s)
        self._observer.on_rate_limited(model_class, hold_s)

    async def _wait_before_retry(
        self, failure: AttemptFailure, model_class: ModelClass, failures: int, *, batched: bool = False
    ) -> None:
        """``batched``: Message Batches do not wait in the Messages API's rate pools, so a 429 (a full batch
        queue) is waited out here, for its retry-after."""
        if failure.outcome == "rate_limited" and batched and failure.retry_after_s is not None:
            self._observer.on_retry(model_class, failure.outcome, failure.retry_after_s)
            await self._clock.sleep(failure.retry_after_s)
            return
        if failure.outcome == "rate_limited" and not batched:
            self._observer.on_retry(model_class, failure.outcome, failure.retry_after_s or 0.0)
            return  # the next acquire waits out the pool's hold, in line with every other caller
        delay = self._backoff.delay(failures)
        self._observer.on_retry(model_class, failure.outcome, delay)
        await self._clock.sleep(delay)
