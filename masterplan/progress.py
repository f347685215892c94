"""One line of terminal text per event worth showing while a run goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from masterplan.models import Event

Formatter = Callable[[dict[str, Any]], str]

_FORMATS: dict[str, Formatter] = {
    "run.status": lambda d: f"run is {d['status']}" + (f": {d['error']}" if d.get("error") else ""),
    "discovery.questions": lambda d: f"discovery: {len(d['questions'])} questions",
    "discovery.assumptions": lambda d: f"discovery: {len(d['answers'])} answers assumed",
    "discovery.completed": lambda d: f"domain model: {', '.join(d['entities'])}",
    "plan.completed": lambda d: f"master plan: {d['tasks']} tasks in {len(d['phases'])} phases",
    "plan.invalid": lambda d: f"plan invalid ({len(d['problems'])} problems); repairing",
    "task.started": lambda d: f"task {d['task_id']} started: {d['title']} ({d['complexity']})",
    "task.completed": lambda d: (
        f"task {d['task_id']} completed with {d['model']} in {d['attempts']} attempt(s), ${float(d['cost_usd']):.4f}"
    ),
    "task.answer_rejected": lambda d: f"task {d['task_id']} answer rejected, asking again: {_headline(d['cause'])}",
    "task.retry": lambda d: f"task {d['task_id']} retrying: {_headline(d['cause'])}",
    "task.merged": lambda d: (
        f"task {d['task_id']} merged with {_others(d)}'s changes to {', '.join(d['files'])}"
        + ("; checking the merge" if d["rechecked"] else "")
    ),
    "task.merge_conflict": lambda d: (
        f"task {d['task_id']} conflicts with {_others(d)} in {', '.join(d['files'])}; asking again"
    ),
    "task.failed": lambda d: f"task {d['task_id']} failed: {_headline(d['cause'])}",
    "task.skipped": lambda d: f"task {d['task_id']} skipped: {d['reason']}",
    "qa.unreviewed": lambda d: f"task {d['task_id']} completed without its QA review: {_headline(d['cause'])}",
    "budget.warning": lambda d: f"budget: ${float(d['spent_usd']):.2f} of ${float(d['budget_usd']):.2f} spent",
    "check.final": lambda d: f"final check {'passed' if d['passed'] else 'failed'}: {d['command']}",
    "run.resumed": lambda d: f"run resumed from {d['status']}",
    "sandbox.unavailable": lambda d: f"WARNING: checks run without a sandbox: {d['reason']}",
    "sandbox.off": lambda d: "WARNING: checks run without a sandbox (sandbox=off)",
}


def _others(data: dict[str, Any]) -> str:
    others = [f"task {task_id}" for task_id in data["other_tasks"]]
    return ", ".join(others) or "an earlier task"


def _headline(cause: str) -> str:
    """The line of a cause worth a terminal line: the first problem when the cause starts with a preamble."""
    lines = [line.strip() for line in cause.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return lines[1].removeprefix("- ")
    return lines[0] if lines else ""


def describe(event: Event) -> str | None:
    formatter = _FORMATS.get(event.type)
    if formatter is None:
        return None
    try:
        return f"[{event.run_id[:8]} #{event.seq}] {formatter(event.data)}"
    except (KeyError, TypeError, ValueError):
        return f"[{event.run_id[:8]} #{event.seq}] {event.type}"
