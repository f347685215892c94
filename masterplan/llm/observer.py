"""What the gateway tells the outside world (metrics, events) without depending on it.

Subclass ``GatewayObserver`` and override what you need; every method is a no-op here.
The metrics layer implements it with Prometheus; the pipeline turns some calls into run events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from masterplan.llm.structured import StructuredOutputsOff
from masterplan.models import LLMCallRecord, ModelClass


@dataclass(frozen=True)
class ShortCacheBreakpoint:
    """A cache breakpoint on a prefix shorter than the model's minimum: that prefix will be billed in full."""

    model: str
    block: str
    """Which block carries the breakpoint: role, project or completed_tasks."""
    prefix_tokens: int
    minimum_tokens: int
    run_id: str | None
    phase: str
    first_in_run: bool = True
    """False when the same model and block were already reported for this run (emit one event per run)."""


class GatewayObserver:
    def on_call(self, record: LLMCallRecord) -> None:
        """Every attempt, failed ones included, after it was recorded."""

    def on_rate_limit_wait(self, model_class: ModelClass, seconds: float) -> None:
        """A caller waited this long for the client-side rate limiter."""

    def on_rate_limited(self, model_class: ModelClass, retry_after_s: float) -> None:
        """The server answered 429; the pool is held for ``retry_after_s``."""

    def on_retry(self, model_class: ModelClass, outcome: str, delay_s: float) -> None:
        """An attempt failed with ``outcome`` and the next one starts after ``delay_s``."""

    def on_cache_breakpoint_too_short(self, breakpoint: ShortCacheBreakpoint) -> None:
        """A request was built with a breakpoint that cannot be cached (see ShortCacheBreakpoint)."""

    def on_budget_exceeded(self, run_id: str | None, needed_usd: Decimal, remaining_usd: Decimal) -> None:
        """A call was not sent because its worst case did not fit the run's remaining budget."""

    def on_structured_outputs_off(self, off: StructuredOutputsOff) -> None:
        """A server refused ``output_config``: what it named (server, model or schema) goes without from now on."""

    def on_unusable_answer(self, phase: str, outcome: str, structured: bool) -> None:
        """A complete answer could not be used (``outcome``: parse_error, validation_error, truncated, refused);
        ``structured``: it was asked with its schema as ``output_config.format``."""

    def on_batch_submitted(self, run_id: str, requests: int, resubmitted: int) -> None:
        """A batch-mode run created a Message Batch; ``resubmitted`` of its requests errored or expired before."""

    def on_batch_ended(
        self, run_id: str, waited_s: float, *, succeeded: int, errored: int, expired: int, canceled: int
    ) -> None:
        """A batch the run waited ``waited_s`` for has ended, with its requests' results counted."""


class ObserverGroup(GatewayObserver):
    """Tells several observers the same thing, in order."""

    def __init__(self, observers: Iterable[GatewayObserver]) -> None:
        self._observers = tuple(observers)

    def on_call(self, record: LLMCallRecord) -> None:
        for observer in self._observers:
            observer.on_call(record)

    def on_rate_limit_wait(self, model_class: ModelClass, seconds: float) -> None:
        for observer in self._observers:
            observer.on_rate_limit_wait(model_class, seconds)

    def on_rate_limited(self, model_class: ModelClass, retry_after_s: float) -> None:
        for observer in self._observers:
            observer.on_rate_limited(model_class, retry_after_s)

    def on_retry(self, model_class: ModelClass, outcome: str, delay_s: float) -> None:
        for observer in self._observers:
            observer.on_retry(model_class, outcome, delay_s)

    def on_cache_breakpoint_too_short(self, breakpoint: ShortCacheBreakpoint) -> None:
        for observer in self._observers:
            observer.on_cache_breakpoint_too_short(breakpoint)

    def on_budget_exceeded(self, run_id: str | None, needed_usd: Decimal, remaining_usd: Decimal) -> None:
        for observer in self._observers:
            observer.on_budget_exceeded(run_id, needed_usd, remaining_usd)

    def on_structured_outputs_off(self, off: StructuredOutputsOff) -> None:
        for observer in self._observers:
            observer.on_structured_outputs_off(off)

    def on_unusable_answer(self, phase: str, outcome: str, structured: bool) -> None:
        for observer in self._observers:
            observer.on_unusable_answer(phase, outcome, structured)

    def on_batch_submitted(self, run_id: str, requests: int, resubmitted: int) -> None:
        for observer in self._observers:
            observer.on_batch_submitted(run_id, requests, resubmitted)

    def on_batch_ended(
        self, run_id: str, waited_s: float, *, succeeded: int, errored: int, expired: int, canceled: int
    ) -> None:
        for observer in self._observers:
            observer.on_batch_ended(
                run_id, waited_s, succeeded=succeeded, errored=errored, expired=expired, canceled=canceled
            )
