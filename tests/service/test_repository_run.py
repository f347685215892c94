"""A run that changes an existing repository, end to end: over HTTP with the simulator, on both databases.

The run works on a branch ``masterplan/<run-id>`` in a worktree of its own, one commit a task; the user's
branch, working tree, index and stash are byte for byte as they were; the repository's tests (one of which
fails on the base, on purpose) have no new failure; REPORT.md shows the tests before and after and the diff.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from repository.test_checkout import user_state
from repository.test_repository_map import SAMPLE, committed, git
from web.web_helpers import Served, served

from masterplan.models import RunStatus

from .pipeline_helpers import load_record, until_completed_tasks

REQUEST = "Add a CSV export of the stock levels"
BASE_FAILING = {"tests/test_stock.py::test_removing_more_than_is_held_is_refused"}
MASTERPLAN_ROOT = Path(__file__).resolve().parents[2]
LIGHT_TESTS = "python -m pytest -q tests" + "".join(
    f" --ignore=tests/{name}"
    for name in ("web", "service", "sim", "cli", "store", "executor", "llm", "metrics", "forecast", "cache")
)
"""Masterplan's own suite in a sandbox without its database or browser: its fast, self-contained part (the
models, the repository map), plus every test file a run adds at the top of tests/."""


def repository_body(path: Path, **options: Any) -> dict[str, Any]:
    return {
        "request": REQUEST,
        "options": {"tasks": 3, "auto_answer": True, "approval": "auto", **options},
        "repository": {"path": str(path)},
    }


async def finished(app: Served, body: dict[str, Any]) -> dict[str, Any]:
    created = await app.json("POST", "/runs", body, status=201)
    return await app.wait_for_status(
        created["id"], {"completed", "completed_with_failures", "failed", "cancelled"}, timeout_s=300
    )


def suite_failures(worktree: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"],
        cwd=worktree,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {line.split()[1] for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))}


def suite_failures_of(stored: str) -> set[str]:
    outcomes = orjson.loads(stored)["outcomes"]
    return {test for test, outcome in outcomes.items() if outcome in ("failed", "error")}


def names_starting(directory: Path, prefix: str) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.startswith(prefix))


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return committed(Path(shutil.copytree(SAMPLE, tmp_path / "repos" / "inventory")))


async def test_a_run_adds_a_feature_on_its_own_branch_and_leaves_the_users_tree_alone(
    tmp_path: Path, sample: Path, database_url: str
) -> None:
    (sample / "README.md").write_text("an edit the user has not committed\n", encoding="utf-8")
    (sample / "notes.txt").write_text("untracked\n", encoding="utf-8")
    before = user_state(sample)
    head = git(sample, "rev-parse", "HEAD").strip()

    async with served(tmp_path, database_url=database_url, repository_roots=(sample.parent,)) as app:
        run = await finished(app, repository_body(sample))
        record = await load_record(app.service.store, run["id"])
        report = await app.json("GET", f"/runs/{run['id']}")

    assert run["status"] == "completed", run["error"]
    assert user_state(sample) == before
    branch = f"masterplan/{run['id']}"
    assert report["repository"]["branch"] == branch
    worktree = Path(run["workspace"])
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD").strip() == branch
    subjects = git(sample, "log", "--reverse", "--format=%s", f"{head}..{branch}").splitlines()
    completed = sorted(record.task_ids("completed"))
    assert subjects == [
        *(f"{task.task_id}: {task.definition.title}" for task in record.tasks),
        "masterplan: discovery, plan and report",
    ]
    assert len(completed) == len(record.tasks) >= 2
    assert git(worktree, "status", "--porcelain").strip() == ""
    # masterplan's documents are on the branch under .masterplan/, the repository's own README is its own
    shipped = git(sample, "ls-tree", "-r", "--name-only", branch).splitlines()
    assert {".masterplan/REPORT.md", ".masterplan/MASTERPLAN.md", ".masterplan/DISCOVERY.md"} <= set(shipped)
    assert "REPORT.md" not in shipped
    assert "an edit the user has not committed" not in git(sample, "show", f"{branch}:README.md")
    # the map was built once and kept in the cached project block of every call
    assert len(record.events_of("repository.mapped")) == 1
    assert "repository: inventory" in record.artifacts["REPOSITORY_MAP.txt"].content
    # edits, not rewrites, changed the existing files
    assert record.events_of("task.edits_applied")
    # the repository's tests: one failing on the base, none new at the end
    (baseline,) = record.events_of("tests.baseline")
    assert set(baseline.data["failing"]) == BASE_FAILING
    assert suite_failures(worktree) == BASE_FAILING
    markdown = record.artifacts["REPORT.md"].content
    assert "## Repository" in markdown
    assert f"`{branch}`" in markdown
    assert "| on the base | 1 failed, 4 passed |" in markdown
    assert "| new failures | none |" in markdown
    assert "file changed" in markdown or "files changed" in markdown
    assert f"merge --no-ff {branch}" in markdown
    assert record.run.status is RunStatus.COMPLETED


async def test_an_edit_that_misses_is_fed_back_and_corrected_within_the_attempt(tmp_path: Path, sample: Path) -> None:
    async with served(tmp_path, faults="edit_miss=1", repository_roots=(sample.parent,)) as app:
        run = await finished(app, repository_body(sample, checks=[]))
        record = await load_record(app.service.store, run["id"])

    assert run["status"] == "completed", run["error"]
    mismatches = record.events_of("task.edit_mismatch")
    assert mismatches, [event.type for event in record.events]
    assert {event.data["cause"] for event in mismatches} <= {"absent", "ambiguous"}
    for mismatch in mismatches:
        task = next(task for task in record.tasks if task.task_id == mismatch.data["task_id"])
        assert task.status.value == "completed"
        assert task.attempts >= 2  # the refused answer and its correction
        retried = [e for e in record.events if e.type == "task.retry" and e.data["task_id"] == task.task_id]
        assert retried == []  # all within the first round: no check failed, no second round was needed
        rejected = [e for e in record.events_of("task.answer_rejected") if e.data["task_id"] == task.task_id]
        assert any("the search text is" in event.data["cause"] for event in rejected)


@pytest.fixture
def masterplan_clone(tmp_path: Path) -> Path:
    clone = tmp_path / "repos" / "masterplan"
    subprocess.run(["git", "clone", "-q", str(MASTERPLAN_ROOT), str(clone)], check=True)
    return clone


async def test_a_run_on_a_copy_of_masterplans_own_repository(tmp_path: Path, masterplan_clone: Path) -> None:
    clone = masterplan_clone
    head = git(clone, "rev-parse", "HEAD").strip()
    before = user_state(clone)
    async with served(
        tmp_path, repository_roots=(clone.parent,), repository_map_tokens=8_000, allow_http_checks=True
    ) as app:
        run = await finished(
            app, {**repository_body(clone, checks=[LIGHT_TESTS]), "request": "Add a summary of a repository map"}
        )
        record = await load_record(app.service.store, run["id"])

    assert run["status"] == "completed", run["error"]
    assert user_state(clone) == before
    branch = f"masterplan/{run['id']}"
    commits = git(clone, "log", "--format=%s", f"{head}..{branch}").splitlines()
    assert len(commits) == len(record.tasks) + 1
    (baseline,) = record.events_of("tests.baseline")
    # Checks run in copies without .git, so a test of masterplan's that asks git about its own tree fails on
    # the base already; what counts is that nothing fails at the end that did not fail there.
    final = orjson.loads(record.artifacts["TEST_FINAL.json"].content)["outcomes"]
    assert suite_failures_of(record.artifacts["TEST_FINAL.json"].content) <= set(baseline.data["failing"])
    added = {
        test for test in final if test not in orjson.loads(record.artifacts["TEST_BASELINE.json"].content)["outcomes"]
    }
    assert added
    assert all(final[test] == "passed" for test in added)
    assert "| new failures | none |" in record.artifacts["REPORT.md"].content


async def test_the_repositorys_configuration_runs_nothing(tmp_path: Path, sample: Path) -> None:
    """A repository's hooks, fsmonitor, pager or filter drivers are programs from its configuration: none runs."""
    marker = tmp_path / "ran"
    for kind in ("clean", "smudge"):
        git(sample, "config", f"filter.x.{kind}", f"sh -c 'touch {marker}-{kind}; cat'")
    (sample / ".gitattributes").write_text("*.py filter=x\n", encoding="utf-8")
    git(sample, "-c", "filter.x.clean=", "-c", "filter.x.smudge=", "add", ".gitattributes")
    git(sample, "-c", "filter.x.clean=", "-c", "filter.x.smudge=", "commit", "-q", "-m", "attributes")
    git(sample, "config", "core.fsmonitor", f"touch {marker}-fsmonitor; false")
    git(sample, "config", "core.pager", f"touch {marker}-pager; cat")
    hook = sample / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}-hook\n", encoding="utf-8")
    hook.chmod(0o755)
    async with served(tmp_path, repository_roots=(sample.parent,)) as app:
        run = await finished(app, repository_body(sample, checks=[]))
    assert run["status"] == "completed", run["error"]
    assert names_starting(tmp_path, "ran") == []


