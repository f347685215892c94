"""The domain model rejects what it must: invalid transitions, invalid LLM output."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from masterplan.models import (
    ALLOWED_TRANSITIONS,
    InvalidTransition,
    MasterPlan,
    Run,
    RunOptions,
    RunRequest,
    RunStatus,
    TaskOutput,
)


def make_run(status: RunStatus) -> Run:
    return Run(id="r1", request="x", options=RunOptions(), status=status, budget_usd=Decimal(1), workspace="/tmp/w")


def test_the_happy_path_of_a_run_is_allowed() -> None:
    run = make_run(RunStatus.QUEUED)
    for status in (
        RunStatus.DISCOVERING,
        RunStatus.AWAITING_ANSWERS,
        RunStatus.DISCOVERING,
        RunStatus.PLANNING,
        RunStatus.EXECUTING,
        RunStatus.COMPLETED,
    ):
        run = run.transition(status)
    assert run.status is RunStatus.COMPLETED


@pytest.mark.parametrize("terminal", [s for s in RunStatus if s.is_terminal])
def test_a_terminal_run_cannot_move(terminal: RunStatus) -> None:
    for target in RunStatus:
        with pytest.raises(InvalidTransition, match=f"from {terminal} to {target}"):
            make_run(terminal).transition(target)


def test_skipping_a_phase_raises_a_typed_error_naming_both_statuses() -> None:
    with pytest.raises(InvalidTransition) as caught:
        make_run(RunStatus.QUEUED).transition(RunStatus.EXECUTING)
    assert caught.value.current is RunStatus.QUEUED
    assert caught.value.target is RunStatus.EXECUTING
    assert "allowed: cancelled, discovering, failed" in str(caught.value)


def test_every_status_can_be_stopped_unless_terminal() -> None:
    for status, targets in ALLOWED_TRANSITIONS.items():
        if not status.is_terminal:
            assert RunStatus.FAILED in targets
            assert RunStatus.CANCELLED in targets


def test_invalid_llm_json_lists_every_bad_field() -> None:
    text = '{"files": [{"path": "a.py"}], "surprise": 1}'
    with pytest.raises(ValidationError) as caught:
        TaskOutput.model_validate_json(text)
    locations = {tuple(error["loc"]) for error in caught.value.errors()}
    assert ("files", 0, "content") in locations
    assert ("surprise",) in locations


def test_a_plan_task_with_a_bad_complexity_is_rejected() -> None:
    plan = {
        "project_name": "p",
        "phases": [{"phase_id": "p1", "name": "Core"}],
        "milestones": [{"milestone_id": "m1", "name": "M", "phase": "p1"}],
        "tasks": [
            {
                "task_id": "t1",
                "title": "T",
                "description": "D",
                "phase": "p1",
                "milestone": "m1",
                "complexity": "extreme",
                "task_type": "model",
            }
        ],
    }
    with pytest.raises(ValidationError, match=r"tasks\.0\.complexity"):
        MasterPlan.model_validate(plan)


def test_run_request_rejects_blank_text_and_out_of_range_options() -> None:
    with pytest.raises(ValidationError) as caught:
        RunRequest.model_validate({"request": "   ", "options": {"tasks": 0, "qa": "always"}})
    fields = {".".join(str(part) for part in error["loc"]) for error in caught.value.errors()}
    assert fields == {"request", "options.tasks", "options.qa"}
