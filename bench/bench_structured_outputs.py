"""Structured outputs against JSON asked in the prompt: calls, re-asks and cost of the same run with broken JSON.

Runs one run on the simulator three ways, with the same seed and content faults (a share of answers
wrapped in prose or a fence, or malformed): with structured outputs (each call sends its schema as
``output_config.format``, so the faults cannot apply), with the setting off (the parser repairs what it
can and the rest is asked again), and against a simulator without the feature (the first call is
refused, the gateway turns it off, and the run goes on as with the setting off). Checks are quick
(compileall): the answers are what is measured.

    .venv/bin/python bench/bench_structured_outputs.py
    .venv/bin/python bench/bench_structured_outputs.py --tasks 24 --faults malformed_json=0.3 --seed 5
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from masterplan.config import Settings
from masterplan.models import LLMCallRecord, RunOptions, RunRequest
from masterplan.service.assembly import open_service
from masterplan.sim import SimConfig, running_simulator

REQUEST = "A task-tracking API with users and projects"
UNUSABLE = frozenset({"parse_error", "validation_error", "truncated", "refused"})
WAYS = {
    "structured": (True, True),
    "setting off": (False, True),
    "server without": (True, False),
}
"""Name -> (masterplan's structured_outputs setting, the simulator has the feature)."""


async def one_run(
    work: Path, *, tasks: int, faults: str, seed: int, setting: bool, server: bool
) -> tuple[str, list[LLMCallRecord], float]:
    config = SimConfig(port=0, tier="none", latency="none", seed=seed, faults=faults, structured_outputs=server)
    async with running_simulator(config) as sim:
        settings = Settings(
            anthropic_api_key="sim-key",
            anthropic_base_url=sim.base_url,
            database_url=f"sqlite://{work / 'masterplan.db'}",
            workspace_root=work / "workspaces",
            rate_limit_tier="none",
            structured_outputs=setting,
        )
        options = RunOptions(tasks=tasks, auto_answer=True, approval="auto", checks=["python -m compileall -q ."])
        started = time.perf_counter()
        async with open_service(settings) as service:
            run = await service.wait((await service.create(RunRequest(request=REQUEST, options=options))).id)
            async with service.store.transaction() as tx:
                calls = await tx.list_llm_calls(run.id)
        return run.status.value, calls, time.perf_counter() - started


def row(name: str, status: str, calls: list[LLMCallRecord], seconds: float) -> str:
    outcomes: Counter[str] = Counter(call.outcome for call in calls)
    unusable = sum(outcomes[outcome] for outcome in UNUSABLE)
    cost = sum((call.cost_usd for call in calls), Decimal(0))
    wasted = sum((call.cost_usd for call in calls if call.outcome in UNUSABLE), Decimal(0))
    structured = sum(1 for call in calls if call.structured_output)
    return (
        f"{name:<15} {status:<22} {len(calls):>5} {structured:>10} {unusable:>8} {outcomes['client_error']:>8} "
        f"{cost:>10.4f} {wasted:>10.4f} {seconds:>7.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--faults", default="malformed_json=0.2,prose_json=0.1,fenced_json=0.1")
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.tasks} tasks, faults {args.faults}, seed {args.seed}")
    print(
        f"{'way':<15} {'status':<22} {'calls':>5} {'structured':>10} {'unusable':>8} {'refused':>8} "
        f"{'cost $':>10} {'wasted $':>10} {'wall s':>7}"
    )
    for name, (setting, server) in WAYS.items():
        with tempfile.TemporaryDirectory(prefix="bench-structured-") as work:
            status, calls, seconds = await one_run(
                Path(work), tasks=args.tasks, faults=args.faults, seed=args.seed, setting=setting, server=server
            )
        print(row(name, status, calls, seconds))
    print("unusable: answers the parser could not use (each asked again); refused: 400s to output_config ($0)")


if __name__ == "__main__":
    asyncio.run(main())
