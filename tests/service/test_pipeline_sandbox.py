"""What a run does with the sandbox setting: confined checks, a recorded fallback, a refusal that costs nothing."""

from __future__ import annotations

from pathlib import Path

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .pipeline_helpers import QUICK_CHECKS, load_record, run_request, service_settings, sim_requests, simulator

MISSING_BWRAP = "/nonexistent/bwrap"


async def test_a_run_with_a_working_sandbox_says_so_in_its_report(sqlite_url: str, tmp_path: Path) -> None:
    async with (
        simulator() as sim,
        open_service(service_settings(sim, sqlite_url, tmp_path, sandbox="required")) as service,
    ):
        run = await service.wait((await service.create(run_request(3, checks=QUICK_CHECKS))).id)
        record = await load_record(service.store, run.id)

    assert run.status is RunStatus.COMPLETED, run.error
    assert not record.events_of("sandbox.unavailable")
    assert "checks ran in the bubblewrap sandbox: no network" in record.artifacts["REPORT.md"].content


async def test_auto_without_a_working_sandbox_runs_and_records_why(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = service_settings(sim, sqlite_url, tmp_path, sandbox="auto", sandbox_bwrap=MISSING_BWRAP)
        async with open_service(settings) as service:
            run = await service.wait((await service.create(run_request(3, checks=QUICK_CHECKS))).id)
            record = await load_record(service.store, run.id)

    assert run.status is RunStatus.COMPLETED, run.error
    [event] = record.events_of("sandbox.unavailable")
    assert event.data["mode"] == "auto"
    assert f"{MISSING_BWRAP!r} was not found" in event.data["reason"]
    report = record.artifacts["REPORT.md"].content
    assert "checks ran WITHOUT a sandbox: bubblewrap is not installed" in report


async def test_off_is_recorded_in_the_run_and_its_report(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path, sandbox="off")) as service:
        run = await service.wait((await service.create(run_request(3, checks=QUICK_CHECKS))).id)
        record = await load_record(service.store, run.id)

    assert run.status is RunStatus.COMPLETED, run.error
    assert len(record.events_of("sandbox.off")) == 1
    assert "WITHOUT a sandbox: it is turned off by the setting sandbox=off" in record.artifacts["REPORT.md"].content


async def test_required_without_a_working_sandbox_fails_the_run_before_any_call(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with simulator() as sim:
        settings = service_settings(sim, sqlite_url, tmp_path, sandbox="required", sandbox_bwrap=MISSING_BWRAP)
        async with open_service(settings) as service:
            run = await service.wait((await service.create(run_request(3, checks=QUICK_CHECKS))).id)
            record = await load_record(service.store, run.id)
        stats = sim.stats()

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "the sandbox is required (MASTERPLAN_SANDBOX=required) but does not work here" in run.error
    assert "apt-get install bubblewrap" in run.error
    assert sim_requests(stats) == 0
    assert record.calls == []
