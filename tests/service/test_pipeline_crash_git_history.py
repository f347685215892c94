"""kill -9 at the awkward moments of a task's end, then a restart: the workspace's git history is whole.

The run is a real process (a small driver over ``open_service``) talking to the simulator of this test
over HTTP, with a SQLite file. It is killed with SIGKILL:

- while the last task's checks run (its files are in its view of the workspace, nothing of it is committed);
- when a task's completion is stored but its commit not made yet;
- when a task's commit is made but its ``task.committed`` event not written yet.

The last two are reached through ``git`` on the driver's PATH: a script that runs the real git and kills
its parent (the driver) at that moment. The restart runs in this process with the real git. Afterwards
each task has exactly one commit, holding its own files, and every task commit has its event.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

import masterplan
from masterplan.models import RunStatus
from masterplan.service.assembly import open_service
from masterplan.sim import SimulatorHandle

from .pipeline_helpers import QUICK_CHECKS, REQUEST, load_record, service_settings, simulator

SOURCE_ROOT = Path(masterplan.__file__).resolve().parents[1]
REAL_GIT = shutil.which("git") or "/usr/bin/git"
TASKS = 4
LAST_TASK_FILE = "task_service/models/task.py"
"""Written by T04, the last task of the simulator's four-task plan."""
HOLD = "hold"
"""A file the driver puts in the workspace (views copy it): while it is there, T04's check waits instead of passing."""
HOLD_CHECK = (
    "python -c \"import os, time; time.sleep(60 if os.path.exists('hold') and os.path.exists('"
    + LAST_TASK_FILE
    + "') else 0)\""
)
CHECKS = [*QUICK_CHECKS, HOLD_CHECK]
DOCUMENTS = {".gitignore", "DISCOVERY.md", "MASTERPLAN.md", "REPORT.md"}

DRIVER = """
import asyncio, sys
from pathlib import Path
from masterplan.config import Settings
from masterplan.models import RunOptions, RunRequest
from masterplan.service.assembly import open_service

async def main(base_url, database_url, workspace_root, request, tasks, *checks):
    settings = Settings(
        anthropic_api_key="sim-key", anthropic_base_url=base_url, database_url=database_url,
        workspace_root=workspace_root, rate_limit_tier="none",
    )
    async with open_service(settings) as service:
        options = RunOptions(tasks=int(tasks), auto_answer=True, approval="auto", checks=list(checks))
        run = await service.create(RunRequest(request=request, options=options))
        Path(run.workspace).mkdir(parents=True, exist_ok=True)
        (Path(run.workspace) / "hold").write_text("")
        await service.wait(run.id)

asyncio.run(main(*sys.argv[1:]))
"""

KILLING_GIT = """#!{python}
import os, signal, sqlite3, subprocess, sys, time

REAL, MODE, TASK, DATABASE = {real!r}, {mode!r}, {task!r}, {database!r}
args = sys.argv[1:]
message = args[args.index("-m") + 1] if "commit" in args and "-m" in args else ""
if not message.startswith(TASK + ":"):
    os.execv(REAL, [REAL, *args])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:  # the task's completion is durable first
    with sqlite3.connect(f"file:{{DATABASE}}?mode=ro", uri=True, timeout=5) as connection:
        row = connection.execute("SELECT status FROM tasks WHERE task_id = ?", (TASK,)).fetchone()
    if row is not None and row[0] == "completed":
        break
    time.sleep(0.01)
code = subprocess.run([REAL, *args]).returncode if MODE == "after_commit" else 1
os.kill(os.getppid(), signal.SIGKILL)
sys.exit(code)
"""


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    files: frozenset[str]


