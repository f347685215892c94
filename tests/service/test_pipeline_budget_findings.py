"""What a user reads after the budget ran out: the budget itself, and no task shown as still running."""

from __future__ import annotations

import re

from .conftest import FinishedRun


def test_budget_error_names_the_runs_budget(budget_run: FinishedRun) -> None:
    error = budget_run.record.run.error or ""
    assert re.search(r"\$0\.60*(?!\d)", error), f"the error does not say the budget was $0.60: {error!r}"


def test_no_task_is_left_running_once_the_run_ended(budget_run: FinishedRun) -> None:
    running = [task.task_id for task in budget_run.record.tasks if task.status.value == "running"]
    assert running == []
