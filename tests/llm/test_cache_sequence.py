"""A run's task calls share a prefix: what the gateway reports equals what the simulator billed."""

from __future__ import annotations

from decimal import Decimal

from masterplan.cache import CacheLedger, RunCacheContext, TTLHint
from masterplan.llm import CallContext, Parsed, PriceTable
from masterplan.llm.request import LLMRequest
from masterplan.models import TaskOutput

from .conftest import SimGatewayFactory, TaskRequests, project_context

PER_MILLION = Decimal(1_000_000)
MICRO = Decimal("0.000001")


async def _run_tasks(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, prices: PriceTable, calls: int, ttl: TTLHint
) -> tuple[CacheLedger, dict[str, int], list[LLMRequest], list[int]]:
    ledger = CacheLedger(prices)
    run = RunCacheContext("r1", project_context(padding_sentences=450))
    requests: list[LLMRequest] = []
    reads: list[int] = []
    async with sim_gateway(observer=ledger) as sg:
        for i in range(calls):
            task_id = f"t{i:02d}"
            request = task_requests.build(task_id, run=run, ttl_hint=ttl)
            context = CallContext("task_execution", "developer", "developer", 1, run_id="r1", task_id=task_id)
            result = await sg.gateway.complete(request, schema=TaskOutput, context=context)
            assert isinstance(result.outcome, Parsed)
            run.append_completed(task_id, result.outcome.value.summary, [f.path for f in result.outcome.value.files])
            requests.append(request)
            reads.append(result.usage.cache_read_tokens)
        tokens: dict[str, int] = sg.sim.stats()["tokens"]
    return ledger, tokens, requests, reads


async def test_fifty_calls_report_the_simulators_cache_share_and_cost(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, prices: PriceTable
) -> None:
    ledger, tokens, _, _ = await _run_tasks(sim_gateway, task_requests, prices, 50, TTLHint())
    figures = ledger.run("r1")
    print(ledger.report("r1"))

    total_input = tokens["input"] + tokens["cache_write"] + tokens["cache_read"]
    assert figures.usage.total_input_tokens == total_input
    assert figures.cache_read_share == tokens["cache_read"] / total_input
    assert figures.cache_read_share > 0.8

    haiku = prices.get("claude-haiku-4-5")  # $1 input, $1.25 5-minute write, $0.10 read, $5 output per million
    by_hand = (
        tokens["input"] * Decimal("1")
        + tokens["cache_write"] * Decimal("1.25")
        + tokens["cache_read"] * Decimal("0.10")
        + tokens["output"] * Decimal("5")
    ) / PER_MILLION
    assert figures.cost_usd.quantize(MICRO) == by_hand.quantize(MICRO)
    assert figures.cost_usd == by_hand
    assert figures.uncached_cost_usd == (total_input * haiku.input + tokens["output"] * haiku.output) / PER_MILLION
    assert figures.savings_usd > 0


async def test_each_task_call_reads_everything_the_previous_one_sent(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, prices: PriceTable
) -> None:
    _, _, requests, reads = await _run_tasks(sim_gateway, task_requests, prices, 6, TTLHint())
    assert reads[0] == 0
    for previous, read in zip(requests, reads[1:], strict=False):
        assert read == previous.breakpoints()[-1].prefix_tokens


async def test_one_hour_writes_are_priced_at_the_one_hour_rate(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, prices: PriceTable
) -> None:
    ledger, tokens, requests, _ = await _run_tasks(sim_gateway, task_requests, prices, 5, TTLHint(stable_gap_s=600))
    assert {bp.ttl for bp in requests[0].breakpoints()} == {"1h"}
    figures = ledger.run("r1")
    assert figures.usage.cache_write_1h_tokens == tokens["cache_write"] > 0
    by_hand = (
        tokens["input"] * Decimal("1")
        + tokens["cache_write"] * Decimal("2")
        + tokens["cache_read"] * Decimal("0.10")
        + tokens["output"] * Decimal("5")
    ) / PER_MILLION
    assert figures.cost_usd == by_hand
