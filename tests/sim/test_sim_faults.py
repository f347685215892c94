"""Fault injection: each kind at its configured rate, reproducible for a seed, validated specs."""

from __future__ import annotations

import argparse
import asyncio
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import anthropic
import orjson
import pytest
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, StartSim, sdk_client, system_for, user_blocks

from masterplan import models
from masterplan.sim import (
    FAULT_KINDS,
    FaultSpecError,
    SimConfig,
    add_sim_arguments,
    parse_fault_spec,
    sim_config_from_args,
)
from masterplan.sim.faults import BATCH_FAULT_KINDS

REQUESTS = 120
RATE = 0.25
TASK = {
    "task_id": "T05", "title": "Book entity", "description": "the book", "phase": "domain", "milestone": "m-domain",
    "complexity": "medium", "task_type": "model",
    "files": ["library_service/models/book.py", "tests/test_book_model.py"],
}  # fmt: skip


def plan_request(n: int) -> dict[str, Any]:
    tail = f"<request>Track books, members and loans (variant {n})</request><target_tasks>12</target_tasks>"
    return {
        "model": STRONG_MODEL, "max_tokens": 16000, "system": system_for("MasterPlan"),
        "messages": [{"role": "user", "content": user_blocks(tail=tail)}],
    }  # fmt: skip


def task_request(n: int) -> dict[str, Any]:
    tail = f"<request>Track books (variant {n})</request><task>{orjson.dumps(TASK).decode()}</task>"
    return {
        "model": FAST_MODEL, "max_tokens": 16000, "system": system_for("TaskOutput"),
        "messages": [{"role": "user", "content": user_blocks(tail=tail)}],
    }  # fmt: skip


REPOSITORY_MAP = (
    "repository: demo (3 tracked files)\ntest command: python -m pytest (from test files (test_*.py))\nfiles:\n"
    "  demo/__init__.py\n  demo/core.py\n    def double(value: int) -> int: Twice the value.\n"
    "    def triple(value: int) -> int\n  tests/test_core.py\n    def test_double() -> None\n"
)
CORE = (
    'def double(value: int) -> int:\n    """Twice the value."""\n    if value < 0:\n        raise ValueError(value)\n'
    "    return 2 * value\n\n\ndef triple(value: int) -> int:\n    if value < 0:\n        raise ValueError(value)\n"
    "    return 3 * value\n"
)
EDIT_TASK = {
    "task_id": "T02", "title": "an addition to demo.core", "description": "appended", "phase": "change",
    "milestone": "m-change", "complexity": "low", "task_type": "other",
    "files": ["demo/core.py", "tests/test_core_extra.py"],
}  # fmt: skip


def edit_request(n: int) -> dict[str, Any]:
    """A task of a repository run whose answer edits demo/core.py (shown in ``<current_files>``)."""
    project = (
        f"<project>\n<request>Add a report of the values (variant {n})</request>\n"
        f"<repository_map>\n{REPOSITORY_MAP}\n</repository_map>\n</project>"
    )
    tail = (
        f"<task>{orjson.dumps(EDIT_TASK).decode()}</task>\n"
        f'<current_files>\n<file path="demo/core.py">\n{CORE}\n</file>\n</current_files>'
    )
    return {
        "model": FAST_MODEL, "max_tokens": 16000, "system": system_for("TaskOutput"),
        "messages": [{"role": "user", "content": user_blocks(project, tail=tail)}],
    }  # fmt: skip


def request_for(kind: str, n: int) -> dict[str, Any]:
    if kind.startswith("plan_"):
        return plan_request(n)
    if kind == "edit_miss":
        return edit_request(n)
    if kind in ("syntax_error", "failing_tests", "path_escape"):
        return task_request(n)
    return plan_request(n) if n % 2 else task_request(n)


async def outcome(client: AsyncAnthropic, body: dict[str, Any]) -> str:
    """What a caller saw: an error class or status, or the answer's text."""
    try:
        message = await client.messages.create(**body)
    except anthropic.APIStatusError as error:
        return f"status {error.status_code}"
    except anthropic.APIConnectionError:
        return "connection error"
    text = message.content[0].text if message.content[0].type == "text" else ""
    return f"{message.stop_reason}:{text}"


def tolerance(n: int, rate: float) -> float:
    return 3 * math.sqrt(n * rate * (1 - rate))


@pytest.mark.parametrize("kind", [kind for kind in FAULT_KINDS if kind not in BATCH_FAULT_KINDS])
async def test_each_fault_kind_is_produced_at_its_configured_rate(start_sim: StartSim, kind: str) -> None:
    async with start_sim(faults={kind: RATE}, seed=7, slow_seconds=0.0) as sim, sdk_client(sim) as client:
        outcomes = [await outcome(client, request_for(kind, n)) for n in range(REQUESTS)]
        produced = sim.stats()["faults"].get(kind, 0)
    assert abs(produced - REQUESTS * RATE) <= tolerance(REQUESTS, RATE)
    assert_visible(kind, outcomes, produced)


