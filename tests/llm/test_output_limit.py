"""No attempt asks more output than its model class may produce in a minute at the adopted tier.

Anthropic estimates a request's output from its max_tokens when it starts: at tier 1 (8,000 output
tokens a minute for Sonnet, 10,000 for Haiku) the planner's configured 32,000 could never be admitted.
The gateway fits max_tokens to the class's rate pool, whose limits are the configured tier's or those the
server's ``anthropic-ratelimit-*`` headers announced; the budget's worst case and the limiter's
reservation are those of what is sent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from masterplan.cache import PromptCacheManager
from masterplan.llm import CallContext, LLMRequest, PriceTable
from masterplan.models import MasterPlan, PhaseConfig, TaskOutput

from .conftest import PROMPTS, SimGatewayFactory, TaskRequests

PLAN_CONTEXT = CallContext(phase="master_plan", role="planner", prompt_name="planner", prompt_version=1, run_id="r1")
TASK_CONTEXT = CallContext(
    phase="task_execution", role="developer", prompt_name="developer", prompt_version=1, run_id="r1"
)
TIER_1_OTPM = {"claude-sonnet-4-6": 8_000, "claude-haiku-4-5": 10_000}


def _plan_request(prices: PriceTable, phases: dict[str, PhaseConfig]) -> LLMRequest:
    planner = Path(PROMPTS / "roles" / "planner.md").read_text(encoding="utf-8")
    return PromptCacheManager(prices).build_request(
        phases["master_plan"],
        "claude-sonnet-4-6",
        planner,
        tail="<request>A task-tracking API with users and projects</request><target_tasks>12</target_tasks>",
    )


async def test_the_planning_call_asks_at_most_the_tier_1_output_limit(
    sim_gateway: SimGatewayFactory, prices: PriceTable, phases: dict[str, PhaseConfig]
) -> None:
    request = _plan_request(prices, phases)
    assert request.max_tokens == 32_000  # the phase's configured maximum, as asked
    async with sim_gateway(tier="1") as sg:
        result = await sg.gateway.complete(request, schema=MasterPlan, context=PLAN_CONTEXT)
        sent = dataclasses.replace(request, max_tokens=TIER_1_OTPM["claude-sonnet-4-6"])
        assert sg.gateway.fit_to_pool(request) == sent
        assert result.parsed is not None
        [record] = sg.recorded.records
        assert record.max_tokens == 8_000
        assert record.worst_case_usd == sg.gateway.worst_case_cost(sent) < sg.gateway.worst_case_cost(request)


async def test_a_task_call_asks_at_most_the_fast_classs_limit(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway(tier="1") as sg:
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=TASK_CONTEXT)
        assert result.parsed is not None
        assert [record.max_tokens for record in sg.recorded.records] == [TIER_1_OTPM["claude-haiku-4-5"]]


async def test_a_request_within_the_limit_is_sent_as_it_is(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    request = dataclasses.replace(task_requests.build("t1"), max_tokens=7_500)
    async with sim_gateway(tier="1") as sg:
        assert sg.gateway.fit_to_pool(request) is request
        await sg.gateway.complete(request, schema=TaskOutput, context=TASK_CONTEXT)
        assert [record.max_tokens for record in sg.recorded.records] == [7_500]


async def test_without_a_configured_tier_the_servers_limits_are_adopted(
    sim_gateway: SimGatewayFactory, prices: PriceTable, phases: dict[str, PhaseConfig]
) -> None:
    """Tier "none" knows no limit until a response's headers tell the server's (the simulator's tier 1)."""
    request = _plan_request(prices, phases)
    async with sim_gateway(tier="1", rate_limit_tier="none") as sg:
        pool = sg.gateway.limiter.pool("strong")
        assert pool.limits is None
        await sg.gateway.complete(request, schema=MasterPlan, context=PLAN_CONTEXT)
        assert pool.limits is not None
        assert pool.limits.output_tokens_per_minute == 8_000
        before = len(sg.recorded.records)
        await sg.gateway.complete(request, schema=MasterPlan, context=PLAN_CONTEXT)
        assert [record.max_tokens for record in sg.recorded.records[before:]] == [8_000]
