"""Cancelling a run before it reaches execution: it ends cancelled at once, and nothing is asked after."""

from __future__ import annotations

from pathlib import Path

import pytest

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service
from masterplan.service.errors import RunConflict

from .pipeline_helpers import load_record, run_request, service_settings, sim_requests, simulator


async def test_cancel_right_after_create_ends_the_run_before_any_task(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        run = await service.create(run_request(3))

        cancelled = await service.cancel(run.id)

        assert cancelled.status is RunStatus.CANCELLED, cancelled.error
        assert service.active_runs == 0
        record = await load_record(service.store, run.id)
        assert record.tasks == []
        # At most the discovery call already in flight was made, and it was recorded.
        assert sim_requests(sim.stats()) == len(record.calls) <= 1
        assert record.events[-1].data["status"] == "cancelled"
        with pytest.raises(RunConflict, match="already ended"):
            await service.cancel(run.id)


async def test_cancelling_a_waiting_run_ends_it_at_once(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(run_request(3, auto_answer=False))).id)
        assert run.status is RunStatus.AWAITING_ANSWERS

        cancelled = await service.cancel(run.id)

        assert cancelled.status is RunStatus.CANCELLED
        assert (await service.get(run.id)).status is RunStatus.CANCELLED
        assert sim_requests(sim.stats()) == 1
        with pytest.raises(RunConflict):
            await service.answer(run.id, {run.questions[0].id: "too late"})
