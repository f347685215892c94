"""kill -9 in the middle of a run, then ``masterplan resume``: the run finishes and no finished task is paid twice.

Everything is a real process: the simulator (``masterplan sim``), the run (``masterplan run``) and the
resume (``masterplan resume``), talking over HTTP and through one SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import masterplan
from masterplan.models import RunStatus
from masterplan.store import open_store

from .pipeline_helpers import REQUEST, SUBPROCESS_TIMEOUT_S, load_record, sim_requests, workspace_pytest

LATENCY = "0.005"
"""A two-hundredth of realistic latency: a task call takes a tenth of a second or so, so the kill may land in one."""
TASKS = 12
KILL_AFTER_COMPLETED = 3
SOURCE_ROOT = Path(masterplan.__file__).resolve().parents[1]


def _environment(home: Path, base_url: str | None = None) -> dict[str, str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(SOURCE_ROOT),  # the masterplan under test, wherever the command runs
        "MASTERPLAN_RATE_LIMIT_TIER": "none",
    }
    if base_url is not None:
        environment["MASTERPLAN_ANTHROPIC_API_KEY"] = "sim-key"
        environment["MASTERPLAN_ANTHROPIC_BASE_URL"] = base_url
    return environment


def _masterplan(*args: str) -> list[str]:
    return [sys.executable, "-m", "masterplan.cli", *args]


def _wait_for(condition: Any, what: str, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def sim_url(tmp_path: Path) -> Iterator[str]:
    """A ``masterplan sim`` process on a free port; its URL."""
    log = tmp_path / "sim.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            _masterplan("sim", "--port", "0", "--tier", "none", "--latency", LATENCY, "--seed", "0"),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=_environment(tmp_path),
            cwd=tmp_path,
        )
    try:
        marker = "masterplan simulator listening on "

        def listening() -> str | None:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.startswith(marker)]
            return lines[0].removeprefix(marker).strip() if lines else None

        yield _wait_for(listening, "the simulator to listen", timeout_s=30)
    finally:
        _stop(process)


def _task_statuses(database: Path) -> dict[str, str]:
    if not database.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return dict(connection.execute("SELECT task_id, status FROM tasks").fetchall())
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}


def _run_until_killed(
    tmp_path: Path, sim_url: str, database: Path, arguments: list[str], completed: int
) -> dict[str, str]:
    """``masterplan run ARGUMENTS`` in its own process, killed with SIGKILL once ``completed`` tasks completed;
    the task statuses the database held at the kill."""
    with (tmp_path / "run.log").open("wb") as output:
        run = subprocess.Popen(
            _masterplan("run", *arguments),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=_environment(tmp_path, sim_url),
            cwd=tmp_path,
        )
    try:
        _wait_for(
            lambda: list(_task_statuses(database).values()).count("completed") >= completed,
            f"{completed} completed tasks",
        )
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=30) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return _task_statuses(database)


def _resume(tmp_path: Path, sim_url: str, target: list[str]) -> None:
    """``masterplan resume`` in its own process; it must resume the one run and succeed."""
    resume = subprocess.run(
        _masterplan("resume", *target),
        env=_environment(tmp_path, sim_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    assert resume.returncode == 0, resume.stdout[-3000:] + resume.stderr[-3000:]
    assert "resuming 1 run(s)" in resume.stdout


def _sim_stats(sim_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{sim_url}/sim/stats", timeout=10) as response:
        stats: dict[str, Any] = orjson.loads(response.read())
    return stats


async def _record(database_url: str) -> Any:
    store = await open_store(database_url)
    try:
        async with store.transaction() as tx:
            (run,) = await tx.list_runs()
        return await load_record(store, run.id)
    finally:
        await store.close()


def test_run_killed_mid_execution_resumes_without_recalling_finished_tasks(tmp_path: Path, sim_url: str) -> None:
    database = tmp_path / "masterplan.db"
    database_url = f"sqlite://{database}"
    target = ["--db", database_url, "--workspace-root", str(tmp_path / "workspaces")]
    run_arguments = [REQUEST, "--tasks", str(TASKS), "--auto-answer", "--yes", *target]
    at_kill = _run_until_killed(tmp_path, sim_url, database, run_arguments, KILL_AFTER_COMPLETED)
    finished_before = {task_id for task_id, status in at_kill.items() if status == "completed"}
    assert KILL_AFTER_COMPLETED <= len(finished_before) < TASKS

    _resume(tmp_path, sim_url, target)

    record = asyncio.run(_record(database_url))
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    assert record.task_ids("completed") == set(at_kill)
    stats = _sim_stats(sim_url)
    asked = stats["requests_by_task"]
    assert all(asked[task_id] == 1 for task_id in finished_before), asked
    assert sum(count - 1 for count in asked.values()) <= 1, asked  # only the task in flight at the kill, if any
    # Each attempt is recorded as started before it is sent, so the kill leaves at most one abandoned row per
    # call in flight, whose request may or may not have reached the simulator: one task call (one slot) and one
    # phase summary, which runs beside the slot. Every answered call is in the audit trail.
    abandoned = [call for call in record.calls if call.outcome == "abandoned"]
    abandoned_by_phase = Counter(call.phase for call in abandoned)
    assert set(abandoned_by_phase) <= {"task_execution", "phase_summary"}, abandoned
    assert max(abandoned_by_phase.values(), default=0) <= 1, abandoned
    assert len(record.calls) - len(abandoned) <= sim_requests(stats) <= len(record.calls)
    result = workspace_pytest(Path(record.run.workspace))
    assert result.returncode == 0, result.stdout[-3000:]
