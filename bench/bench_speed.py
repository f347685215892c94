"""Execution at the speed limit: each scenario's wall time next to the bound its own run allows.

Each scenario is one run against the simulator (its own process, so its work is not counted
as masterplan's). ``wall`` is the execution phase: from the run's ``executing`` status to the
last task's end. The bound comes from the run's own audit trail and plan, not from a model:

- ``calls``: max(the plan's critical path weighted by each task's measured call time, total task-call time / C);
  next to it the floor no schedule beats (``schedule_floor``: a plan that starts with a chain leaves slots idle
  whatever the scheduler does), so what is the plan's shape and what is masterplan's overhead can be told apart;
- ``checks``: the same with each task's check time added to its weight (measured in a C=1 run of the same
  seed, where no check waits for another), and total check time / cores as a third term;
- ``rate``: each model class's output tokens over its output-token limit per minute, the classes in
  parallel, or the critical path if that is longer; the 429s and the calls refused for ``max_tokens``
  are counted.

    .venv/bin/python bench/bench_speed.py                        # every scenario (tier 1 takes minutes)
    .venv/bin/python bench/bench_speed.py --scenario calls --concurrency 1 4
    .venv/bin/python bench/bench_speed.py --scenario rate --tasks 12
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from masterplan.config import Settings
from masterplan.executor.ordering import TaskGraph
from masterplan.llm.pricing import PriceTable
from masterplan.llm.ratelimit import tier_limits
from masterplan.llm.routing import class_of_model
from masterplan.models import Event, LLMCallRecord, RunOptions, RunRequest, TaskState
from masterplan.service.assembly import open_service

REQUEST = "A task-tracking API with users and projects"
GOALS = {"calls": 1.10, "checks": 1.30, "rate": 1.05}


@dataclass(frozen=True)
class Measured:
    """One run's execution phase as its audit trail and events tell it."""

    wall_s: float
    call_s: dict[str, float]
    """Task id -> seconds its calls took (every attempt, continuations included)."""
    check_s: dict[str, float]
    """Task id -> seconds from its last call's end to its completion: file writes and checks."""
    output_by_class: dict[str, int]
    graph: TaskGraph
    rate_limited: int
    refused_for_max_tokens: int
    settings: Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_simulator(port: int, tier: str, latency: float, seed: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "masterplan.cli", "sim", "--port", str(port), "--tier", tier]
    command += ["--latency", str(latency), "--seed", str(seed)]
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


def sim_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/sim/stats", timeout=5) as response:
        stats: dict[str, Any] = orjson.loads(response.read())
        return stats


def call_window(record: LLMCallRecord) -> tuple[float, float]:
    end = record.created_at.timestamp()
    return end - record.latency_ms / 1000, end


def measure(tasks: list[TaskState], calls: list[LLMCallRecord], events: list[Event], settings: Settings) -> Measured:
    executing = next(e.ts for e in events if e.type == "run.status" and e.data.get("status") == "executing")
    completed = {e.data["task_id"]: e.ts.timestamp() for e in events if e.type == "task.completed"}
    start = executing.timestamp()
    call_s: dict[str, float] = defaultdict(float)
    last_end: dict[str, float] = {}
    output_by_class: dict[str, int] = defaultdict(int)
    for record in calls:
        begin, end = call_window(record)
        if end < start:
            continue
        output_by_class[class_of_model(record.model, settings)] += record.output_tokens
        if record.task_id is not None:
            call_s[record.task_id] += record.latency_ms / 1000
            last_end[record.task_id] = max(last_end.get(record.task_id, begin), end)
    check_s = {task_id: max(0.0, done - last_end.get(task_id, done)) for task_id, done in completed.items()}
    refused = sum(1 for r in calls if r.outcome != "ok" and "max_tokens" in (r.error or ""))
    limited = sum(1 for r in calls if "429" in (r.error or "") or "rate_limit" in (r.error or ""))
    return Measured(
        wall_s=max(completed.values(), default=start) - start,
        call_s=dict(call_s),
        check_s=check_s,
        output_by_class=dict(output_by_class),
        graph=TaskGraph([task.definition for task in tasks]),
        rate_limited=limited,
        refused_for_max_tokens=refused,
        settings=settings,
    )