def assert_visible(kind: str, outcomes: list[str], produced: int) -> None:
    """The fault shows the way a client would notice it."""
    texts = [o.split(":", 1)[1] for o in outcomes if not o.startswith(("status", "connection"))]
    checks: dict[str, Callable[[], int]] = {
        "overloaded": lambda: sum(o == "status 529" for o in outcomes),
        "server_error": lambda: sum(o == "status 500" for o in outcomes),
        "disconnect": lambda: sum(o == "connection error" for o in outcomes),
        "slow": lambda: produced,
        "prose_json": lambda: sum(t.startswith("Sure!") for t in texts),
        "fenced_json": lambda: sum(t.startswith("```json\n") and t.endswith("\n```") for t in texts),
        "malformed_json": lambda: sum(not parses(t) for t in texts),
        "truncated": lambda: sum(o.startswith("max_tokens:") for o in outcomes),
        "plan_cycle": lambda: sum(has_cycle(t) for t in texts),
        "plan_unknown_dep": lambda: sum(has_unknown_dependency(t) for t in texts),
        "syntax_error": lambda: sum(has_syntax_error(t) for t in texts),
        "failing_tests": lambda: sum("assert sum(totals) == 7" in t for t in texts),
        "path_escape": lambda: sum(escapes(t) for t in texts),
        "edit_miss": lambda: sum(edit_misses(t) for t in texts),
        "refusal": lambda: sum(o.startswith("refusal:") and not parses(o.split(":", 1)[1]) for o in outcomes),
    }
    assert checks[kind]() == produced


def parses(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def has_cycle(text: str) -> bool:
    plan = models.MasterPlan.model_validate_json(text)
    depends = {task.task_id: task.depends_on for task in plan.tasks}
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        if state.get(node) == 1:
            return True
        if state.get(node) == 2 or node not in depends:
            return False
        state[node] = 1
        found = any(visit(dep) for dep in depends[node])
        state[node] = 2
        return found

    return any(visit(task_id) for task_id in depends)


def has_unknown_dependency(text: str) -> bool:
    plan = models.MasterPlan.model_validate_json(text)
    ids = {task.task_id for task in plan.tasks}
    return any(dep not in ids for task in plan.tasks for dep in task.depends_on)


def has_syntax_error(text: str) -> bool:
    output = models.TaskOutput.model_validate_json(text)
    for file in output.files:
        if file.path.endswith(".py"):
            try:
                compile(file.content, file.path, "exec")
            except SyntaxError:
                return True
    return False


def edit_misses(text: str) -> bool:
    output = models.TaskOutput.model_validate_json(text)
    return CORE.count(output.edits[0].search) != 1


def escapes(text: str) -> bool:
    output = models.TaskOutput.model_validate_json(text)
    return any(file.path.startswith(("../", "/")) for file in output.files)


async def test_without_faults_every_answer_is_valid_for_its_schema(start_sim: StartSim) -> None:
    async with start_sim(seed=3) as sim, sdk_client(sim) as client:
        for n in range(6):
            plan = models.MasterPlan.model_validate_json((await outcome(client, plan_request(n))).split(":", 1)[1])
            output = models.TaskOutput.model_validate_json((await outcome(client, task_request(n))).split(":", 1)[1])
            assert not has_cycle(plan.model_dump_json())
            assert all(not file.path.startswith(("../", "/")) for file in output.files)
        assert sim.stats()["faults"] == {}


ALL_FAULTS = (
    "overloaded=0.1,server_error=0.05,disconnect=0.05,slow=0.1,prose_json=0.1,fenced_json=0.1,malformed_json=0.1,"
    "truncated=0.05,plan_cycle=0.3,plan_unknown_dep=0.2,syntax_error=0.1,failing_tests=0.1,path_escape=0.05"
)


async def run_outcomes(start_sim: StartSim, seed: int, *, concurrent: bool) -> dict[int, str]:
    async with start_sim(faults=ALL_FAULTS, seed=seed, slow_seconds=0.0) as sim, sdk_client(sim) as client:
        bodies = [request_for("mixed", n) for n in range(40)]
        if concurrent:
            results = await asyncio.gather(*(outcome(client, body) for body in reversed(bodies)))
            return dict(zip(reversed(range(40)), results, strict=True))
        return {n: await outcome(client, body) for n, body in enumerate(bodies)}


async def test_faults_are_reproducible_for_a_seed_whatever_the_arrival_order(start_sim: StartSim) -> None:
    sequential = await run_outcomes(start_sim, seed=11, concurrent=False)
    concurrent = await run_outcomes(start_sim, seed=11, concurrent=True)
    other_seed = await run_outcomes(start_sim, seed=12, concurrent=False)
    assert sequential == concurrent
    assert sequential != other_seed


async def test_a_retried_identical_request_draws_again(start_sim: StartSim) -> None:
    async with start_sim(faults="overloaded=0.5", seed=5) as sim, sdk_client(sim) as client:
        outcomes = Counter([(await outcome(client, plan_request(0))).split(":")[0] for _ in range(20)])
    assert set(outcomes) == {"status 529", "end_turn"}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("overloaded=0.1,teleport=0.2", "unknown fault kind 'teleport'"),
        ("overloaded=1.5", "outside [0, 1]"),
        ("overloaded=-0.1", "outside [0, 1]"),
        ("overloaded", "has no rate"),
        ("overloaded=often", "not a number"),
        ("overloaded=0.6,server_error=0.5", "must add up to at most 1"),
    ],
)
def test_a_bad_fault_spec_is_a_clear_error(spec: str, problem: str) -> None:
    with pytest.raises(FaultSpecError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_fault_spec(spec)


def test_the_command_line_flags_build_a_config() -> None:
    parser = argparse.ArgumentParser()
    add_sim_arguments(parser)
    config = sim_config_from_args(
        parser.parse_args(["--port", "9000", "--tier", "none", "--latency", "realistic", "--faults", ALL_FAULTS])
    )
    assert config == SimConfig(port=9000, tier="none", latency=1.0, faults=parse_fault_spec(ALL_FAULTS))
    assert sim_config_from_args(parser.parse_args(["--edit-style", "rewrite"])).edit_style == "rewrite"
    with pytest.raises(ValueError, match="--faults: unknown fault kind"):
        sim_config_from_args(parser.parse_args(["--faults", "nope=0.1"]))
    with pytest.raises(ValueError, match="--latency"):
        sim_config_from_args(parser.parse_args(["--latency", "fast"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--tier", "5"])
