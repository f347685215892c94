"""A service closed mid-run leaves the run for the next one, which finishes it without redoing finished work."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .pipeline_helpers import (
    QUICK_CHECKS,
    git_subjects,
    load_record,
    run_request,
    service_settings,
    sim_requests,
    simulator,
    until_completed_tasks,
    workspace_pytest,
)

TASKS = 6


async def test_resumed_run_completes_without_recalling_a_finished_task(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = service_settings(sim, sqlite_url, tmp_path / "ws")
        async with open_service(settings) as service:
            run = await service.create(run_request(TASKS, checks=QUICK_CHECKS))
            await until_completed_tasks(service, run.id, 3)
        # The service is closed: its driver was cancelled wherever it was.

        async with open_service(settings) as service:
            interrupted = await load_record(service.store, run.id)
            assert interrupted.run.status is RunStatus.EXECUTING
            assert service.active_runs == 0
            finished_before = interrupted.task_ids("completed")
            assert len(finished_before) >= 3

            assert await service.resume_unfinished() == [run.id]
            resumed = await service.wait(run.id)
            record = await load_record(service.store, run.id)
        stats = sim.stats()

    assert resumed.status is RunStatus.COMPLETED, resumed.error
    assert record.task_ids("completed") == {task.task_id for task in record.tasks}
    asked = stats["requests_by_task"]
    assert all(asked[task_id] == 1 for task_id in finished_before), asked
    assert sum(count - 1 for count in asked.values()) <= 1, asked  # only the task in flight at close, if any
    (event,) = record.events_of("run.resumed")
    assert event.data["status"] == "executing"
    # A call abandoned at close reached the simulator but was never answered to the service: not paid for.
    assert 0 <= sim_requests(stats) - len(record.calls) <= 1
    assert record.run.cost_usd == sum((call.cost_usd for call in record.calls), Decimal(0))

    workspace = Path(record.run.workspace)
    result = workspace_pytest(workspace)
    assert result.returncode == 0, result.stdout[-3000:]
    subjects = git_subjects(workspace)
    for task in record.tasks:
        assert subjects.count(f"{task.task_id}: {task.definition.title}") == 1, subjects
