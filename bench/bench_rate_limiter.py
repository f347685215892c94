"""Rate limiter under load: concurrent callers through the gateway against the simulator at tier 1.

Starts the simulator in-process (latency none, so only the rate limits slow anything down),
runs N concurrent callers that send task-execution requests through LLMGateway for a fixed
time, and prints how many 429s the simulator served and how much of each limit was used.

The simulator's buckets start full, so in a window of T seconds it admits at most
``limit + limit/60 * T`` of each dimension; the share used is the simulator's count over
that maximum, and the dimension with the highest share is the binding one. Both clocks are
real: the gateway's limiter runs on the system monotonic clock, the simulator on its own.

    .venv/bin/python bench/bench_rate_limiter.py              # 60 seconds, 4 callers, tier 1
    .venv/bin/python bench/bench_rate_limiter.py --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

from masterplan.cache import ProjectContext, PromptCacheManager, RunCacheContext
from masterplan.cache.layout import canonical_json
from masterplan.config import RateTier, Settings
from masterplan.llm import CallContext, LLMGateway, PriceTable
from masterplan.llm.ratelimit import tier_limits
from masterplan.models import DiscoveryDocument, Entity, LLMCallRecord, PhaseConfig, PlanTask, TaskOutput
from masterplan.sim import SimClock, SimConfig, running_simulator

DEFAULT_MAX_TOKENS = 4000


def _phase(max_tokens: int) -> PhaseConfig:
    return PhaseConfig(
        phase="task_execution",
        role="developer",
        prompt="developer",
        schema_name="TaskOutput",
        model_class="fast",
        max_tokens=max_tokens,
    )


SYSTEM_PROMPT = "You are a senior Python developer working on one task of a master plan. Answer with JSON only."


@dataclass
class Attempts:
    """The gateway's CallRecorder: counts attempts by outcome."""

    outcomes: dict[str, int]

    async def __call__(self, record: LLMCallRecord) -> None:
        self.outcomes[record.outcome] = self.outcomes.get(record.outcome, 0) + 1


def _project() -> ProjectContext:
    document = DiscoveryDocument(
        project_name="shop",
        summary="An online shop. " + "Orders, customers, payments and stock. " * 40,
        entities=[Entity(name="Order"), Entity(name="Customer")],
    )
    return ProjectContext(request="Build an online shop.", discovery_document=document)


def _tail(caller: int, index: int) -> str:
    task = PlanTask(
        task_id=f"c{caller}-{index}",
        title=f"Build module {index} of caller {caller}",
        description="Write the module and its tests.",
        phase="core",
        milestone="m1",
        complexity="low",
        task_type="service",
        files=[f"shop/c{caller}_m{index}.py", f"tests/test_c{caller}_m{index}.py"],
    )
    return "<task>" + canonical_json(task) + "</task>"


async def _caller(
    gateway: LLMGateway, manager: PromptCacheManager, run: RunCacheContext, phase: PhaseConfig, caller: int
) -> None:
    model = gateway.settings.fast_model
    index = 0
    while True:
        request = manager.build_request(phase, model, SYSTEM_PROMPT, tail=_tail(caller, index), run=run)
        task_id = f"c{caller}-{index}"
        context = CallContext("task_execution", "developer", "developer", 1, run_id=run.run_id, task_id=task_id)
        await gateway.complete(request, schema=TaskOutput, context=context)
        index += 1


async def bench(seconds: float, callers: int, tier: RateTier, max_tokens: int) -> dict[str, Any]:
    async with running_simulator(SimConfig(port=0, tier=tier, latency=0), SimClock()) as sim:
        settings = Settings(anthropic_api_key="sim-key", anthropic_base_url=sim.base_url, rate_limit_tier=tier)
        attempts = Attempts({})
        prices = PriceTable.load()
        async with LLMGateway(settings, recorder=attempts, prices=prices) as gateway:
            manager = PromptCacheManager(prices)
            run = RunCacheContext("bench", _project())
            started = time.monotonic()
            phase = _phase(max_tokens)
            tasks = [asyncio.create_task(_caller(gateway, manager, run, phase, n)) for n in range(callers)]
            await asyncio.sleep(seconds)
            stats = sim.stats()  # what the simulator admitted within the window
            elapsed = time.monotonic() - started
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pool = gateway.limiter.pool("fast")
            return {
                "elapsed": elapsed,
                "stats": stats,
                "attempts": attempts.outcomes,
                "limits": tier_limits(tier, prices.get(settings.fast_model).rate_limit_group),
                "waits": pool.stats.waits,
                "wait_seconds": pool.stats.wait_seconds,
            }


def report(figures: dict[str, Any], callers: int, tier: str, max_tokens: int) -> None:
    stats, elapsed, limits = figures["stats"], figures["elapsed"], figures["limits"]
    used = {
        "requests/min": stats["requests_by_status"].get("200", 0),
        "input tokens/min": stats["tokens"]["input"] + stats["tokens"]["cache_write"],
        "output tokens/min": stats["tokens"]["output"],
    }
    per_minute = {
        "requests/min": limits.requests_per_minute,
        "input tokens/min": limits.input_tokens_per_minute,
        "output tokens/min": limits.output_tokens_per_minute,
    }
    print(
        f"simulator tier {tier}, latency none, {callers} concurrent callers, max_tokens {max_tokens}, {elapsed:.1f} s"
    )
    print(f"{'limit':<18} {'used':>9} {'max admissible':>15} {'share':>7}")
    shares = {}
    for name, amount in used.items():
        admissible = per_minute[name] * (1 + elapsed / 60)
        shares[name] = amount / admissible
        print(f"{name:<18} {amount:>9} {admissible:>15.0f} {shares[name]:>7.1%}")
    binding = max(shares, key=lambda name: shares[name])
    print(f"attempts by outcome: {figures['attempts']}")
    print(f"limiter waits: {figures['waits']} totalling {figures['wait_seconds']:.1f} s")
    print(f"429 responses: {stats['rate_limited']}")
    print(f"binding limit: {binding}, share used: {shares[binding]:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the callers run (default 60)")
    parser.add_argument("--callers", type=int, default=4, help="concurrent callers (default 4)")
    parser.add_argument("--tier", choices=["1", "2", "3", "4"], default="1", help="rate-limit tier (default 1)")
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"max_tokens of each request, reserved from the output bucket until the answer is in "
        f"(default {DEFAULT_MAX_TOKENS})",
    )
    args = parser.parse_args()
    figures = asyncio.run(bench(args.seconds, args.callers, args.tier, args.max_tokens))
    report(figures, args.callers, args.tier, args.max_tokens)


if __name__ == "__main__":
    main()
