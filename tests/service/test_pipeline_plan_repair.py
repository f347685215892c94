"""A master plan with a structural problem is repaired by one repair call, and the run goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .pipeline_helpers import QUICK_CHECKS, load_record, run_request, service_settings, simulator

TASKS = 4


@pytest.mark.parametrize(
    ("fault", "problem"),
    [("plan_cycle", "cycle"), ("plan_unknown_dep", "not in the plan")],
    ids=["cycle", "unknown-dep"],
)
async def test_a_broken_plan_is_repaired_once_and_the_run_completes(
    fault: str, problem: str, sqlite_url: str, tmp_path: Path
) -> None:
    # The simulator damages every master_plan answer; a repair answer is never damaged.
    async with simulator(faults=f"{fault}=1.0") as sim:
        async with open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
            run = await service.wait((await service.create(run_request(TASKS, checks=QUICK_CHECKS))).id)
            record = await load_record(service.store, run.id)
        stats = sim.stats()

    assert stats["faults"] == {fault: 1}
    assert stats["requests_by_role"]["master_plan"] == 1
    assert stats["requests_by_role"]["repair"] == 1
    (invalid,) = record.events_of("plan.invalid")
    (repaired,) = record.events_of("plan.repaired")
    (planned,) = record.events_of("plan.completed")
    assert invalid.seq < repaired.seq < planned.seq
    assert any(problem in text.lower() for text in invalid.data["problems"]), invalid.data
    assert repaired.data["fixed"] == invalid.data["problems"]
    assert [call.phase for call in record.calls if call.phase.startswith("plan") or call.phase == "master_plan"] == [
        "master_plan",
        "plan_repair",
    ]
    assert run.status is RunStatus.COMPLETED, run.error
    assert record.task_ids("completed") == {task.task_id for task in record.tasks}
