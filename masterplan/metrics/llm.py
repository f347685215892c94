"""Prometheus metrics of the LLM gateway, fed through its observer hooks.

Names follow Prometheus conventions (base units, ``_total`` for counters, units
in the name). Each instance owns its registry, so tests and several services in
one process never collide; label children are cached by prometheus_client.
"""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Histogram

from masterplan.llm.observer import GatewayObserver, ShortCacheBreakpoint
from masterplan.llm.structured import StructuredOutputsOff
from masterplan.models import LLMCallRecord, ModelClass

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 300)
WAIT_BUCKETS_S = (0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120)
BATCH_WAIT_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)
"""A Message Batch ends within minutes to 24 hours; most within an hour."""


class LLMMetrics(GatewayObserver):
    def __init__(self, registry: CollectorRegistry, *, batch_share: Decimal = Decimal("0.5")) -> None:
        """``batch_share``: the price table's; a batched call's cost over it is what it would have cost streamed."""
        self._batch_saving = (1 - batch_share) / batch_share
        self.requests = Counter(
            "masterplan_llm_requests_total",
            "LLM request attempts by model, phase and outcome",
            ["model", "phase", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "masterplan_llm_tokens_total",
            "Tokens by model and kind (input, cache_write, cache_read, output)",
            ["model", "kind"],
            registry=registry,
        )
        self.cost = Counter(
            "masterplan_llm_cost_usd_total", "Cost of LLM calls in US dollars", ["model", "phase"], registry=registry
        )
        self.duration = Histogram(
            "masterplan_llm_request_duration_seconds",
            "Duration of one LLM request attempt",
            ["model"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.ttft = Histogram(
            "masterplan_llm_time_to_first_token_seconds",
            "Time to the first streamed token",
            ["model"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.rate_limit_wait = Histogram(
            "masterplan_rate_limiter_wait_seconds",
            "Time a call waited for the client-side rate limiter",
            ["model_class"],
            buckets=WAIT_BUCKETS_S,
            registry=registry,
        )
        self.rate_limited = Counter(
            "masterplan_llm_rate_limited_total", "429 answers received", ["model_class"], registry=registry
        )
        self.retries = Counter(
            "masterplan_llm_retries_total", "Attempts retried, by cause", ["model_class", "outcome"], registry=registry
        )
        self.short_prefixes = Counter(
            "masterplan_cache_prefix_too_short_total",
            "Requests whose cache breakpoints sit on a prefix below the model's minimum cacheable length",
            ["model", "block"],
            registry=registry,
        )
        self.usage_estimated = Counter(
            "masterplan_llm_usage_estimated_total",
            "Answers whose server reported no input tokens, counted at masterplan's own token estimate",
            ["model"],
            registry=registry,
        )
        self.budget_refusals = Counter(
            "masterplan_budget_refusals_total", "Calls not sent because they could exceed the budget", registry=registry
        )
        self.parse_failures = Counter(
            "masterplan_llm_parse_failures_total",
            "Answers that could not be used (parse_error, validation_error, truncated, refused), by whether the "
            "call sent its schema as output_config.format (structured_output true/false)",
            ["phase", "outcome", "structured_output"],
            registry=registry,
        )
        self.structured_outputs_off = Counter(
            "masterplan_structured_outputs_off_total",
            "Refusals of output_config that turned structured outputs off, by what they named (server, model, schema)",
            ["scope"],
            registry=registry,
        )
        self._add_batch_metrics(registry)

    def _add_batch_metrics(self, registry: CollectorRegistry) -> None:
        self.batches = Counter(
            "masterplan_llm_batches_total", "Message Batches created by batch-mode runs", registry=registry
        )
        self.batch_requests = Counter(
            "masterplan_llm_batch_requests_total",
            "Requests of ended Message Batches by result (succeeded, errored, expired, canceled)",
            ["result"],
            registry=registry,
        )
        self.batch_resubmitted = Counter(
            "masterplan_llm_batch_resubmitted_total",
            "Requests sent again in a later batch because their batch errored or expired on them",
            registry=registry,
        )
        self.batch_wait = Histogram(
            "masterplan_llm_batch_wait_seconds",
            "Time from a Message Batch's creation until masterplan saw it ended",
            buckets=BATCH_WAIT_BUCKETS_S,
            registry=registry,
        )
        self.cost_by_mode = Counter(
            "masterplan_llm_cost_by_mode_usd_total",
            "Cost of LLM calls in US dollars by how they were sent (mode: interactive, batch)",
            ["mode"],
            registry=registry,
        )
        self.batch_saved = Counter(
            "masterplan_llm_batch_saved_usd_total",
            "What batch-mode calls would have cost more if streamed at the list price, in US dollars",
            registry=registry,
        )

    def on_call(self, record: LLMCallRecord) -> None:
        self.requests.labels(record.model, record.phase, record.outcome).inc()
        if record.cost_usd:
            self.cost_by_mode.labels("batch" if record.batch_id else "interactive").inc(float(record.cost_usd))
            if record.batch_id:
                self.batch_saved.inc(float(record.cost_usd * self._batch_saving))
        for kind, count in (
            ("input", record.input_tokens),
            ("cache_write", record.cache_write_tokens),
            ("cache_read", record.cache_read_tokens),
            ("output", record.output_tokens),
        ):
            if count:
                self.tokens.labels(record.model, kind).inc(count)
        if record.cost_usd:
            self.cost.labels(record.model, record.phase).inc(float(record.cost_usd))
        if record.usage_estimated:
            self.usage_estimated.labels(record.model).inc()

        self.duration.labels(record.model).observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self.ttft.labels(record.model).observe(record.ttft_ms / 1000)

    def on_rate_limit_wait(self, model_class: ModelClass, seconds: float) -> None:
        self.rate_limit_wait.labels(model_class).observe(seconds)

    def on_rate_limited(self, model_class: ModelClass, retry_after_s: float) -> None:
        self.rate_limited.labels(model_class).inc()

    def on_retry(self, model_class: ModelClass, outcome: str, delay_s: float) -> None:
        self.retries.labels(model_class, outcome).inc()

    def on_cache_breakpoint_too_short(self, breakpoint: ShortCacheBreakpoint) -> None:
        self.short_prefixes.labels(breakpoint.model, breakpoint.block).inc()

    def on_budget_exceeded(self, run_id: str | None, needed_usd: Decimal, remaining_usd: Decimal) -> None:
        self.budget_refusals.inc()

    def on_structured_outputs_off(self, off: StructuredOutputsOff) -> None:
        self.structured_outputs_off.labels(off.scope).inc()

    def on_unusable_answer(self, phase: str, outcome: str, structured: bool) -> None:
        self.parse_failures.labels(phase, outcome, _flag(structured)).inc()

    def on_batch_submitted(self, run_id: str, requests: int, resubmitted: int) -> None:
        self.batches.inc()
        if resubmitted:
            self.batch_resubmitted.inc(resubmitted)

    def on_batch_ended(
        self, run_id: str, waited_s: float, *, succeeded: int, errored: int, expired: int, canceled: int
    ) -> None:
        self.batch_wait.observe(waited_s)
        for result, count in (
            ("succeeded", succeeded),
            ("errored", errored),
            ("expired", expired),
            ("canceled", canceled),
        ):
            if count:
                self.batch_requests.labels(result).inc(count)


def _flag(value: bool) -> str:
    return "true" if value else "false"
