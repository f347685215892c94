"""Whole runs in batch mode (issue 14): the same run through the Message Batches API at about half the price.

The simulator processes a batch in a fraction of a second here; masterplan polls it every few tenths.
Everything else is as in production: the SDK's batch calls over HTTP, a SQLite file, the checks in a
subprocess.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .pipeline_helpers import (
    QUICK_CHECKS,
    RunRecord,
    load_record,
    next_event,
    run_request,
    service_settings,
    simulator,
)

TASKS = 12
QUICK_POLLS: dict[str, Any] = {"batch_poll_initial_s": 0.1, "batch_poll_max_s": 0.3, "batch_gather_s": 0.1}
"""Poll a batch of the simulator (which ends it after ``BATCH_SECONDS``) a few times a second."""
BATCH_SECONDS = 0.3


async def _run(root: Path, *, mode: str, seed: int = 1, faults: str = "", **options: Any) -> tuple[RunRecord, Any]:
    """One run on a simulator of its own; its record and the simulator's counters."""
    async with simulator(seed=seed, faults=faults, batch_seconds=BATCH_SECONDS) as sim:
        settings = service_settings(sim, f"sqlite://{root / 'masterplan.db'}", root / "workspaces", **QUICK_POLLS)
        async with open_service(settings) as service:
            request = run_request(TASKS, checks=QUICK_CHECKS, mode=mode, **options)
            run = await service.wait((await service.create(request)).id)
            record = await load_record(service.store, run.id)
            async with service.store.transaction() as tx:
                batches = await tx.list_batches(run.id)
        return record, (sim.stats(), batches)


async def test_a_batch_run_makes_the_same_run_for_at_most_55_percent_of_the_interactive_cost(tmp_path: Path) -> None:
    interactive, _ = await _run(tmp_path / "interactive", mode="interactive")
    batched, (stats, batches) = await _run(tmp_path / "batch", mode="batch")
    for record in (interactive, batched):
        assert record.run.status is RunStatus.COMPLETED, record.run.error
        assert len(record.task_ids("completed")) == TASKS
    # Same plan, same answers: the same calls, each sent in a batch and booked at the batch price.
    assert Counter(call.phase for call in batched.calls) == Counter(call.phase for call in interactive.calls)
    assert all(call.batch_id is not None and call.custom_id is not None for call in batched.calls)
    assert batched.run.cost_usd <= interactive.run.cost_usd * Decimal("0.55"), (
        batched.run.cost_usd,
        interactive.run.cost_usd,
    )
    assert sum(call.cost_usd for call in batched.calls) == batched.run.cost_usd
    # Every batch the simulator made is in the store, ended, and no request went to the Messages endpoint.
    assert stats["batches"]["created"] == len(batches) == len({call.batch_id for call in batched.calls})
    assert all(batch.status == "ended" for batch in batches)
    assert stats["requests_by_status"] == {}
    assert len(batches) < len(batched.calls)  # calls that could go together went together
    assert len(batched.events_of("batch.created")) == len(batches)


async def test_a_batch_whose_worst_case_does_not_fit_the_budget_is_never_sent(tmp_path: Path) -> None:
    """The first batch of several tasks needs more than is left, though any one of its requests alone would fit."""
    full, (_, full_batches) = await _run(tmp_path / "full", mode="batch")
    by_batch: dict[str | None, list[Any]] = {}
    for call in full.calls:
        by_batch.setdefault(call.batch_id, []).append(call)
    position = next(index for index, batch in enumerate(full_batches) if len(by_batch[batch.id]) >= 2)
    wave = by_batch[full_batches[position].id]
    assert {call.phase for call in wave} == {"task_execution"}, wave
    spent_before = sum(call.cost_usd for batch in full_batches[:position] for call in by_batch[batch.id])
    worst_cases = [call.worst_case_usd for call in wave]
    budget = (spent_before + sum(worst_cases) - min(worst_cases) / 2).quantize(Decimal("0.000001"))
    assert budget > spent_before + max(worst_cases)  # short of the batch, room for any one of its requests

    short, (stats, batches) = await _run(tmp_path / "short", mode="batch", budget_usd=budget)
    assert short.run.status is RunStatus.BUDGET_EXCEEDED, short.run.error
    assert "budget" in (short.run.error or "")
    # the batches before it went as in the full run; the simulator never saw a request of the one that did not fit
    assert stats["batches"]["created"] == len(batches) == position
    assert not {call.task_id for call in wave} & set(stats["requests_by_task"]), stats["requests_by_task"]
    assert not [call for call in short.calls if call.task_id in {c.task_id for c in wave}]
    assert short.run.cost_usd <= budget


async def test_requests_of_an_expired_batch_go_again_in_the_next_one(tmp_path: Path) -> None:
    record, (stats, _) = await _run(tmp_path, mode="batch", seed=3, faults="batch_expired=0.3")
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    expired = [call for call in record.calls if call.outcome == "expired"]
    assert expired, "the seed expired no batch; choose one that does"
    assert all(call.cost_usd == 0 for call in expired)  # an expired request is not billed
    assert stats["batches"]["requests_by_result"]["expired"] == len(expired)
    # each expired request went again, as the next attempt of its call, in a later batch
    retried = {(call.phase, call.task_id, call.part, call.attempt) for call in record.calls}
    assert all((call.phase, call.task_id, call.part, call.attempt + 1) in retried for call in expired)
    assert len({call.custom_id for call in record.calls}) == len(record.calls)


async def test_cancelling_a_run_that_waits_for_its_batch_cancels_the_batch(tmp_path: Path) -> None:
    async with simulator(seed=1, batch_seconds=600) as sim:  # the batch would take ten minutes
        settings = service_settings(sim, f"sqlite://{tmp_path / 'm.db'}", tmp_path / "workspaces", **QUICK_POLLS)
        async with open_service(settings) as service:
            run = await service.create(run_request(TASKS, checks=QUICK_CHECKS, mode="batch"))
            with service.bus.subscribe(run.id) as subscription:
                created = await next_event(subscription, lambda event: event.type == "batch.created")
            await service.cancel(run.id)
            async with asyncio.timeout(30):  # long before the batch would have ended
                finished = await service.wait(run.id)
            record = await load_record(service.store, run.id)
        stats = sim.stats()
    assert finished.status is RunStatus.CANCELLED
    assert stats["batches"]["requests_by_result"]["canceled"] == created.data["requests"]
    assert stats["batches"]["ended"] == stats["batches"]["created"] == 1
    canceled = [call for call in record.calls if call.batch_id == created.data["batch_id"]]
    assert [call.outcome for call in canceled] == ["canceled"] * created.data["requests"]
    assert record.run.cost_usd == 0  # nothing of the batch was processed, so nothing was billed
