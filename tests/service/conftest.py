"""Fixtures of the pipeline tests that more than one module reads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from masterplan.service.assembly import open_service

from .pipeline_helpers import QUICK_CHECKS, RunRecord, load_record, run_request, service_settings, simulator

BUDGET_USD = Decimal("0.60")
"""Enough for discovery and the plan (whose worst case alone is about $0.50), not for all 12 tasks."""


@dataclass(frozen=True)
class FinishedRun:
    """What the store holds about a run that ended, and what the simulator counted."""

    record: RunRecord
    stats: dict[str, Any]

    @property
    def workspace(self) -> Path:
        return Path(self.record.run.workspace)


async def _budget_run(root: Path) -> FinishedRun:
    async with simulator() as sim:
        async with open_service(service_settings(sim, f"sqlite://{root / 'masterplan.db'}", root / "ws")) as service:
            run = await service.wait(
                (await service.create(run_request(12, budget_usd=BUDGET_USD, checks=QUICK_CHECKS))).id
            )
            record = await load_record(service.store, run.id)
        stats = sim.stats()
    return FinishedRun(record, stats)


async def _concurrent_run(root: Path) -> FinishedRun:
    async with simulator(seed=5) as sim:
        async with open_service(service_settings(sim, f"sqlite://{root / 'masterplan.db'}", root / "ws")) as service:
            run = await service.wait((await service.create(run_request(12, concurrency=3))).id)
            record = await load_record(service.store, run.id)
        stats = sim.stats()
    return FinishedRun(record, stats)


@pytest.fixture(scope="session")
def concurrent_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """A 12-task run with three tasks side by side."""
    return asyncio.run(_concurrent_run(tmp_path_factory.mktemp("concurrent")))


@pytest.fixture(scope="session")
def budget_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """A 12-task run whose budget (BUDGET_USD) runs out during execution."""
    return asyncio.run(_budget_run(tmp_path_factory.mktemp("budget")))