def critical_path(graph: TaskGraph, weights: dict[str, float]) -> float:
    return max(graph.remaining_paths(weights).values(), default=0.0)


def schedule_floor(graph: TaskGraph, weights: dict[str, float], concurrency: int) -> float:
    """A lower bound no schedule beats, tighter than the issue's when the plan starts narrow.

    A task cannot start before its earliest start (the longest weighted path of its dependencies), so for
    any t the work of the tasks that start at t or later still needs t + that work / C. The issue's bound,
    max(critical path, total / C), is this at t = 0 with the critical path beside it.
    """
    earliest: dict[str, float] = {}
    for task_id in graph.order():
        earliest[task_id] = max(
            (earliest[dep] + weights[dep] for dep in graph.direct_dependencies(task_id)), default=0.0
        )
    floors = (
        start + sum(weights[task] for task, at in earliest.items() if at >= start) / concurrency
        for start in set(earliest.values())
    )
    return max([critical_path(graph, weights), *floors])


def calls_weights(run: Measured) -> dict[str, float]:
    return {task_id: run.call_s.get(task_id, 0.0) for task_id in run.graph.task_ids}


def calls_bound(run: Measured, concurrency: int) -> float:
    weights = calls_weights(run)
    return max(critical_path(run.graph, weights), sum(weights.values()) / concurrency)


def checks_weights(run: Measured, check_s: dict[str, float]) -> dict[str, float]:
    return {task_id: call_s + check_s.get(task_id, 0.0) for task_id, call_s in calls_weights(run).items()}


def checks_bound(run: Measured, concurrency: int, check_s: dict[str, float]) -> float:
    weights = checks_weights(run, check_s)
    cores = os.cpu_count() or 1
    return max(critical_path(run.graph, weights), sum(weights.values()) / concurrency, sum(check_s.values()) / cores)


def rate_bound(run: Measured) -> float:
    """Each rate-limit group's output tokens over its per-minute limit (groups in parallel), or the critical path."""
    prices = PriceTable.load()
    by_group: dict[str, int] = defaultdict(int)
    for model_class, tokens in run.output_by_class.items():
        model = run.settings.strong_model if model_class == "strong" else run.settings.fast_model
        by_group[prices.get(model).rate_limit_group] += tokens
    per_group = []
    for group, tokens in by_group.items():
        limits = tier_limits(run.settings.rate_limit_tier, group)
        if limits is not None:
            per_group.append(tokens / limits.output_tokens_per_minute * 60)
    return max([critical_path(run.graph, calls_weights(run)), *per_group])


async def one_run(base_url: str, home: Path, *, tier: str, tasks: int, concurrency: int, checks: bool) -> Measured:
    settings = Settings(
        anthropic_api_key="sim-key",
        anthropic_base_url=base_url,
        rate_limit_tier=tier,
        database_url=f"sqlite://{home / 'masterplan.db'}",
        workspace_root=home / "workspaces",
    )
    options = RunOptions(
        tasks=tasks, auto_answer=True, approval="auto", checks=None if checks else [], concurrency=concurrency
    )
    async with open_service(settings) as service:
        run = await service.wait((await service.create(RunRequest(request=REQUEST, options=options))).id)
        async with service.store.transaction() as tx:
            calls = await tx.list_llm_calls(run.id)
            states = await tx.list_tasks(run.id)
            events = await tx.events_after(run.id, 0)
    done = sum(1 for state in states if state.status == "completed")
    print(f"    run {run.id}: {run.status}, {done}/{len(states)} tasks, {len(calls)} calls, ${run.cost_usd:.2f}")
    return measure(states, calls, events, settings)


def floor_note(wall: float, floor: float) -> str:
    return f"\n    no schedule of this plan beats {floor:.2f} s (wall / that floor {wall / floor:5.3f})"


