"""The 50-task reference run against the simulator: cost, cache, and masterplan's own time per LLM call.

The simulator runs in its own process (``masterplan sim``) so its work is not
counted as masterplan's. masterplan's own time per call is the time between one
call's end and the next call's start (store writes, validation, workspace,
git, request building), read from the audit trail: a record's ``created_at`` is
when the attempt ended and ``latency_ms`` how long it waited on the simulator.

    .venv/bin/python bench/bench_reference_run.py                 # 50 tasks, checks off, git on
    .venv/bin/python bench/bench_reference_run.py --checks --tasks 12
    .venv/bin/python bench/bench_reference_run.py --no-git --breakdown   # where the own time goes
    .venv/bin/python bench/bench_reference_run.py --batch --tasks 12     # interactive against batch mode

With ``--batch`` the same plan (same request, same seed, a fresh simulator and database each) runs
twice, once interactive and once in batch mode (Message Batches), and the bench prints both costs,
their ratio (issue 14's target: batch at most 55% of interactive), the number of batches, and the
batch run's wall time in batch turnarounds (wall seconds / the simulator's ``--batch-seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from masterplan.config import Settings
from masterplan.llm.pricing import PriceTable
from masterplan.llm.usage import TokenUsage
from masterplan.models import LLMCallRecord, RunMode, RunOptions, RunRequest
from masterplan.service.assembly import open_service

REQUEST = "A task-tracking API with users and projects"
DESIGN_NOTE_ESTIMATE_USD = Decimal("11.88")  # design note 003, hybrid 60% Haiku / 40% Sonnet, 50 tasks


BREAKDOWN = [
    ("masterplan.executor.task_runner", None, "syntax_problems", "validation: syntax (compile worker, else compile())"),
    ("masterplan.executor.workspace", "Workspace", "problems", "validation: paths and sizes"),
    ("masterplan.executor.workspace", "Workspace", "write", "workspace: atomic writes"),
    ("masterplan.executor.workspace", "Workspace", "read", "workspace: reads for the tail"),
    ("masterplan.executor.task_runner", "TaskRunner", "_tail", "prompt tail (task, dependency files)"),
    ("masterplan.cache.manager", "PromptCacheManager", "build_request", "request layout and cache planning"),
    ("masterplan.executor.journal", "Journal", "settle", "store: writes behind, waited for before a call"),
]


def instrument() -> dict[str, list[float]]:
    """Wrap the steps of a task that are masterplan's own work, to print where the time goes."""
    import functools
    import importlib
    import inspect

    spent: dict[str, list[float]] = {label: [] for *_, label in BREAKDOWN}
    for module_name, class_name, attribute, label in BREAKDOWN:
        owner = importlib.import_module(module_name)
        owner = getattr(owner, class_name) if class_name else owner
        original = getattr(owner, attribute)

        def wrap(original: Any = original, label: str = label) -> Any:
            if inspect.iscoroutinefunction(original):

                @functools.wraps(original)
                async def timed_async(*args: Any, **kwargs: Any) -> Any:
                    started = time.perf_counter()
                    try:
                        return await original(*args, **kwargs)
                    finally:
                        spent[label].append(time.perf_counter() - started)

                return timed_async

            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    spent[label].append(time.perf_counter() - started)

            return timed

        setattr(owner, attribute, wrap())
    return spent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_simulator(port: int, seed: int, batch_seconds: float | None = None) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "masterplan.cli",
        "sim",
        "--port",
        str(port),
        "--tier",
        "none",
        "--seed",
        str(seed),
    ]
    if batch_seconds is not None:
        command += ["--batch-seconds", str(batch_seconds)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/sim/stats", timeout=1):
                return process
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the simulator did not start")


def own_time_per_call_ms(records: list[LLMCallRecord], started: float, ended: float) -> list[float]:
    """Gaps between calls: from the run's start (or a call's end) to the next call's start, and the tail."""
    gaps: list[float] = []
    previous_end = started
    for record in sorted(records, key=lambda r: r.created_at):
        end = record.created_at.timestamp()
        start = (record.created_at - timedelta(milliseconds=record.latency_ms)).timestamp()
        gaps.append((start - previous_end) * 1000)
        previous_end = end
    gaps[-1] += max(0.0, ended - previous_end) * 1000
    return gaps


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, base_url: str, home: Path) -> None:
    spent = instrument() if args.breakdown else {}
    settings = Settings(
        anthropic_api_key="sim-key",
        anthropic_base_url=base_url,
        rate_limit_tier="none",
        database_url=args.db or f"sqlite://{home / 'masterplan.db'}",
        workspace_root=home / "workspaces",
    )
    options = RunOptions(
        tasks=args.tasks, auto_answer=True, approval="auto", checks=None if args.checks else [], git=args.git
    )
    async with open_service(settings) as service:
        started = time.time()
        run = await service.create(RunRequest(request=REQUEST, options=options))
        run = await service.wait(run.id)
        ended = time.time()
        async with service.store.transaction() as tx:
            records = await tx.list_llm_calls(run.id)
            tasks = await tx.list_tasks(run.id)
    prices = PriceTable.load()
    uncached = sum((prices.get(r.model).uncached_cost(TokenUsage.from_record(r)) for r in records), Decimal(0))
    execution = [r for r in records if r.phase == "task_execution"]
    gaps = own_time_per_call_ms(records, started, ended)
    waiting_s = sum(r.latency_ms for r in records) / 1000
    print(f"run {run.id}: {run.status}, {sum(t.status == 'completed' for t in tasks)}/{len(tasks)} tasks completed")
    print(f"LLM calls: {len(records)} ({len(execution)} task executions)")
    print(
        f"tokens: input {run.usage.input_tokens}, cache write {run.usage.cache_write_tokens}, "
        f"cache read {run.usage.cache_read_tokens}, output {run.usage.output_tokens}"
    )
    print(f"output tokens per task answer: {statistics.mean(r.output_tokens for r in execution):.0f}")
    print(f"cache-read share of input tokens: {run.usage.cache_read_share:.1%}")
    print(
        f"cost: ${run.cost_usd:.4f}   without prompt caching: ${uncached:.4f}   "
        f"saved: {1 - run.cost_usd / uncached:.1%}   (design note 003 estimate: ${DESIGN_NOTE_ESTIMATE_USD})"
    )
    print(
        f"wall time {ended - started:.2f} s, waiting on the simulator {waiting_s:.2f} s "
        f"(checks {'on' if args.checks else 'off'}, git {'on' if args.git else 'off'})"
    )
    print(
        f"masterplan's own time per LLM call: mean {statistics.mean(gaps):.2f} ms, "
        f"p50 {percentile(gaps, 0.5):.2f} ms, p99 {percentile(gaps, 0.99):.2f} ms"
    )
    if args.breakdown:
        ordered = sorted(records, key=lambda r: r.created_at)
        largest = sorted(zip(gaps, ordered, strict=True), key=lambda pair: -pair[0])[:4]
        print("  largest gaps, before the call of: " + ", ".join(f"{r.phase} {gap:.1f} ms" for gap, r in largest))
    for label, seconds in spent.items():
        print(f"  {label:50s} {sum(seconds) * 1000 / len(records):6.2f} ms per call ({len(seconds)} times)")


