"""Cancelling a run while a task's call is in flight: it ends cancelled between calls, and nothing is asked after."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.models import RunStatus
from masterplan.service.assembly import open_service
from masterplan.service.errors import RunConflict

from .pipeline_helpers import (
    QUICK_CHECKS,
    load_record,
    run_request,
    service_settings,
    sim_requests,
    simulator,
    until_completed_tasks,
    until_requested,
)

LATENCY = 0.005
"""A two-hundredth of realistic latency: each call takes a moment, so the cancel lands while one is in flight."""


async def test_cancel_mid_execution_ends_the_run_cancelled_between_calls(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator(latency=LATENCY) as sim:
        async with open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
            run = await service.create(run_request(12, checks=QUICK_CHECKS))
            await until_completed_tasks(service, run.id, 2)
            async with service.store.transaction() as tx:
                third = (await tx.list_tasks(run.id))[2].task_id
            await until_requested(sim, third)

            cancelled = await service.cancel(run.id)
            at_cancel = sim.stats()

            assert cancelled.status is RunStatus.CANCELLED, cancelled.error
            assert cancelled.error == "cancelled by request"
            assert service.active_runs == 0
            record = await load_record(service.store, run.id)
            assert 2 <= len(record.task_ids("completed")) < len(record.tasks)
            assert at_cancel["requests_by_task"][third] == 1
            # The call in flight when the cancel came was allowed to finish, and it was recorded.
            assert len(record.calls) == sim_requests(at_cancel)
            assert all(call.outcome == "ok" for call in record.calls)
            requested = record.events_of("run.cancel_requested")
            assert len(requested) == 1
            last = record.events[-1]
            assert (last.type, last.data["status"]) == ("run.status", "cancelled")
            report = record.artifacts["REPORT.md"].content
            assert "cancelled" in report
            # The forecast is shown beside what was done, but a half-done run does not measure it.
            compared = ForecastAccuracy.model_validate_json(record.artifacts["FORECAST_ACCURACY.json"].content)
            assert (compared.counted, compared.run_status) == (False, "cancelled")
            assert "ended as **cancelled** before every task ran" in report
            assert record.events_of("forecast.compared")[0].data["counted"] is False

            with pytest.raises(RunConflict, match="already ended"):
                await service.cancel(run.id)
            assert await service.resume_unfinished() == []
            await asyncio.sleep(0.5)  # room for a stray request to show up, were one still on its way
        assert sim_requests(sim.stats()) == sim_requests(at_cancel)
        assert sim.stats()["requests_by_task"] == at_cancel["requests_by_task"]
