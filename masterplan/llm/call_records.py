"""The audit records of one attempt: written as ``started`` before it is sent, finished with what it told."""

from __future__ import annotations

from decimal import Decimal

from masterplan.llm.attempt import AttemptFailure, AttemptSuccess
from masterplan.llm.request import LLMRequest
from masterplan.llm.result import CallContext
from masterplan.models import CallOutcome, LLMCallRecord, utcnow


def started_record(
    request: LLMRequest, context: CallContext, *, part: int, attempt: int, worst_case: Decimal
) -> LLMCallRecord:
    """``request`` is what is sent (its max_tokens fitted to the rate limits); ``part`` 2.. are continuations."""
    return LLMCallRecord(
        run_id=context.run_id,
        task_id=context.task_id,
        phase=context.phase,
        role=context.role,
        prompt_name=context.prompt_name,
        prompt_version=context.prompt_version,
        model=request.model,
        attempt=attempt,
        part=part,
        max_tokens=request.max_tokens,
        structured_output=request.output_schema is not None,
        outcome="started",
        worst_case_usd=worst_case,
    )


def finished_record(started: LLMCallRecord, outcome: AttemptSuccess | AttemptFailure, cost: Decimal) -> LLMCallRecord:
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