async def test_a_repository_without_tests_is_checked_for_syntax_and_the_report_says_so(
    tmp_path: Path, sample: Path
) -> None:
    git(sample, "rm", "-q", "-r", "tests")
    pyproject = (sample / "pyproject.toml").read_text(encoding="utf-8")
    (sample / "pyproject.toml").write_text(pyproject.split("[tool.pytest")[0], encoding="utf-8")
    git(sample, "commit", "-q", "-am", "no tests")
    async with served(tmp_path, repository_roots=(sample.parent,)) as app:
        run = await finished(app, repository_body(sample))
        record = await load_record(app.service.store, run["id"])
    assert run["status"] == "completed", run["error"]
    assert record.events_of("tests.none")
    assert not record.events_of("tests.baseline")
    assert all(task.check_passed is None for task in record.tasks)
    assert "the repository has no tests masterplan could find" in record.artifacts["REPORT.md"].content
    # stored, so a resume after the tasks added test files still runs none
    assert orjson.loads(record.artifacts["TEST_BASELINE.json"].content)["command"] is None


async def test_a_cancelled_run_leaves_its_branch_with_what_was_done(tmp_path: Path, sample: Path) -> None:
    head = git(sample, "rev-parse", "HEAD").strip()
    async with served(tmp_path, latency="0.05", repository_roots=(sample.parent,)) as app:
        created = await app.json("POST", "/runs", repository_body(sample, checks=[]), status=201)
        await until_completed_tasks(app.service, created["id"], 1)
        cancelled = await app.json("POST", f"/runs/{created['id']}/cancel")
        record = await load_record(app.service.store, created["id"])
    assert cancelled["status"] == "cancelled"
    done = [task for task in record.tasks if task.status.value == "completed"]
    branch = f"masterplan/{created['id']}"
    subjects = git(sample, "log", "--reverse", "--format=%s", f"{head}..{branch}").splitlines()
    assert subjects == [f"{task.task_id}: {task.definition.title}" for task in done]
    assert "cancelled by request" in (Path(created["workspace"]) / ".masterplan" / "REPORT.md").read_text()


async def test_tasks_side_by_side_edit_the_repository_and_land_in_completion_order(
    tmp_path: Path, sample: Path
) -> None:
    head = git(sample, "rev-parse", "HEAD").strip()
    async with served(tmp_path, latency="0.02", repository_roots=(sample.parent,)) as app:
        run = await finished(app, repository_body(sample, concurrency=3))
        record = await load_record(app.service.store, run["id"])
    assert run["status"] == "completed", run["error"]
    assert not record.events_of("task.merge_conflict")
    subjects = git(sample, "log", "--format=%s", f"{head}..masterplan/{run['id']}").splitlines()
    assert sorted(subjects) == sorted(
        [
            *(f"{task.task_id}: {task.definition.title}" for task in record.tasks),
            "masterplan: discovery, plan and report",
        ]
    )
    assert suite_failures(Path(run["workspace"])) == BASE_FAILING