def report(scenario: str, label: str, wall: float, bound: float, extra: str = "") -> None:
    ratio = wall / bound if bound > 0 else float("inf")
    verdict = "meets" if ratio <= GOALS[scenario] else "misses"
    figures = f"wall {wall:7.2f} s  bound {bound:7.2f} s  ratio {ratio:5.3f}"
    print(f"  {label:8s} {figures}  ({verdict} ≤ {GOALS[scenario]}){extra}")


class Simulator:
    def __init__(self, tier: str, latency: float, seed: int) -> None:
        self.port = free_port()
        self.process = start_simulator(self.port, tier, latency, seed)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run_in(base_url: str, **kwargs: Any) -> Measured:
    with tempfile.TemporaryDirectory(prefix="mp-speed-") as home:
        return asyncio.run(one_run(base_url, Path(home), **kwargs))


def scenario_calls(args: argparse.Namespace) -> None:
    print(f"calls: tier none, latency ×{args.latency}, checks off, {args.tasks} tasks")
    with Simulator("none", args.latency, args.seed) as sim:
        for concurrency in args.concurrency:
            run = run_in(sim.base_url, tier="none", tasks=args.tasks, concurrency=concurrency, checks=False)
            floor = floor_note(run.wall_s, schedule_floor(run.graph, calls_weights(run), concurrency))
            report("calls", f"C={concurrency}", run.wall_s, calls_bound(run, concurrency), floor)


def scenario_checks(args: argparse.Namespace) -> None:
    print(f"checks: tier none, latency ×{args.latency}, default pytest checks, {args.tasks} tasks")
    with Simulator("none", args.latency, args.seed) as sim:
        alone = run_in(sim.base_url, tier="none", tasks=args.tasks, concurrency=1, checks=True)
        print(f"    check time per task at C=1: {sum(alone.check_s.values()) / max(1, len(alone.check_s)):.2f} s")
        report("checks", "C=1", alone.wall_s, checks_bound(alone, 1, alone.check_s))
        for concurrency in [c for c in args.concurrency if c > 1] or [4]:
            run = run_in(sim.base_url, tier="none", tasks=args.tasks, concurrency=concurrency, checks=True)
            floor = max(
                schedule_floor(run.graph, checks_weights(run, alone.check_s), concurrency),
                sum(alone.check_s.values()) / (os.cpu_count() or 1),
            )
            bound = checks_bound(run, concurrency, alone.check_s)
            report("checks", f"C={concurrency}", run.wall_s, bound, floor_note(run.wall_s, floor))


def scenario_rate(args: argparse.Namespace) -> None:
    print(f"rate: simulator tier 1, latency ×{args.latency}, checks off, {args.tasks} tasks")
    with Simulator("1", args.latency, args.seed) as sim:
        concurrency = max(args.concurrency)
        run = run_in(sim.base_url, tier="1", tasks=args.tasks, concurrency=concurrency, checks=False)
        served = sim_stats(sim.base_url)
        tokens = ", ".join(f"{name} {count} output tokens" for name, count in sorted(run.output_by_class.items()))
        extra = (
            f"\n    {tokens}; 429s: {served.get('rate_limited', 0)} (audit trail {run.rate_limited}); "
            f"calls refused for max_tokens: {run.refused_for_max_tokens}"
        )
        report("rate", f"C={concurrency}", run.wall_s, rate_bound(run), extra)


SCENARIOS = {"calls": scenario_calls, "checks": scenario_checks, "rate": scenario_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="default: all three")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--latency", type=float, default=0.05, help="factor on the realistic latency (default 0.05)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in args.scenario or ["calls", "checks", "rate"]:
        if name != "calls" and args.concurrency == [1, 2, 4, 8]:
            args.concurrency = [4]
        started = time.monotonic()
        SCENARIOS[name](args)
        print(f"  ({timedelta(seconds=round(time.monotonic() - started))} for the scenario)")


if __name__ == "__main__":
    main()
