"""Transport faults are retried within bounds and every attempt is recorded; content faults parse or fail cleanly."""

from __future__ import annotations

from collections import Counter

import pytest

from masterplan.llm import CallContext, LLMUnavailable, Parsed, ParseFailure
from masterplan.llm.continuation import MAX_ANSWER_PARTS
from masterplan.models import TaskOutput

from .conftest import SimGatewayFactory, TaskRequests

CONTEXT = CallContext(phase="task_execution", role="developer", prompt_name="developer", prompt_version=1, run_id="r1")


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [("overloaded", "overloaded"), ("server_error", "server_error"), ("disconnect", "connection_error")],
)
async def test_persistent_fault_is_retried_within_bounds_then_raised(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, fault: str, outcome: str
) -> None:
    async with sim_gateway(faults=f"{fault}=1.0", max_attempts=4) as sg:
        with pytest.raises(LLMUnavailable) as unavailable:
            await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        records = sg.recorded.records
        assert [r.attempt for r in records] == [1, 2, 3, 4]
        assert {r.outcome for r in records} == {outcome}
        assert all(r.error for r in records)
        assert unavailable.value.records == tuple(records)
        assert unavailable.value.last_outcome == outcome
        assert sg.sim_requests() == 4
        # exponential back-off with jitter between attempts: 3 waits, each ceiling twice the previous
        assert len(sg.clock.slept) == 3
        for failures, delay in enumerate(sg.clock.slept, start=1):
            ceiling = 2.0 ** (failures - 1)
            assert ceiling / 2 <= delay <= ceiling


async def test_mixed_transport_faults_are_all_retried_and_recorded(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway(faults="overloaded=0.25,server_error=0.2,disconnect=0.2", seed=7, max_attempts=12) as sg:
        for i in range(12):
            result = await sg.gateway.complete(task_requests.build(f"t{i}"), schema=TaskOutput, context=CONTEXT)
            assert isinstance(result.outcome, Parsed)
            assert [r.attempt for r in result.records] == list(range(1, result.attempts + 1))
        outcomes = Counter(r.outcome for r in sg.recorded.records)
        assert outcomes["ok"] == 12
        assert outcomes["overloaded"] > 0
        assert outcomes["server_error"] > 0
        assert outcomes["connection_error"] > 0
        assert sum(outcomes.values()) == sg.sim_requests()
        statuses = sg.sim.stats()["requests_by_status"]
        assert outcomes["overloaded"] == statuses["529"]
        assert outcomes["server_error"] == statuses["500"]


async def test_dropped_stream_records_what_the_server_reported_before_dropping(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway(faults="disconnect=1.0", max_attempts=1) as sg:
        with pytest.raises(LLMUnavailable):
            await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        [record] = sg.recorded.records
        assert record.outcome == "connection_error"
        assert record.input_tokens > 0  # message_start arrived before the connection dropped
        assert record.cost_usd > 0


async def test_429_holds_the_pool_for_retry_after_and_then_succeeds(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway() as sg:
        # Another client of the same organisation empties the input-token bucket behind the gateway's back.
        await _spend_input_tokens_elsewhere(sg.sim.base_url, tokens=100_000)
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        assert isinstance(result.outcome, Parsed)
        assert [r.outcome for r in sg.recorded.records] == ["rate_limited", "ok"]
        assert sg.sim.stats()["rate_limited"] == 1
        pool = sg.gateway.limiter.pool("fast")
        assert pool.stats.rate_limited == 1
        # the wait was the server's retry-after (at least a minute of refill), spent in the limiter
        assert pool.stats.wait_seconds >= 60


@pytest.mark.parametrize("fault", ["fenced_json", "prose_json"])
async def test_wrapped_json_still_parses(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, fault: str
) -> None:
    """Without structured outputs (they spare the answer these faults: ``test_structured_outputs``)."""
    async with sim_gateway(faults=f"{fault}=1.0", structured_outputs=False) as sg:
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        assert isinstance(result.outcome, Parsed)
        assert result.outcome.strategy != "whole_text"
        assert sg.recorded.records[-1].outcome == "ok"


async def test_malformed_json_gives_structured_feedback(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway(faults="malformed_json=1.0", structured_outputs=False) as sg:
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        assert isinstance(result.outcome, ParseFailure)
        assert result.outcome.kind in {"invalid_json", "no_json"}
        assert result.outcome.issues
        assert "JSON" in result.outcome.feedback
        assert sg.recorded.records[-1].outcome == "parse_error"
        assert sg.recorded.records[-1].error == result.outcome.summary
        assert sg.sim_requests() == 1  # a parse failure is the caller's to retry, with feedback


async def test_truncated_answer_is_reported_as_truncated(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    """Every part cut short (the fault hits each continuation too): continued up to the part limit, then truncated."""
    # Each cut keeps 30-90% of what is left, so a short answer can end within the part limit: a task of many
    # files gives an answer that seven cuts leave unfinished (seeds 0-9 checked).
    many_files = [f"shop/module_{index}.py" for index in range(60)]
    async with sim_gateway(faults="truncated=1.0") as sg:
        request = task_requests.build("t1", files=many_files)
        result = await sg.gateway.complete(request, schema=TaskOutput, context=CONTEXT)
        assert isinstance(result.outcome, ParseFailure)
        assert result.outcome.truncated
        assert result.stop_reason == "max_tokens"
        assert result.parts == MAX_ANSWER_PARTS
        assert f"cut off at the output limit ({result.answer_output_tokens} tokens)" in result.outcome.feedback
        assert [record.part for record in sg.recorded.records] == list(range(1, MAX_ANSWER_PARTS + 1))
        assert [record.outcome for record in sg.recorded.records] == ["ok"] * (MAX_ANSWER_PARTS - 1) + ["truncated"]


async def _spend_input_tokens_elsewhere(base_url: str, tokens: int) -> None:
    from anthropic import AsyncAnthropic

    client = AsyncAnthropic(api_key="other-key", base_url=base_url, max_retries=0)
    async with client:
        await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=16,
            messages=[{"role": "user", "content": "x" * (tokens * 4 - 12)}],
        )
