"""Whole runs with structured outputs: the simulator's JSON faults spare constrained answers (issue 14).

The same 12-task run through a model that damages a third of its JSON: with structured outputs no
answer needs the parser's repairs or a re-ask; against a server without the feature the first call
is refused, the gateway turns the feature off, and the parser and re-asks carry the run as before.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .pipeline_helpers import QUICK_CHECKS, RunRecord, load_record, run_request, service_settings, simulator

CONTENT_FAULTS = "malformed_json=0.2,prose_json=0.1,fenced_json=0.1"
TASKS = 12
UNUSABLE = {"parse_error", "validation_error", "truncated", "refused"}


async def _run(root: Path, *, faults: str, seed: int, sim_structured_outputs: bool = True) -> RunRecord:
    async with simulator(seed=seed, faults=faults, structured_outputs=sim_structured_outputs) as sim:
        settings = service_settings(sim, f"sqlite://{root / 'masterplan.db'}", root / "workspaces")
        async with open_service(settings) as service:
            run = await service.wait((await service.create(run_request(TASKS, checks=QUICK_CHECKS))).id)
            return await load_record(service.store, run.id)


def _reasks(record: RunRecord) -> Counter[str]:
    return Counter(
        str(event.data["reask_of"]) for event in record.events_of("llm.call") if event.data["reask_of"] is not None
    )


async def test_structured_answers_need_no_parser_repairs_and_no_reasks(tmp_path: Path) -> None:
    record = await _run(tmp_path, faults=CONTENT_FAULTS, seed=2)
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    assert len([task for task in record.tasks if task.status == "completed"]) == TASKS
    assert all(call.structured_output for call in record.calls)
    assert [call.outcome for call in record.calls if call.outcome in UNUSABLE] == []
    assert _reasks(record) == Counter()
    assert all(event.data["structured_output"] is True for event in record.events_of("llm.call"))


async def test_a_server_without_structured_outputs_falls_back_to_the_parser(tmp_path: Path) -> None:
    record = await _run(tmp_path, faults=CONTENT_FAULTS, seed=2, sim_structured_outputs=False)
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    refused = [call for call in record.calls if call.outcome == "client_error"]
    assert len(refused) == 1  # the first call; the feature is off after it
    assert refused[0].structured_output
    assert "output_config" in (refused[0].error or "")
    answered = [call for call in record.calls if call.outcome != "client_error"]
    assert not any(call.structured_output for call in answered)
    # The same faults now reach the parser: some answers are repaired or asked again.
    unusable = [call for call in answered if call.outcome in UNUSABLE]
    assert unusable, "the seed damaged no answer beyond repair; choose one that does"
    assert sum(_reasks(record).values()) >= len(unusable) - 1  # each unusable answer asked again (last may fail)


async def test_a_refused_answer_is_asked_again_and_the_run_completes(tmp_path: Path) -> None:
    record = await _run(tmp_path, faults="refusal=0.15", seed=4)
    assert record.run.status is RunStatus.COMPLETED, record.run.error
    refusals = [call for call in record.calls if call.outcome == "refused"]
    assert refusals, "the seed refused no answer; choose one that does"
    assert _reasks(record)["refused"] == len(refusals)
