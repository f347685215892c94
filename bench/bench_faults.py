"""How often a run through a misbehaving model still gets at least 95% of its tasks done, over many seeds.

Each seed is one 12-task run against the simulator with the issue's faults: 10% malformed
answers, 5% overloaded, 5% syntax errors, 5% paths outside the workspace. Per seed it prints
the tasks completed, the faults met and the cost; then the share of runs that reached 95%.

    .venv/bin/python bench/bench_faults.py                 # seeds 0-29
    .venv/bin/python bench/bench_faults.py --seeds 100 --first 200 --faults overloaded=0.2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from decimal import Decimal
from pathlib import Path

from masterplan.config import Settings
from masterplan.models import RunOptions, RunRequest, RunStatus
from masterplan.service.assembly import open_service
from masterplan.sim import SimConfig, running_simulator

REQUEST = "A task-tracking API with users, projects and comments"
FAULTS = "malformed_json=0.1,overloaded=0.05,syntax_error=0.05,path_escape=0.05"
TARGET_SHARE = 0.95


async def one_run(seed: int, faults: str, tasks: int, home: Path) -> tuple[float, RunStatus, Decimal, dict[str, int]]:
    """(share of tasks completed, run status, cost, faults injected) of one seeded run."""
    config = SimConfig(port=0, tier="none", latency="none", seed=seed, faults=faults)
    async with running_simulator(config) as sim:
        settings = Settings(
            anthropic_api_key="sim-key",
            anthropic_base_url=sim.base_url,
            rate_limit_tier="none",
            database_url=f"sqlite://{home / 'masterplan.db'}",
            workspace_root=home / "workspaces",
        )
        options = RunOptions(tasks=tasks, auto_answer=True, approval="auto", checks=[], git=False)
        async with open_service(settings) as service:
            run = await service.wait((await service.create(RunRequest(request=REQUEST, options=options))).id)
            async with service.store.transaction() as tx:
                states = await tx.list_tasks(run.id)
        injected = dict(sim.stats()["faults"])
    done = sum(state.status == "completed" for state in states) / len(states) if states else 0.0
    return done, run.status, run.cost_usd, injected


async def main(args: argparse.Namespace) -> None:
    shares: list[float] = []
    costs: list[Decimal] = []
    for seed in range(args.first, args.first + args.seeds):
        with tempfile.TemporaryDirectory(prefix="masterplan-faults-") as home:
            done, status, cost, injected = await one_run(seed, args.faults, args.tasks, Path(home))
        shares.append(done)
        costs.append(cost)
        met = ", ".join(f"{kind} {count}" for kind, count in sorted(injected.items()))
        print(f"seed {seed:4d}: {status:10s} {done:6.1%} of tasks done, ${cost:.4f}, faults: {met}")
    reached = sum(share >= TARGET_SHARE for share in shares)
    print(
        f"{reached}/{len(shares)} runs reached {TARGET_SHARE:.0%} of their tasks; "
        f"mean {statistics.mean(shares):.1%} done, worst {min(shares):.1%}; "
        f"mean cost ${statistics.mean(costs):.4f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30, help="how many seeds (default 30)")
    parser.add_argument("--first", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--faults", default=FAULTS, help=f"simulator fault spec (default {FAULTS})")
    asyncio.run(main(parser.parse_args()))
