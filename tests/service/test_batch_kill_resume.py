"""kill -9 while a batch-mode run waits for its Message Batch, then ``masterplan resume`` (issue 14).

The resumed run polls the batch the killed one created: no second batch is created for the same
calls and the simulator answers no request twice. Real processes throughout: ``masterplan sim``,
``masterplan run --batch``, ``masterplan resume``, one SQLite file.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from masterplan.models import RunStatus

from .pipeline_helpers import REQUEST
from .test_pipeline_kill_resume import _environment, _masterplan, _record, _resume, _sim_stats, _stop, _wait_for

TASKS = 12
BATCH_SECONDS = "2"
"""Long enough for the kill to land while the run waits, short enough for the test to stay quick."""
POLLING = {
    "MASTERPLAN_BATCH_POLL_INITIAL_S": "0.2",
    "MASTERPLAN_BATCH_POLL_MAX_S": "0.4",
    "MASTERPLAN_BATCH_GATHER_S": "0.1",
}


@pytest.fixture
def sim_url(tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "sim.log"
    arguments = ["sim", "--port", "0", "--tier", "none", "--latency", "none", "--seed", "0"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            _masterplan(*arguments, "--batch-seconds", BATCH_SECONDS),
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


def _waiting_on_tasks(database: Path) -> list[str] | None:
    """The batches in progress when the run waits for one carrying task calls and is creating none, else None.

    "Creating none": no attempt is started without its batch's id yet (the moment between the API creating a
    batch and its id being committed, which a kill would lose)."""
    if not database.exists():
        return None
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            completed = connection.execute("SELECT COUNT(*) FROM tasks WHERE status = 'completed'").fetchone()[0]
            unsent = connection.execute(
                "SELECT COUNT(*) FROM llm_calls "
                "WHERE outcome = 'started' AND custom_id IS NOT NULL AND batch_id IS NULL"
            ).fetchone()[0]
            waiting = connection.execute(
                "SELECT DISTINCT b.id FROM batches b JOIN llm_calls c ON c.batch_id = b.id "
                "WHERE b.status = 'in_progress' AND c.phase = 'task_execution' AND c.outcome = 'started'"
            ).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return None
    if completed >= 1 and unsent == 0 and waiting:
        return [row[0] for row in waiting]
    return None


def test_a_run_killed_while_its_batch_is_processed_polls_the_same_batch_after_resume(
    tmp_path: Path, sim_url: str
) -> None:
    database = tmp_path / "masterplan.db"
    database_url = f"sqlite://{database}"
    target = ["--db", database_url, "--workspace-root", str(tmp_path / "workspaces")]
    environment = {**_environment(tmp_path, sim_url), **POLLING}
    arguments = [REQUEST, "--tasks", str(TASKS), "--auto-answer", "--yes", "--batch", "--no-checks", *target]
    with (tmp_path / "run.log").open("wb") as output:
        run = subprocess.Popen(
            _masterplan("run", *arguments), stdout=output, stderr=subprocess.STDOUT, env=environment, cwd=tmp_path
        )
    try:
        waited_on = _wait_for(lambda: _waiting_on_tasks(database), "the run to wait for a batch of tasks")
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=30) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    created_at_kill = _sim_stats(sim_url)["batches"]["created"]

    _resume(tmp_path, sim_url, target)

    record = asyncio.run(_record(database_url))
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    assert len(record.task_ids("completed")) == TASKS
    stats = _sim_stats(sim_url)
    # Each batch the simulator created is one the store knows; the one in flight at the kill was polled, not re-sent.
    batch_ids = {call.batch_id for call in record.calls}
    assert stats["batches"]["created"] == len(batch_ids)
    assert stats["batches"]["created"] > created_at_kill  # the resumed run went on with batches of its own
    in_flight = [call for call in record.calls if call.batch_id in waited_on]
    assert in_flight
    assert all(call.outcome == "ok" for call in in_flight), in_flight
    # No request was answered twice: one request per task, one answer per call.
    assert set(stats["requests_by_task"].values()) == {1}, stats["requests_by_task"]
    assert stats["batches"]["requests_by_result"]["succeeded"] == len(record.calls)
    assert len({call.custom_id for call in record.calls}) == len(record.calls)
