"""Prompt caching over a run's task calls: what the gateway reports next to what the simulator billed.

Sends N task-execution calls of one run through LLMGateway (the completed-task log growing after
each), then prints the cache-read share of input tokens and the cost as the gateway's CacheLedger
reports them, the same figures recomputed from the simulator's usage counters and the price table,
and the cost the same calls would have had without caching.

    .venv/bin/python bench/bench_cache_sequence.py                  # 50 calls on the fast model
    .venv/bin/python bench/bench_cache_sequence.py --calls 20 --model claude-sonnet-4-6
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal
from pathlib import Path

from masterplan.cache import CacheLedger, ProjectContext, PromptCacheManager, RunCacheContext
from masterplan.cache.layout import canonical_json
from masterplan.config import Settings
from masterplan.llm import CallContext, LLMGateway, Parsed, PriceTable
from masterplan.models import DiscoveryDocument, Entity, LLMCallRecord, PhaseConfig, PlanTask, TaskOutput
from masterplan.sim import SimConfig, running_simulator

ROLE_PROMPT = Path(__file__).resolve().parents[1] / "masterplan" / "prompts" / "roles" / "developer.md"
PHASE = PhaseConfig(
    phase="task_execution",
    role="developer",
    prompt="developer",
    schema_name="TaskOutput",
    model_class="fast",
    max_tokens=16000,
)


async def _discard(record: LLMCallRecord) -> None:
    """The bench keeps no audit trail; the ledger (an observer) sees every record."""


def _project() -> ProjectContext:
    document = DiscoveryDocument(
        project_name="shop",
        summary="An online shop. " + "Orders, customers, payments and stock. " * 450,
        entities=[Entity(name="Order"), Entity(name="Customer")],
    )
    return ProjectContext(request="Build an online shop.", discovery_document=document)


def _tail(index: int) -> str:
    task = PlanTask(
        task_id=f"t{index:03d}",
        title=f"Build module {index}",
        description="Write the module and its tests.",
        phase="core",
        milestone="m1",
        complexity="low",
        task_type="service",
        files=[f"shop/m{index}.py"],
    )
    return "<task>" + canonical_json(task) + "</task>"


async def bench(calls: int, model: str) -> None:
    prices = PriceTable.load()
    ledger = CacheLedger(prices)
    async with running_simulator(SimConfig(port=0, tier="none", latency=0)) as sim:
        settings = Settings(
            anthropic_api_key="sim-key", anthropic_base_url=sim.base_url, rate_limit_tier="none", fast_model=model
        )
        async with LLMGateway(settings, recorder=_discard, prices=prices, observer=ledger) as gateway:
            manager = PromptCacheManager(prices, observer=ledger)
            run = RunCacheContext("bench", _project())
            role_prompt = ROLE_PROMPT.read_text(encoding="utf-8")
            for index in range(calls):
                request = manager.build_request(
                    PHASE, model, role_prompt, tail=_tail(index), run=run, include_completed_tasks=True
                )
                context = CallContext(
                    "task_execution", "developer", "developer", 1, run_id="bench", task_id=f"t{index:03d}"
                )
                result = await gateway.complete(request, schema=TaskOutput, context=context)
                if isinstance(result.outcome, Parsed):
                    answer = result.outcome.value
                    run.append_completed(f"t{index:03d}", answer.summary, [f.path for f in answer.files])
        tokens = sim.stats()["tokens"]
    figures = ledger.run("bench")
    price = prices.get(model)
    total = tokens["input"] + tokens["cache_write"] + tokens["cache_read"]
    # every breakpoint here has the 5-minute TTL, so all writes are priced at the 5-minute rate
    by_hand = (
        tokens["input"] * price.input
        + tokens["cache_write"] * price.cache_write_5m
        + tokens["cache_read"] * price.cache_read
        + tokens["output"] * price.output
    ) / Decimal(1_000_000)
    print(f"{calls} task calls on {model}, one run, shared prefix")
    print(f"gateway:   cache-read share {figures.cache_read_share:.4%}, cost ${figures.cost_usd:.6f}")
    share = tokens["cache_read"] / total
    print(f"simulator: cache-read share {share:.4%}, cost ${by_hand:.6f} (from its usage counters)")
    print(f"without caching: ${figures.uncached_cost_usd:.6f}; saved ${figures.savings_usd:.6f}")
    print(f"figures agree: {figures.cost_usd == by_hand and figures.cache_read_share == share}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50, help="task calls in the run (default 50)")
    parser.add_argument("--model", default="claude-haiku-4-5", help="model id (default claude-haiku-4-5)")
    args = parser.parse_args()
    asyncio.run(bench(args.calls, args.model))


if __name__ == "__main__":
    main()
