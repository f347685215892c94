"""concurrency=3: each completed task is still its own commit, holding its own files and no other task's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .conftest import FinishedRun


def _files_by_commit(workspace: Path) -> dict[str, set[str]]:
    """Subject of each commit -> the paths it changed."""
    log = subprocess.run(
        ["git", "-C", str(workspace), "log", "--name-only", "--format=%x00%s"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workspace), "GIT_CONFIG_GLOBAL": os.devnull},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commits: dict[str, set[str]] = {}
    for entry in log.split("\0")[1:]:
        subject, *paths = entry.strip().splitlines()
        commits[subject] = {path for path in paths if path}
    return commits


def test_each_task_run_side_by_side_is_its_own_commit(concurrent_run: FinishedRun) -> None:
    commits = _files_by_commit(concurrent_run.workspace)
    for task in concurrent_run.record.tasks:
        subject = f"{task.task_id}: {task.definition.title}"
        assert subject in commits, f"{task.task_id} has no commit of its own; commits: {sorted(commits)}"
        assert task.output is not None
        own = {file.path for file in task.output.files} | {".gitignore"}
        assert commits[subject] <= own, f"{task.task_id}'s commit holds other tasks' files"
