"""Closing the service stops its runs completely: no task of theirs goes on calling the model or writing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from masterplan.service.assembly import open_service

from .pipeline_helpers import (
    QUICK_CHECKS,
    run_request,
    service_settings,
    sim_requests,
    simulator,
    until_completed_tasks,
    until_requested,
)


def _task_coroutines() -> list[str]:
    return sorted(task.get_name() for task in asyncio.all_tasks() if task.get_name().startswith(("task ", "run ")))


async def test_closing_the_service_leaves_no_task_of_its_runs_running(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator(latency=0.02) as sim, open_service(service_settings(sim, sqlite_url, tmp_path)) as service:
        run = await service.create(run_request(6, checks=QUICK_CHECKS))
        await until_completed_tasks(service, run.id, 2)
        async with service.store.transaction() as tx:
            third = (await tx.list_tasks(run.id))[2].task_id
        await until_requested(sim, third)
        assert f"task {third}" in _task_coroutines()  # its call is in flight (latency) right now

        await service.close()

        assert service.active_runs == 0
        assert _task_coroutines() == [], "still running after close()"
        at_close = sim_requests(sim.stats())
        await asyncio.sleep(0.5)  # the store and the gateway are still open: room for a left-behind task to go on
        assert sim_requests(sim.stats()) == at_close
