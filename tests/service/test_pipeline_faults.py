"""A run through a misbehaving model: malformed answers, overloads, broken code and paths out of the workspace.

The simulator's faults are seeded, so the run is reproducible; the seed is one under which every
fault kind below happens at least once (asserted, so a drifting seed is noticed, not silently easy).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .pipeline_helpers import (
    QUICK_CHECKS,
    RunRecord,
    load_record,
    run_request,
    service_settings,
    sim_requests,
    simulator,
    tree_snapshot,
    workspace_pytest,
)

FAULTS = "malformed_json=0.1,overloaded=0.05,syntax_error=0.05,path_escape=0.05"
SEED = 1  # meets every fault kind with the simulator as of its ~5,000-token answers and answer-sized max_tokens
# (the draws follow the request bodies, max_tokens included: a change of the sizes asked can move them)
TASKS = 12
FAILED_ATTEMPT_EVENTS = (
    "task.answer_rejected",
    "task.retry",
    "task.attempt_failed",
    "task.failed",
    "task.invalid_output",
)
DISCARDED_ANSWER_EVENTS = ("task.answer_rejected", "task.retry", "task.attempt_failed")
PATH_PROBLEMS = ("path leaves the workspace", "absolute path")


@dataclass(frozen=True)
class FaultyRun:
    record: RunRecord
    stats: dict[str, Any]
    area_before: dict[str, tuple[int, int]]
    area_after: dict[str, tuple[int, int]]
    tmp_before: dict[str, int]
    tmp_after: dict[str, int]
    pytest_exit: int


def _tmp_entries() -> dict[str, int]:
    return {entry.name: entry.stat(follow_symlinks=False).st_mtime_ns for entry in os.scandir("/tmp")}


async def _faulty_run(root: Path) -> FaultyRun:
    area = root / "area"
    neighbour = area / "workspaces" / "neighbour"
    neighbour.mkdir(parents=True)
    (neighbour / "keep.txt").write_text("another run's file\n", encoding="utf-8")
    area_before, tmp_before = tree_snapshot(area), _tmp_entries()
    async with simulator(seed=SEED, faults=FAULTS) as sim:
        # The JSON faults are for the parser: a model without structured outputs (they would spare the answers).
        settings = service_settings(
            sim, f"sqlite://{root / 'masterplan.db'}", area / "workspaces", structured_outputs=False
        )
        async with open_service(settings) as service:
            run = await service.wait((await service.create(run_request(TASKS, checks=QUICK_CHECKS))).id)
            record = await load_record(service.store, run.id)
        stats = sim.stats()
    return FaultyRun(
        record=record,
        stats=stats,
        area_before=area_before,
        area_after=tree_snapshot(area),
        tmp_before=tmp_before,
        tmp_after=_tmp_entries(),
        pytest_exit=workspace_pytest(Path(record.run.workspace)).returncode,
    )


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> FaultyRun:
    return asyncio.run(_faulty_run(tmp_path_factory.mktemp("faults")))


def test_the_run_met_every_fault_kind(faulty: FaultyRun) -> None:
    for kind in ("malformed_json", "overloaded", "syntax_error", "path_escape"):
        assert faulty.stats["faults"].get(kind, 0) >= 1, faulty.stats["faults"]


def test_run_completes_with_at_least_95_percent_of_its_tasks(faulty: FaultyRun) -> None:
    record = faulty.record
    every_task_completed = len(record.task_ids("completed")) == len(record.tasks)
    expected = RunStatus.COMPLETED if every_task_completed else RunStatus.COMPLETED_WITH_FAILURES
    assert record.run.status is expected, record.run.error
    assert len(record.tasks) == TASKS
    assert len(record.task_ids("completed")) >= 0.95 * len(record.tasks)
    assert faulty.pytest_exit == 0
    (final,) = record.events_of("check.final")
    assert final.data["passed"] is True


def test_nothing_is_written_outside_the_workspace(faulty: FaultyRun) -> None:
    run_dir = f"workspaces/{faulty.record.run.id}"
    changed = {
        path
        for path in faulty.area_before.keys() | faulty.area_after.keys()
        if faulty.area_before.get(path) != faulty.area_after.get(path)
    }
    outside = {path for path in changed if path not in ("workspaces", run_dir) and not path.startswith(run_dir + "/")}
    assert outside == set()
    generated = {Path(file.path).name for task in faulty.record.tasks if task.output for file in task.output.files}
    touched_in_tmp = {
        name for name, mtime in faulty.tmp_after.items() if faulty.tmp_before.get(name) != mtime and name in generated
    }
    assert touched_in_tmp == set()


def test_every_failed_call_is_audited_with_its_cause(faulty: FaultyRun) -> None:
    calls = faulty.record.calls
    assert len(calls) == sim_requests(faulty.stats)
    failed = [call for call in calls if call.outcome != "ok"]
    assert failed
    for call in failed:
        assert call.error, call
    assert sum(1 for call in failed if call.outcome == "overloaded") == faulty.stats["faults"]["overloaded"]
    assert sum(1 for call in failed if call.outcome == "parse_error") == faulty.stats["faults"]["malformed_json"]


def test_every_answer_asked_again_or_failed_says_why(faulty: FaultyRun) -> None:
    record = faulty.record
    parsed_answers = Counter(c.task_id for c in record.calls if c.phase == "task_execution" and c.outcome == "ok")
    asked_again = {task_id for task_id, answers in parsed_answers.items() if answers > 1}
    assert asked_again
    explained = {event.data["task_id"] for event in record.events if event.type in DISCARDED_ANSWER_EVENTS}
    assert asked_again <= explained
    for event in record.events:
        if event.type in FAILED_ATTEMPT_EVENTS:
            assert event.data["cause"].strip(), event
    for task in record.tasks:
        if task.status.value == "failed":
            assert (task.error or "").strip()
        if task.status.value == "skipped":
            assert "did not complete" in (task.error or "")


def test_broken_code_and_escaping_paths_are_rejected_with_their_problem(faulty: FaultyRun) -> None:
    # One event per rejected answer; a task.retry after rejections repeats the last one's cause.
    causes = [event.data["cause"] for event in faulty.record.events_of("task.answer_rejected")]
    path_causes = [cause for cause in causes if any(problem in cause for problem in PATH_PROBLEMS)]
    syntax_causes = [cause for cause in causes if "syntax error" in cause]
    assert 1 <= len(path_causes) <= faulty.stats["faults"]["path_escape"]
    assert 1 <= len(syntax_causes) <= faulty.stats["faults"]["syntax_error"]
    for cause in causes:
        assert cause.startswith("The files were rejected before anything was written"), cause
