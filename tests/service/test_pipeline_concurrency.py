"""concurrency=3: independent ready tasks run side by side, and the result is the same working project."""

from __future__ import annotations

from masterplan.models import Event, RunStatus

from .conftest import FinishedRun
from .pipeline_helpers import sim_requests, workspace_pytest


def _most_tasks_at_once(events: list[Event]) -> int:
    running: set[str] = set()
    most = 0
    for event in events:
        if event.type == "task.started":
            running.add(event.data["task_id"])
            most = max(most, len(running))
        elif event.type in ("task.completed", "task.failed"):
            running.discard(event.data["task_id"])
    return most


def test_three_side_by_side_complete_every_task_once(concurrent_run: FinishedRun) -> None:
    record = concurrent_run.record
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    assert len(record.tasks) == 12
    assert record.task_ids("completed") == {task.task_id for task in record.tasks}
    assert 2 <= _most_tasks_at_once(record.events) <= 3
    assert concurrent_run.stats["requests_by_task"] == {task.task_id: 1 for task in record.tasks}
    assert sim_requests(concurrent_run.stats) == len(record.calls)


def test_no_task_starts_before_its_dependencies_completed(concurrent_run: FinishedRun) -> None:
    record = concurrent_run.record
    completed_at = {event.data["task_id"]: event.seq for event in record.events_of("task.completed")}
    started_at = {event.data["task_id"]: event.seq for event in record.events_of("task.started")}
    for task in record.tasks:
        for dependency in task.definition.depends_on:
            assert completed_at[dependency] < started_at[task.task_id], (dependency, task.task_id)


def test_workspace_built_side_by_side_passes_its_tests(concurrent_run: FinishedRun) -> None:
    result = workspace_pytest(concurrent_run.workspace)
    assert result.returncode == 0, result.stdout[-3000:]
