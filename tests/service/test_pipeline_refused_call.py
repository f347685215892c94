"""A call the API refuses (a 4xx) in the QA review: the run says which call it was, and the work already checked stays.

The refusal is real: the QA review runs on the fast model, configured here as a model masterplan has prices
for but the simulator does not serve, so the simulator answers 404 ``not_found_error`` as the API would for
a model it does not know. The developer role runs on the strong model (its phase configuration, stored in
the database like every phase's, says so), so the task's own call succeeds and its checks pass first.
"""

from __future__ import annotations

from pathlib import Path

from masterplan.models import RunStatus, TaskStatus
from masterplan.service.assembly import open_service
from masterplan.service.runs import RunService

from .pipeline_helpers import QUICK_CHECKS, load_record, run_request, service_settings, simulator, summary_cells

UNSERVED_MODEL = "claude-opus-5"
"""In masterplan's price table, unknown to the simulator (it answers 404 for it)."""


async def _developer_on_the_strong_model(service: RunService) -> None:
    async with service.store.transaction() as tx:
        config = await tx.get_phase_config("task_execution")
        await tx.put_phase_config(config.model_copy(update={"model_class": "strong"}))


async def test_a_refused_review_names_its_call_and_keeps_the_checked_task_completed(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = service_settings(
            sim, f"sqlite://{tmp_path / 'masterplan.db'}", tmp_path / "ws", fast_model=UNSERVED_MODEL
        )
        async with open_service(settings) as service:
            await _developer_on_the_strong_model(service)
            run = await service.wait((await service.create(run_request(4, qa="task", checks=QUICK_CHECKS))).id)
            record = await load_record(service.store, run.id)

    assert record.run.status is RunStatus.FAILED
    error = record.run.error or ""
    assert error.startswith(f"the qa_review call of task T01 to {UNSERVED_MODEL} was refused: HTTP 404"), error
    (ended,) = [event for event in record.events_of("run.status") if event.data["status"] == "failed"]
    assert ended.data["error"] == error

    first = next(task for task in record.tasks if task.task_id == "T01")
    assert first.status is TaskStatus.COMPLETED
    assert first.check_passed is True
    assert first.output is not None
    assert [event.data["task_id"] for event in record.events_of("task.completed")] == ["T01"]
    assert [event.data["task_id"] for event in record.events_of("qa.unreviewed")] == ["T01"]
    assert record.events_of("task.interrupted") == []
    assert {task.task_id for task in record.tasks if task.status is TaskStatus.PENDING} == {
        task.task_id for task in record.tasks if task.task_id != "T01"
    }

    report = Path(record.run.workspace) / "REPORT.md"
    cells = summary_cells(report.read_text(encoding="utf-8"))
    assert cells["status"].startswith("**failed**")
    assert "qa_review call of task T01" in cells["status"]
    assert cells["tasks"].startswith("1 completed")
    for file in first.output.files:
        assert (Path(record.run.workspace) / file.path).read_text(encoding="utf-8") == file.content