def git_log(workspace: Path) -> list[Commit]:
    """``git log --name-only``, oldest first."""
    output = subprocess.run(
        [REAL_GIT, "-C", str(workspace), "log", "--reverse", "--name-only", "--format=%x1e%H%x1f%s"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(workspace),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commits = []
    for entry in output.split("\x1e")[1:]:
        head, _, names = entry.partition("\n")
        sha, _, subject = head.partition("\x1f")
        commits.append(Commit(sha, subject, frozenset(line for line in names.splitlines() if line.strip())))
    return commits


def _status(database: Path, task_id: str) -> str | None:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    except sqlite3.OperationalError:  # no schema yet
        return None
    return None if row is None else str(row[0])


def _checking_last_task(root: Path) -> bool:
    """T04's files are in a view of the workspace (``<root>/.views/<run>/T04-<n>/``): its checks run."""
    return any((root / ".views").glob(f"*/T04-*/{LAST_TASK_FILE}"))


async def _run_until_killed(sim: SimulatorHandle, tmp_path: Path, kill_at: str) -> None:
    """Start the driver; SIGKILL it in its checks of T04, or let the git script kill it at T03's commit."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    database = tmp_path / "masterplan.db"
    if kill_at != "checks":
        script = bin_dir / "git"
        script.write_text(
            KILLING_GIT.format(python=sys.executable, real=REAL_GIT, mode=kill_at, task="T03", database=str(database))
        )
        script.chmod(0o755)
    with (tmp_path / "driver.log").open("wb") as log:
        driver = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            DRIVER,
            sim.base_url,
            f"sqlite://{database}",
            str(tmp_path / "ws"),
            REQUEST,
            str(TASKS),
            *CHECKS,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(SOURCE_ROOT)},
            cwd=tmp_path,
        )
    try:
        async with asyncio.timeout(120):
            if kill_at == "checks":
                while not (
                    _checking_last_task(tmp_path / "ws")
                    and await asyncio.to_thread(_status, database, "T04") == "running"
                ):
                    assert driver.returncode is None, (tmp_path / "driver.log").read_text()
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)  # well inside the check, which holds for a minute
                driver.send_signal(signal.SIGKILL)
            assert await driver.wait() == -signal.SIGKILL, (tmp_path / "driver.log").read_text()
    finally:
        if driver.returncode is None:
            driver.kill()
            await driver.wait()


@pytest.mark.parametrize("kill_at", ["checks", "before_commit", "after_commit"])
async def test_after_a_kill_each_task_has_one_commit_of_its_own_files_with_its_event(
    tmp_path: Path, kill_at: str
) -> None:
    async with simulator() as sim:
        await _run_until_killed(sim, tmp_path, kill_at)
        at_kill = {task_id: _status(tmp_path / "masterplan.db", task_id) for task_id in ("T01", "T02", "T03", "T04")}
        settings = service_settings(sim, f"sqlite://{tmp_path / 'masterplan.db'}", tmp_path / "ws")
        async with open_service(settings) as service:
            (run_id,) = await service.resume_unfinished()
            await service.wait(run_id)
            record = await load_record(service.store, run_id)

    assert at_kill == {"T01": "completed", "T02": "completed", "T03": "completed", "T04": at_kill["T04"]}
    assert at_kill["T04"] != "completed"
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    workspace = Path(record.run.workspace)
    commits = git_log(workspace)
    by_subject = Counter(commit.subject for commit in commits)
    for task in record.tasks:
        assert task.output is not None
        subject = f"{task.task_id}: {task.definition.title}"
        assert by_subject[subject] == 1, [commit.subject for commit in commits]
        (own,) = [commit for commit in commits if commit.subject == subject]
        assert own.files == {file.path for file in task.output.files}, own
    task_commits = [commit for commit in commits if not commit.subject.startswith("masterplan: ")]
    assert len(task_commits) == TASKS, [commit.subject for commit in commits]
    assert [commit.subject for commit in commits if commit.subject.startswith("masterplan: ")] == [
        "masterplan: discovery, plan and report"
    ]
    assert commits[-1].files <= DOCUMENTS
    assert not (workspace / HOLD).exists()

    events = record.events_of("task.committed")
    assert Counter(event.data["commit"] for event in events) == Counter(commit.sha for commit in task_commits)
    for commit in task_commits:
        (event,) = [event for event in events if event.data["commit"] == commit.sha]
        assert commit.subject.startswith(f"{event.data['task_id']}: ")
