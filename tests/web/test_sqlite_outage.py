"""A SQLite database that cannot be written in the middle of a run heals by itself: 503 meanwhile, the run goes on.

The outage is the test's own: the database file, its WAL and their directory are
made immutable (``chattr +i``) and then made writable again. Unlike ``chmod``,
which only affects files opened later and which root ignores, an immutable file
refuses writes through descriptors that are already open (ext4 checks it on every
write), so the service's open connections really fail (SQLite's "disk I/O error",
then "attempt to write a readonly database" once it opens them again). The ``-shm``
file is left alone: SQLite maps it into memory, and a write to a mapped page of an
immutable file would kill the process with SIGBUS rather than fail.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from types import TracebackType

import pytest

from .test_store_outage import answers_during, first_completed_task
from .web_helpers import TERMINAL, run_body, served

OUTAGE_S = 3.0
SETTLING_S = 1.0
"""Time for the call in flight at the outage to come back; after it, no call may leave until the file is writable."""
TASKS = 4


class Unwritable:
    """Makes files immutable and then writable again; leaving the ``with`` block always makes them writable."""

    def __init__(self, *paths: Path) -> None:
        self.paths = [str(path) for path in paths]

    def __enter__(self) -> Unwritable:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.restore()

    def make(self) -> None:
        subprocess.run(["chattr", "+i", *self.paths], check=True, capture_output=True)

    def restore(self) -> None:
        subprocess.run(["chattr", "-i", *self.paths], check=True, capture_output=True)


def immutable_files_block_open_descriptors(directory: Path) -> str | None:
    """Why ``chattr +i`` cannot stage the outage here (no tool, no CAP_LINUX_IMMUTABLE, a file system that
    keeps open descriptors writable); None when it can."""
    probe = directory / "probe"
    probe.write_bytes(b"")
    try:
        with probe.open("ab", buffering=0) as opened:
            try:
                Unwritable(probe).make()
            except subprocess.CalledProcessError as error:
                return f"chattr +i is not possible here: {error.stderr.decode().strip()}"
            except OSError as error:
                return f"chattr is not installed: {error}"
            try:
                opened.write(b"x")
            except PermissionError:
                return None
            finally:
                Unwritable(probe).restore()
            return "an immutable file stays writable through a descriptor opened before"
    finally:
        probe.unlink()


def recorded_calls(database: Path, run_id: str) -> list[tuple[str, str | None, str]]:
    """(phase, task id, outcome) of every call in the run's audit trail."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT phase, task_id, outcome FROM llm_calls WHERE run_id = ?", (run_id,))
        calls = [(phase, task, outcome) for phase, task, outcome in rows]
    connection.close()
    return calls


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_an_unwritable_sqlite_file_mid_run_answers_503_and_the_run_completes_by_itself_without_repeating_a_task(
    tmp_path: Path, concurrency: int, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "database"
    directory.mkdir()
    problem = immutable_files_block_open_descriptors(directory)
    if problem is not None:
        pytest.skip(problem)
    database = directory / "masterplan.db"
    async with served(tmp_path, latency=0.01, database_url=f"sqlite://{database}") as app:
        run_id = (await app.start_run(tasks=TASKS, concurrency=concurrency))["id"]
        await first_completed_task(app, run_id)
        # The WAL takes the writes, so it must refuse them too; the directory, so no file takes its place.
        with Unwritable(database, Path(f"{database}-wal"), directory) as outage:
            outage.make()
            async with app.http.get("/ready") as response:  # its probe rewrites a page: it fails at once
                ready_at_once = (response.status, await response.json())
            paths = [f"/runs/{run_id}", "/ready"]
            settling = await answers_during(app, SETTLING_S, paths)
            sent_after_the_outage_began = sum(app.sim.stats()["requests_by_role"].values())  # the call in flight
            answers = await answers_during(app, OUTAGE_S - SETTLING_S, paths)
            async with app.http.post("/runs", json=run_body(1)) as response:
                new_run = (response.status, await response.json(), response.headers.get("Retry-After"))
            sent_by_the_end = sum(app.sim.stats()["requests_by_role"].values())

        run = await app.wait_for_status(run_id, TERMINAL, timeout_s=120)
        events = await app.events(run_id)
        stats = app.sim.stats()

    assert run["status"] == "completed", run["error"]
    assert run["tasks"]["completed"] == TASKS
    assert ready_at_once[0] == 503, ready_at_once
    assert ready_at_once[1]["status"] == "not ready"
    # Until a write fails, a connection opened before the outage still reads; from the first failed write on,
    # every answer is a 503.
    assert {status for status, _, _ in settling} <= {200, 503}, settling
    assert {status for status, _, _ in answers} == {503}, answers
    refusals = [(body, retry_after) for _, body, retry_after in answers if "error" in body]
    assert refusals
    assert all(retry_after is not None and int(retry_after) > 0 for _, retry_after in refusals), refusals
    assert all(f"SQLite database {database} cannot be written" in body["error"]["message"] for body, _ in refusals)
    ready = [body for _, body, _ in answers if "reason" in body]
    assert ready
    assert all(body["status"] == "not ready" and f"SQLite database {database}" in body["reason"] for body in ready)
    status, body, retry_after = new_run
    assert status == 503, body
    assert f"SQLite database {database} cannot be written" in body["error"]["message"]
    assert retry_after is not None
    assert int(retry_after) > 0
    assert sent_by_the_end == sent_after_the_outage_began, "an LLM call was sent while the store was unwritable"
    assert any(event["type"] == "run.store_recovered" for event in events)
    lost = [record for record in caplog.records if "exception was never retrieved" in record.getMessage()]
    assert not lost, "a background commit's error was lost instead of reaching the run's driver"
    completed = Counter(event["data"]["task_id"] for event in events if event["type"] == "task.completed")
    committed = Counter(event["data"]["task_id"] for event in events if event["type"] == "task.committed")
    assert len(completed) == TASKS
    assert completed == committed == dict.fromkeys(completed, 1), (completed, committed)
    assert all(count == 1 for count in stats["requests_by_task"].values()), stats["requests_by_task"]
    calls = recorded_calls(database, run_id)
    assert len(calls) == sum(stats["requests_by_role"].values()), "a call the simulator answered is not recorded"
    developer_calls = Counter(task for phase, task, outcome in calls if phase == "task_execution" and outcome == "ok")
    assert developer_calls == dict.fromkeys(stats["requests_by_task"], 1)
