"""A call in flight when the service stops or dies: its worst case counts against the run's budget.

Every attempt is written as ``started`` (with its worst case) before it is sent. The master plan call is
held unanswered by a proxy in front of the simulator, then the service is stopped (in-process) or killed
with SIGKILL (``masterplan run`` in a subprocess). The reopened store still shows the call, and the resumed
run counts its worst case as spent until its usage is known (never, after a crash): with a budget that
the plan call would fit were the cut-off call forgotten, the resumed run stops ``budget_exceeded``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import masterplan
from masterplan.config import Settings
from masterplan.models import Run, RunOptions, RunRequest, RunStatus, TaskStatus
from masterplan.service.assembly import open_service
from masterplan.sim import SimConfig, SimulatorHandle, running_simulator
from masterplan.store import open_store
from masterplan.web.schemas import RunView

from .lookalike_servers import ProxyHandle, rewriting_proxy

REQUEST = "A task-tracking API with users and projects"
MASTER_PLAN_SCHEMA = '<output_schema name="MasterPlan">'
"""Only the master plan (and its repair) answers this schema: the call to hold."""
SOURCE_ROOT = Path(masterplan.__file__).resolve().parents[1]
HELD_TIMEOUT_S = 60


def _is_master_plan(body: dict[str, Any]) -> bool:
    return MASTER_PLAN_SCHEMA in str(body.get("system"))


@asynccontextmanager
async def _holding_plan_calls(sim: SimulatorHandle) -> AsyncIterator[ProxyHandle]:
    async with rewriting_proxy(sim.base_url, hold=_is_master_plan) as proxy:
        yield proxy


def _settings(base_url: str, database_url: str, root: Path) -> Settings:
    return Settings(
        anthropic_api_key="k",
        anthropic_base_url=base_url,
        database_url=database_url,
        workspace_root=root / "ws",
        rate_limit_tier="none",
    )


async def _stored(database_url: str) -> tuple[Run, list[Any]]:
    store = await open_store(database_url)
    try:
        async with store.transaction() as tx:
            (run,) = await tx.list_runs()
            return run, await tx.list_llm_calls(run.id)
    finally:
        await store.close()


async def _cut_off_in_process(sim: SimulatorHandle, root: Path) -> tuple[Decimal, Decimal]:
    """Stops the service while the plan call is in flight; returns the run's cost and reserve at that point."""
    database_url = f"sqlite://{root / 'stopped.db'}"
    async with (
        _holding_plan_calls(sim) as proxy,
        open_service(_settings(proxy.base_url, database_url, root)) as service,
    ):
        run = await service.create(
            RunRequest(request=REQUEST, options=RunOptions(tasks=2, auto_answer=True, approval="auto"))
        )
        await asyncio.wait_for(proxy.held.wait(), HELD_TIMEOUT_S)
        async with service.store.transaction() as tx:
            in_flight = await tx.require_run(run.id)
            started = [call for call in await tx.list_llm_calls(run.id) if call.outcome == "started"]
        # Durable before it was sent: the server has the request, and the store already has the row.
        assert [call.phase for call in started] == ["master_plan"]
        assert in_flight.reserved_usd == started[0].worst_case_usd > 0
    stopped, calls = await _stored(database_url)
    assert [call.outcome for call in calls if call.phase == "master_plan"] == ["started"]
    assert stopped.reserved_usd == in_flight.reserved_usd, "the stop does not forget the call"
    return stopped.cost_usd, stopped.reserved_usd


async def _killed_mid_call(proxy: ProxyHandle, budget: Decimal, database_url: str, root: Path) -> None:
    """``masterplan run`` in its own process, killed with SIGKILL while the plan call is in flight."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(SOURCE_ROOT),
        "MASTERPLAN_ANTHROPIC_API_KEY": "k",
        "MASTERPLAN_ANTHROPIC_BASE_URL": proxy.base_url,
        "MASTERPLAN_RATE_LIMIT_TIER": "none",
    }
    command = [sys.executable, "-m", "masterplan.cli", "run", REQUEST, "--tasks", "2", "--auto-answer", "--yes"]
    command += ["--budget", str(budget), "--db", database_url, "--workspace-root", str(root / "ws")]
    log = (root / "run.log").open("wb")
    process = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log, env=environment, cwd=root)
    try:
        await asyncio.wait_for(proxy.held.wait(), HELD_TIMEOUT_S)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
        log.close()


async def test_worst_case_of_a_call_cut_off_by_a_crash_counts_against_the_resumed_run(tmp_path: Path) -> None:
    async with running_simulator(SimConfig(port=0, tier="none", latency="none", seed=0)) as sim:
        spent_before, plan_worst_case = await _cut_off_in_process(sim, tmp_path / "stopped")
        # The plan call fits this budget on its own, not next to a forgotten one of the same worst case.
        budget = (spent_before + plan_worst_case * Decimal("1.5")).quantize(Decimal("0.000001"))

        database_url = f"sqlite://{tmp_path / 'killed.db'}"
        async with _holding_plan_calls(sim) as proxy:
            await _killed_mid_call(proxy, budget, database_url, tmp_path)
        killed, calls = await _stored(database_url)
        [cut_off] = [call for call in calls if call.outcome == "started"]
        assert cut_off.phase == "master_plan"
        assert (killed.cost_usd, killed.reserved_usd) == (spent_before, plan_worst_case)
        assert killed.cost_usd + cut_off.worst_case_usd <= budget < killed.cost_usd + 2 * cut_off.worst_case_usd
        requests_before_resume = sim.stats()["requests_by_role"].copy()

        async with open_service(_settings(sim.base_url, database_url, tmp_path)) as service:
            assert await service.resume_unfinished() == [killed.id]
            resumed = await service.wait(killed.id)
            async with service.store.transaction() as tx:
                calls = await tx.list_llm_calls(killed.id)
                events = await tx.events_after(killed.id)
                report = await tx.get_artifact(killed.id, "REPORT.md")
                counts = await tx.count_tasks(killed.id)

    assert resumed.status is RunStatus.BUDGET_EXCEEDED, resumed.error
    assert sim.stats()["requests_by_role"] == requests_before_resume, "the plan call was not sent again"
    [abandoned] = [call for call in calls if call.phase == "master_plan"]
    assert (abandoned.id, abandoned.outcome) == (cut_off.id, "abandoned")
    [resume] = [event for event in events if event.type == "run.resumed"]
    assert resume.data["abandoned_calls"] == 1
    assert Decimal(resume.data["abandoned_worst_case_usd"]) == plan_worst_case
    # Shown as spend whose amount is unknown, next to the known cost, never folded into it.
    assert (resumed.cost_usd, resumed.reserved_usd) == (spent_before, plan_worst_case)
    view = RunView.of(resumed, counts | {TaskStatus.PENDING: 0})
    assert (view.cost_usd, view.reserved_usd) == (float(spent_before), float(plan_worst_case))
    assert report is not None
    assert f"up to ${plan_worst_case:.6f} more" in report.content
    assert "1 call(s) cut off when the service stopped" in report.content
