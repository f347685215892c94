"""Helpers of the pipeline tests: a simulator, a service wired to it, and what a finished run left behind.

Everything is real: the anthropic SDK talks to the simulator over HTTP on 127.0.0.1, the store is a
SQLite file or a PostgreSQL database, the workspace is a directory checked by pytest and git in
subprocesses.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masterplan.config import Settings
from masterplan.models import Artifact, Event, LLMCallRecord, Run, RunOptions, RunRequest, TaskState
from masterplan.service.events import Subscription
from masterplan.service.runs import RunService
from masterplan.sim import SimConfig, SimulatorHandle, running_simulator
from masterplan.store import Store

REQUEST = "A task-tracking API with users, projects and comments"
WORKSPACE_PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio")
SUBPROCESS_TIMEOUT_S = 180.0
QUICK_CHECKS = ["python -m compileall -q ."]
"""A real check command at a tenth of pytest's cost, for tests about running a run rather than the code it makes.
The per-task pytest checks take nine tenths of a run's time; the tests about the code keep them."""


@asynccontextmanager
async def simulator(**config: Any) -> AsyncIterator[SimulatorHandle]:
    """The simulator on an ephemeral port, no rate limits and no latency unless asked."""
    options: dict[str, Any] = {"port": 0, "tier": "none", "latency": "none", "seed": 0, **config}
    async with running_simulator(SimConfig(**options)) as handle:
        yield handle


def service_settings(sim: SimulatorHandle, database_url: str, workspace_root: Path, **overrides: Any) -> Settings:
    return Settings(
        anthropic_api_key="sim-key",
        anthropic_base_url=sim.base_url,
        database_url=database_url,
        workspace_root=workspace_root,
        rate_limit_tier="none",
        **overrides,
    )


def sim_requests(stats: dict[str, Any]) -> int:
    """Requests that reached the simulator's model: answered with any status, or dropped midway."""
    return int(sum(stats["requests_by_status"].values()) + stats["faults"].get("disconnect", 0))


def run_request(tasks: int, **options: Any) -> RunRequest:
    return RunRequest(
        request=REQUEST, options=RunOptions(tasks=tasks, **{"auto_answer": True, "approval": "auto", **options})
    )


@dataclass(frozen=True)
class RunRecord:
    """Everything the store holds about one run."""

    run: Run
    tasks: list[TaskState]
    calls: list[LLMCallRecord]
    events: list[Event]
    artifacts: dict[str, Artifact]
    prompt_versions: set[tuple[str, int]]

    def events_of(self, type_: str) -> list[Event]:
        return [event for event in self.events if event.type == type_]

    def task_ids(self, status: str) -> set[str]:
        return {task.task_id for task in self.tasks if task.status.value == status}


async def load_record(store: Store, run_id: str) -> RunRecord:
    async with store.transaction() as tx:
        run = await tx.require_run(run_id)
        tasks = await tx.list_tasks(run_id)
        calls = await tx.list_llm_calls(run_id)
        events = await tx.events_after(run_id)
        artifacts = {artifact.name: artifact for artifact in await tx.list_artifacts(run_id)}
        versions: set[tuple[str, int]] = set()
        for prompt in await tx.list_prompts():
            versions |= {(old.name, old.version) for old in await tx.list_prompt_versions(prompt.name)}
    return RunRecord(run, tasks, calls, events, artifacts, versions)


async def next_event(subscription: Subscription, wanted: Callable[[Event], bool], timeout_s: float = 60.0) -> Event:
    """The first event from ``subscription`` that ``wanted`` accepts."""
    async with asyncio.timeout(timeout_s):
        while True:
            event = await subscription.get()
            if wanted(event):
                return event


async def until_completed_tasks(service: RunService, run_id: str, count: int) -> None:
    """Returns once ``count`` tasks of the run have completed (as the event bus reports them)."""
    with service.bus.subscribe(run_id) as subscription:
        async with service.store.transaction() as tx:
            done = sum(1 for task in await tx.list_tasks(run_id) if task.status.value == "completed")
        while done < count:
            await next_event(subscription, lambda event: event.type == "task.completed")
            done += 1


async def until_requested(sim: SimulatorHandle, task_id: str, timeout_s: float = 60.0) -> None:
    """Returns once the simulator has received a request for the task (its answer may still be on the way)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if task_id in sim.stats()["requests_by_task"]:
                return
            await asyncio.sleep(0.01)


def _clean_environment(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def workspace_pytest(workspace: Path) -> subprocess.CompletedProcess[str]:
    """The generated project's own test suite, run the way a user would run it."""
    return subprocess.run(
        [sys.executable, *WORKSPACE_PYTEST],
        cwd=workspace,
        env=_clean_environment(workspace),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


def git_subjects(workspace: Path) -> list[str]:
    """Subjects of the workspace's commits, oldest first."""
    result = subprocess.run(
        ["git", "-C", str(workspace), "log", "--reverse", "--format=%s"],
        env={**_clean_environment(workspace), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=True,
    )
    return result.stdout.splitlines()


def markdown_rows(report: str, heading: str) -> list[dict[str, str]]:
    """The rows of the first table under ``## heading``, each a mapping of column header to stripped cell."""
    lines = report.splitlines()
    start = lines.index(f"## {heading}") + 1
    rows: list[list[str]] = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, _rule, *body = rows
    assert all(len(row) == len(header) for row in body), f"ragged table under {heading!r}"
    return [dict(zip(header, row, strict=True)) for row in body]


def summary_cells(report: str) -> dict[str, str]:
    """The key/value table at the top of REPORT.md."""
    cells: dict[str, str] = {}
    for line in report.splitlines():
        if line.startswith("## "):
            break
        if line.startswith("| ") and line.count("|") == 3:
            key, value = (cell.strip() for cell in line.strip().strip("|").split("|"))
            cells[key] = value
    return cells


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``root`` with its size and modification time."""
    snapshot: dict[str, tuple[int, int]] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            stat = path.lstat()
            snapshot[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return snapshot
