"""kill -9 in the middle of a repository run, its worktree lost, then ``masterplan resume``: the run goes on
on the same branch, the worktree rebuilt from it, and no completed task is sent to the model again."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from repository.test_checkout import user_state
from repository.test_repository_map import SAMPLE, committed, git

from masterplan.models import RunStatus

from .test_pipeline_kill_resume import (
    _record,
    _resume,
    _run_until_killed,
    _sim_stats,
    sim_url,  # noqa: F401 - the fixture
)


def test_a_killed_repository_run_resumes_on_its_branch_without_recalling_finished_tasks(
    tmp_path: Path,
    sim_url: str,  # noqa: F811
) -> None:
    repository = committed(Path(shutil.copytree(SAMPLE, tmp_path / "repos" / "inventory")))
    before = user_state(repository)
    head = git(repository, "rev-parse", "HEAD").strip()
    database = tmp_path / "masterplan.db"
    target = ["--db", f"sqlite://{database}", "--workspace-root", str(tmp_path / "workspaces")]
    request = ["Add a CSV export of the stock", "--repo", str(repository), "--tasks", "3", "--auto-answer", "--yes"]
    at_kill = _run_until_killed(tmp_path, sim_url, database, [*request, *target], 1)
    finished_before = {task_id for task_id, status in at_kill.items() if status == "completed"}
    assert 1 <= len(finished_before) < len(at_kill), at_kill
    (worktree,) = (path for path in (tmp_path / "workspaces").iterdir() if not path.name.startswith("."))
    shutil.rmtree(worktree)  # the worktree is lost with the machine; the branch is in the repository

    _resume(tmp_path, sim_url, target)

    record = asyncio.run(_record(f"sqlite://{database}"))
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    asked = _sim_stats(sim_url)["requests_by_task"]
    assert all(asked[task_id] == 1 for task_id in finished_before), asked
    branch = f"masterplan/{record.run.id}"
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD").strip() == branch
    subjects = git(repository, "log", "--reverse", "--format=%s", f"{head}..{branch}").splitlines()
    assert subjects == [
        *(f"{task.task_id}: {task.definition.title}" for task in record.tasks),
        "masterplan: discovery, plan and report",
    ]
    assert user_state(repository) == before
