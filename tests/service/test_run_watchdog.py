"""The server's watchdog: an unfinished run left without a driver is driven again, without anyone asking."""

from __future__ import annotations

import asyncio
from pathlib import Path

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service
from masterplan.service.runs import RunService

from .pipeline_helpers import (
    load_record,
    next_event,
    run_request,
    service_settings,
    simulator,
    until_completed_tasks,
)

WATCHDOG_INTERVAL_S = 0.2


async def until_status(service: RunService, run_id: str, wanted: RunStatus) -> None:
    with service.bus.subscribe(run_id) as subscription:
        if (await service.get(run_id)).status is not wanted:
            await next_event(subscription, lambda event: event.type == "run.status" and event.data["status"] == wanted)


async def test_the_watchdog_drives_an_orphaned_run_to_its_end_and_leaves_a_waiting_run_alone(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with simulator(latency=0.02) as sim:
        settings = service_settings(sim, sqlite_url, tmp_path, watchdog_interval_s=WATCHDOG_INTERVAL_S)
        async with open_service(settings) as first:
            orphan = await first.create(run_request(4, checks=[]))
            waiting = await first.create(run_request(4, checks=[], auto_answer=False))
            await until_completed_tasks(first, orphan.id, 1)
            await until_status(first, waiting.id, RunStatus.AWAITING_ANSWERS)
        # closed mid-run: the store says "executing" and no driver exists

        async with open_service(settings, watchdog=True) as service:  # nobody calls resume_unfinished()
            await until_status(service, orphan.id, RunStatus.COMPLETED)
            await asyncio.sleep(3 * WATCHDOG_INTERVAL_S)
            orphaned = await load_record(service.store, orphan.id)
            left_alone = await load_record(service.store, waiting.id)

    resumed = orphaned.events_of("run.resumed")
    assert [event.data for event in resumed] == [{"status": "executing", "by": "watchdog"}]
    assert orphaned.task_ids("completed") == {task.task_id for task in orphaned.tasks}
    assert left_alone.run.status is RunStatus.AWAITING_ANSWERS
    assert left_alone.events_of("run.resumed") == []


async def test_a_service_without_a_watchdog_does_not_drive_runs_it_was_not_asked_to(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with simulator(latency=0.02) as sim:
        settings = service_settings(sim, sqlite_url, tmp_path, watchdog_interval_s=WATCHDOG_INTERVAL_S)
        async with open_service(settings) as first:
            orphan = await first.create(run_request(4, checks=[]))
            await until_completed_tasks(first, orphan.id, 1)

        async with open_service(settings) as service:  # `masterplan run`: one run of its own, nothing else
            await asyncio.sleep(3 * WATCHDOG_INTERVAL_S)
            assert (await service.get(orphan.id)).status is RunStatus.EXECUTING
            assert service.active_runs == 0
