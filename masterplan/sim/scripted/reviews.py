"""QA reviews and phase summaries."""

from __future__ import annotations

import re
from typing import Any

import orjson

_EXIT_STATUS = re.compile(r"exit(?:[ _-]?(?:status|code))?\D{0,4}(-?\d+)", re.IGNORECASE)
_FAILED = re.compile(r"\b(\d+) failed\b")


def checks_failed(check_result: str | None) -> bool:
    """True when ``<check_result>`` shows a non-zero exit status or failed tests."""
    if not check_result:
        return False
    status = _EXIT_STATUS.search(check_result)
    if status is not None and int(status.group(1)) != 0:
        return True
    failed = _FAILED.search(check_result)
    return failed is not None and int(failed.group(1)) > 0


def qa_report(task_json: str | None, check_result: str | None) -> dict[str, Any]:
    task = _json(task_json)
    task_id = str(task.get("task_id", "the task")) if isinstance(task, dict) else "the task"
    if checks_failed(check_result):
        return {
            "passed": False,
            "issues": [
                {
                    "severity": "critical",
                    "category": "test",
                    "description": f"the checks fail after {task_id}; the failing tests must pass before it is done",
                    "location": "tests/",
                    "fix_required": True,
                }
            ],
            "recommendations": ["run the checks locally and fix the first failure"],
        }
    return {
        "passed": True,
        "issues": [],
        "recommendations": [f"keep the tests of {task_id} next to the behaviour they cover"],
    }


def phase_summary(phase_tasks_json: str | None, plan_json: str | None) -> dict[str, Any]:
    tasks = [task for task in _json(phase_tasks_json) or [] if isinstance(task, dict)]
    phase = _phase_of(tasks, _json(plan_json))
    files = [str(path) for task in tasks for path in task.get("files", []) if isinstance(path, str)]
    titles = "; ".join(str(task.get("title", task.get("task_id", ""))) for task in tasks)
    return {
        "phase": phase,
        "summary": f"Phase {phase} finished {len(tasks)} task(s): {titles}."[:1500],
        "key_files": files[:30],
        "key_decisions": [
            "entities are frozen dataclasses that validate themselves",
            "repositories keep entities in memory behind one generic interface",
        ],
    }


def _phase_of(tasks: list[dict[str, Any]], plan: Any) -> str:
    if tasks and isinstance(plan, dict):
        by_id = {t.get("task_id"): t for t in plan.get("tasks", []) if isinstance(t, dict)}
        found = by_id.get(tasks[0].get("task_id"))
        if found is not None and isinstance(found.get("phase"), str):
            return str(found["phase"])
    return "phase"


def _json(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw.strip())
    except orjson.JSONDecodeError:
        return None
