"""The gateway against the simulator: the real SDK over real HTTP on 127.0.0.1."""

from __future__ import annotations

from decimal import Decimal

import pytest

from masterplan.config import Settings
from masterplan.llm import (
    BudgetExceeded,
    CallContext,
    GatewayConfigError,
    LLMGateway,
    Parsed,
    RunBudget,
    UnknownModel,
)
from masterplan.llm.usage import TokenUsage
from masterplan.models import LLMCallRecord, TaskOutput

from .conftest import SimGatewayFactory, TaskRequests

CONTEXT = CallContext(
    phase="task_execution", role="developer", prompt_name="developer", prompt_version=3, run_id="r1", task_id="t1"
)


async def _no_store(record: LLMCallRecord) -> None:
    raise AssertionError(f"nothing should be recorded: {record}")


async def test_answer_is_parsed_and_its_attempt_recorded(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway() as sg:
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        assert isinstance(result.outcome, Parsed)
        assert result.parsed is not None
        assert result.parsed.files[0].path == "shop/t1.py"
        assert result.model == "claude-haiku-4-5"
        assert result.model_class == "fast"
        [record] = sg.recorded.records
        assert record.outcome == "ok"
        assert (record.run_id, record.task_id, record.phase) == ("r1", "t1", "task_execution")
        assert (record.prompt_name, record.prompt_version) == ("developer", 3)
        assert record.request_id is not None
        assert record.request_id.startswith("req_sim")
        assert record.ttft_ms is not None
        assert record.latency_ms >= record.ttft_ms
        assert record.output_tokens > 0
        assert record.cost_usd == result.cost_usd == sg.gateway.prices.cost(result.model, result.usage)
        assert sg.sim_requests() == 1


async def test_usage_matches_what_the_simulator_counted(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway() as sg:
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        tokens = sg.sim.stats()["tokens"]
        assert result.usage == TokenUsage(
            input_tokens=tokens["input"], cache_read_tokens=tokens["cache_read"], output_tokens=tokens["output"]
        )


async def test_call_over_budget_is_never_sent(sim_gateway: SimGatewayFactory, task_requests: TaskRequests) -> None:
    async with sim_gateway() as sg:
        request = task_requests.build("t1")
        worst = sg.gateway.worst_case_cost(sg.gateway.fit_to_pool(request))
        budget = RunBudget(worst - Decimal("0.000001"), run_id="r1")
        with pytest.raises(BudgetExceeded) as refused:
            await sg.gateway.complete(request, schema=TaskOutput, context=CONTEXT, budget=budget)
        assert refused.value.needed == worst
        assert sg.sim_requests() == 0
        assert sg.recorded.records == []


async def test_budget_books_the_real_cost_of_each_call(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway() as sg:
        budget = RunBudget(Decimal("1.00"), run_id="r1")
        first = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT, budget=budget)
        second = await sg.gateway.complete(task_requests.build("t2"), schema=TaskOutput, context=CONTEXT, budget=budget)
        assert budget.spent_usd == first.cost_usd + second.cost_usd
        assert budget.held_usd == 0
        # the worst case (16,000 output tokens on Haiku = $0.08) is far above what a call really costs
        assert first.cost_usd < sg.gateway.worst_case_cost(task_requests.build("t3")) / 10


async def test_worst_case_is_what_the_budget_check_sets_aside(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway() as sg:
        request = task_requests.build("t1")
        split = request.full_miss_split()
        price = sg.gateway.prices.get(request.model)
        by_hand = (
            split.uncached * price.input
            + split.write_5m * price.cache_write_5m
            + split.write_1h * price.cache_write_1h
            + request.max_tokens * price.output
        ) / Decimal(1_000_000)
        assert sg.gateway.worst_case_cost(request) == by_hand


async def test_gateway_refuses_to_start_without_an_api_key() -> None:
    with pytest.raises(GatewayConfigError, match="no Anthropic API key: set MASTERPLAN_ANTHROPIC_API_KEY"):
        LLMGateway(Settings(anthropic_api_key=None), recorder=_no_store)


async def test_gateway_refuses_to_start_with_an_unpriced_model() -> None:
    with pytest.raises(UnknownModel, match=r"settings\.fast_model: unknown model 'claude-haiku-9'"):
        LLMGateway(Settings(anthropic_api_key="k", fast_model="claude-haiku-9"), recorder=_no_store)