BATCH_POLL_INITIAL_S = 0.2
BATCH_POLL_MAX_S = 0.5
"""Polls of a batch in the bench: short, since the simulator's batches end within ``--batch-seconds``."""


async def run_mode(args: argparse.Namespace, base_url: str, home: Path, mode: RunMode) -> dict[str, Any]:
    """One run of the reference plan in ``mode`` (interactive or batch): what the comparison prints."""
    settings = Settings(
        anthropic_api_key="sim-key",
        anthropic_base_url=base_url,
        rate_limit_tier="none",
        database_url=f"sqlite://{home / 'masterplan.db'}",
        workspace_root=home / "workspaces",
        batch_poll_initial_s=BATCH_POLL_INITIAL_S,
        batch_poll_max_s=BATCH_POLL_MAX_S,
        batch_gather_s=args.gather_seconds,
    )
    options = RunOptions(
        tasks=args.tasks,
        auto_answer=True,
        approval="auto",
        checks=None if args.checks else [],
        git=args.git,
        mode=mode,
    )
    async with open_service(settings) as service:
        started = time.monotonic()
        run = await service.create(RunRequest(request=REQUEST, options=options))
        run = await service.wait(run.id)
        wall_s = time.monotonic() - started
        async with service.store.transaction() as tx:
            records = await tx.list_llm_calls(run.id)
            tasks = await tx.list_tasks(run.id)
            batches = await tx.list_batches(run.id)
    return {
        "mode": mode,
        "status": run.status,
        "completed": sum(t.status == "completed" for t in tasks),
        "tasks": len(tasks),
        "calls": len(records),
        "in_batches": sum(r.batch_id is not None for r in records),
        "batches": len(batches),
        "requests": sum(b.requests for b in batches),
        "cost": run.cost_usd,
        "wall_s": wall_s,
    }


