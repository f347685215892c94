"""How a run's end is told: the status of a run with failed tasks, attempt counts, and the report of a failed run.

Real parts throughout: the aiohttp app on a socket with its service and SQLite store, the simulator
behind the anthropic SDK, ``masterplan`` commands as subprocesses.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from masterplan.models import InvalidTransition, Run, RunOptions, RunStatus
from masterplan.service.runs import RunService
from masterplan.store import open_store
from masterplan.web.app import create_app, running_app
from masterplan.web.keys import SERVICE

from .pipeline_helpers import (
    QUICK_CHECKS,
    load_record,
    markdown_rows,
    run_request,
    service_settings,
    simulator,
    summary_cells,
)

REFUSE_BASE_PY = (
    "python -c \"import pathlib, sys; sys.exit(any(p.name == 'base.py' for p in pathlib.Path('.').rglob('*.py')))\""
)
"""A check that fails while a file named base.py exists: the task that writes one (T03 of the simulator's
six-task plan, the repository base) fails its checks every time, and the tasks that depend on it are skipped."""
MASTERPLAN = [sys.executable, "-m", "masterplan.cli"]


@dataclass
class App:
    url: str
    service: RunService
    http: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.http.get(path) as response:
            assert response.status == 200, await response.text()
            return orjson.loads(await response.read()) if response.content_type == "application/json" else None

    async def text(self, path: str) -> str:
        async with self.http.get(path) as response:
            assert response.status == 200
            return await response.text()


@asynccontextmanager
async def served(tmp_path: Path, settings: dict[str, Any] | None = None, **sim_options: Any) -> AsyncIterator[App]:
    async with simulator(**sim_options) as sim:
        app = create_app(
            service_settings(sim, f"sqlite://{tmp_path / 'masterplan.db'}", tmp_path / "ws", **(settings or {}))
        )
        async with running_app(app, host="127.0.0.1", port=0) as url, aiohttp.ClientSession(url) as http:
            yield App(url, app[SERVICE], http)


async def test_a_run_with_failed_and_skipped_tasks_is_completed_with_failures_everywhere(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        # Created through the service: custom check commands are for the CLI and trusted callers.
        run = await app.service.create(run_request(6, checks=[*QUICK_CHECKS, REFUSE_BASE_PY]))
        await app.service.wait(run.id)
        view = await app.get(f"/runs/{run.id}")
        metrics = await app.text("/metrics")
        report = await app.text(f"/runs/{run.id}/artifacts/REPORT.md")
        watch = await asyncio.create_subprocess_exec(
            *MASTERPLAN,
            "watch",
            run.id,
            "--server",
            app.url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(watch.communicate(), timeout=120)

    assert view["status"] == "completed_with_failures"
    assert view["error"] == "1 task failed (T03); 2 tasks skipped (T05, T06)"
    assert view["tasks"]["completed"] == 3
    assert 'masterplan_runs_finished_total{status="completed_with_failures"} 1.0' in metrics
    assert 'masterplan_runs_finished_total{status="completed"} 0.0' in metrics
    assert summary_cells(report)["status"].startswith("**completed_with_failures**")
    shown = output.decode()
    assert f"run {run.id} completed_with_failures" in shown, shown
    assert "problems: 1 task failed (T03); 2 tasks skipped (T05, T06)" in shown
    assert watch.returncode == 1


async def test_a_task_s_attempts_count_every_answer_it_asked_for(tmp_path: Path) -> None:
    # Unparsable answers need a model without structured outputs.
    async with served(tmp_path, {"structured_outputs": False}, seed=5, faults="malformed_json=0.3") as app:
        run = await app.service.create(run_request(4, checks=QUICK_CHECKS))
        await app.service.wait(run.id)
        api_tasks = {task["task_id"]: task for task in await app.get(f"/runs/{run.id}/tasks")}
        record = await load_record(app.service.store, run.id)

    assert record.run.status is RunStatus.COMPLETED, record.run.error
    calls = Counter(
        event.data["task_id"] for event in record.events_of("llm.call") if event.data["phase"] == "task_execution"
    )
    assert max(calls.values()) >= 2, calls  # the seed gives some task an unparsable first answer
    completed = {event.data["task_id"]: event.data["attempts"] for event in record.events_of("task.completed")}
    report = {
        row["task"].strip("`"): int(row["attempts"])
        for row in markdown_rows(record.artifacts["REPORT.md"].content, "Tasks")
    }
    for task in record.tasks:
        assert task.attempts == calls[task.task_id], task.task_id
        assert completed[task.task_id] == task.attempts
        assert report[task.task_id] == task.attempts
        assert api_tasks[task.task_id]["attempts"] == task.attempts


def test_a_failed_run_writes_its_report_where_the_cli_says(tmp_path: Path) -> None:
    command = subprocess.run(
        [
            *MASTERPLAN,
            "run",
            "A task-tracking API",
            "--auto-answer",
            "--yes",
            "--sim",
            "--budget",
            "0.01",
            "--db",
            f"sqlite://{tmp_path / 'masterplan.db'}",
            "--workspace-root",
            str(tmp_path / "ws"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    shown = command.stdout + command.stderr
    assert command.returncode == 1, shown
    assert " budget_exceeded: " in shown, shown
    (line,) = [line for line in shown.splitlines() if line.startswith("report: ")]
    report = Path(line.removeprefix("report: "))
    assert report.parent.parent == tmp_path / "ws"
    cells = summary_cells(report.read_text(encoding="utf-8"))
    assert cells["status"].startswith("**budget_exceeded** — budget exceeded: the run's budget is $0.01")


async def test_a_run_completed_with_failures_is_finished_for_the_store_and_cannot_move(database_url: str) -> None:
    store = await open_store(database_url, migrate=True)
    try:
        async with store.transaction() as tx:
            await tx.insert_run(Run(id="r1", request="x", options=RunOptions(), budget_usd=Decimal(1), workspace="/w"))
            for status in (RunStatus.DISCOVERING, RunStatus.PLANNING, RunStatus.EXECUTING):
                await tx.transition_run("r1", status)
            with pytest.raises(InvalidTransition):
                Run(id="r2", request="x", options=RunOptions(), budget_usd=Decimal(1), workspace="/w").transition(
                    RunStatus.COMPLETED_WITH_FAILURES
                )
            run, _ = await tx.transition_run("r1", RunStatus.COMPLETED_WITH_FAILURES, error="1 task failed (T03)")
        async with store.transaction() as tx:
            assert await tx.list_unfinished_runs() == []
            stored = await tx.require_run("r1")
    finally:
        await store.close()
    assert stored.status is RunStatus.COMPLETED_WITH_FAILURES
    assert stored.status.is_terminal
    assert stored.error == "1 task failed (T03)"
    with pytest.raises(InvalidTransition):
        run.transition(RunStatus.COMPLETED)