def compare_modes(args: argparse.Namespace) -> None:
    """The same plan interactive, then in batch mode, each against a fresh simulator with the same seed."""
    results = []
    modes: tuple[RunMode, ...] = ("interactive", "batch")
    for mode in modes:
        port = free_port()
        simulator = start_simulator(port, args.seed, args.batch_seconds)
        try:
            with tempfile.TemporaryDirectory(prefix="mp-bench-") as home:
                results.append(asyncio.run(run_mode(args, f"http://127.0.0.1:{port}", Path(home), mode)))
        finally:
            simulator.terminate()
            simulator.wait(timeout=10)
    interactive, batch = results
    print(
        f"{args.tasks} tasks, seed {args.seed}, simulator --batch-seconds {args.batch_seconds:g}, "
        f"polls {BATCH_POLL_INITIAL_S:g}-{BATCH_POLL_MAX_S:g} s, gather {args.gather_seconds:g} s "
        f"(checks {'on' if args.checks else 'off'}, git {'on' if args.git else 'off'})"
    )
    for result in results:
        print(
            f"{result['mode']:>11}: {result['status']}, {result['completed']}/{result['tasks']} tasks completed, "
            f"{result['calls']} LLM calls ({result['in_batches']} in batches), "
            f"cost ${result['cost']:.4f}, wall {result['wall_s']:.2f} s"
        )
    ratio = batch["cost"] / interactive["cost"] if interactive["cost"] else Decimal(0)
    verdict = "meets" if ratio <= Decimal("0.55") else "misses"
    print(f"cost batch / interactive: {ratio:.1%} ({verdict} the target of at most 55%)")
    per_batch = batch["requests"] / max(batch["batches"], 1)
    print(f"batches: {batch['batches']} ({batch['requests']} requests, {per_batch:.1f} a batch)")
    turnarounds = batch["wall_s"] / args.batch_seconds
    print(
        f"batch run's wall time: {turnarounds:.1f} batch turnarounds ({batch['wall_s']:.2f} s / "
        f"{args.batch_seconds:g} s), {turnarounds / max(batch['batches'], 1):.2f} turnarounds a batch"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--checks", action="store_true", help="run pytest after every task (default off)")
    parser.add_argument("--no-git", dest="git", action="store_false", help="no commit per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--breakdown", action="store_true", help="also print where masterplan's own time goes")
    parser.add_argument(
        "--batch", action="store_true", help="run the plan interactive and in batch mode and compare the two"
    )
    parser.add_argument(
        "--batch-seconds", type=float, default=1.0, help="with --batch: the simulator's batch time (default 1)"
    )
    parser.add_argument(
        "--gather-seconds",
        type=float,
        default=0.5,
        help="with --batch: MASTERPLAN_BATCH_GATHER_S of the batch run (default 0.5, the setting's default)",
    )
    args = parser.parse_args()
    if args.batch:
        if args.breakdown or args.db:
            parser.error("--batch runs on fresh SQLite databases and takes no --breakdown or --db")
        if args.batch_seconds <= 0:
            parser.error("--batch-seconds must be above 0 (the wall time is counted in batch turnarounds)")
        compare_modes(args)
        return
    port = free_port()
    simulator = start_simulator(port, args.seed)
    try:
        with tempfile.TemporaryDirectory(prefix="mp-bench-") as home:
            asyncio.run(run(args, f"http://127.0.0.1:{port}", Path(home)))
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


if __name__ == "__main__":
    main()
