"""Edits a user makes to a plan at the gate, applied to a copy and validated like a generated plan.

An edit set is applied as a whole or not at all: ``apply_edits`` returns the edited plan, or raises
``PlanEditRefused`` listing every problem (an unknown task, a cycle with its tasks named, a dependency on
a task that does not exist, too many tasks), and the stored plan stays as it was.

Removing a task re-points its dependents at the removed task's own dependencies (``on_remove: repoint``,
the default: the chain stays ordered), or leaves them depending on a task that is gone
(``on_remove: refuse``), which validation then lists as broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from masterplan.executor.ordering import plan_problems
from masterplan.models import MAX_TASKS, Complexity, MasterPlan, PlanTask, Record

RemovalPolicy = Literal["repoint", "refuse"]


class TaskChange(Record):
    """What to change in one task; a field left out stays as it is."""

    title: str | None = None
    description: str | None = None
    acceptance: list[str] | None = None
    complexity: Complexity | None = None
    depends_on: list[str] | None = None
    model: str | None = None
    """Pin the task to this model id (``""`` removes a pin); the forecast and the run use it."""


class PlanEdits(Record):
    remove: list[str] = Field(default_factory=list)
    on_remove: RemovalPolicy = "repoint"
    change: dict[str, TaskChange] = Field(default_factory=dict)
    add: list[PlanTask] = Field(default_factory=list)
    plan: MasterPlan | None = None
    """The whole plan, replaced (the edited text of ``masterplan`` CLI's editor); applied before the rest."""

    @property
    def empty(self) -> bool:
        return not (self.remove or self.change or self.add or self.plan)


class PlanEditRefused(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("the edit is refused: " + "; ".join(problems))


def apply_edits(
    plan: MasterPlan, pins: Mapping[str, str], edits: PlanEdits, *, models: set[str]
) -> tuple[MasterPlan, dict[str, str]]:
    """The edited plan and model pins; PlanEditRefused with every problem, the inputs left unchanged."""
    problems: list[str] = []
    edited = edits.plan or plan
    tasks = {task.task_id: task for task in edited.tasks}
    new_pins = {task_id: model for task_id, model in pins.items() if task_id in tasks}
    for task_id in edits.remove:
        if task_id not in tasks:
            problems.append(f"remove: task {task_id} is not in the plan")
    removed = {task_id for task_id in edits.remove if task_id in tasks}
    kept = [_repointed(task, tasks, removed, edits.on_remove) for task in edited.tasks if task.task_id not in removed]
    by_id = {task.task_id: task for task in kept}
    for task_id, change in edits.change.items():
        if task_id not in by_id:
            problems.append(f"change: task {task_id} is not in the plan")
            continue
        problems += _pin(new_pins, task_id, change.model, models)
        updates = change.model_dump(exclude_none=True, exclude={"model"})
        by_id[task_id] = by_id[task_id].model_copy(update=updates)
    for task in edits.add:
        if task.task_id in by_id:
            problems.append(f"add: task {task.task_id} is already in the plan")
        by_id.setdefault(task.task_id, task)
    for task_id in removed:
        new_pins.pop(task_id, None)
    result = edited.model_copy(update={"tasks": list(by_id.values())})
    try:
        result = MasterPlan.model_validate(result.model_dump())
    except ValueError as error:
        problems.append(f"the plan is not well formed: {error}")
    else:
        problems += [problem.message for problem in plan_problems(result, min_tasks=1, max_tasks=MAX_TASKS)]
    if problems:
        raise PlanEditRefused(problems)
    return result, new_pins


def _pin(pins: dict[str, str], task_id: str, model: str | None, models: set[str]) -> list[str]:
    """Pins (or with ``""`` unpins) the task's model; the problem if the model is not one masterplan prices."""
    if model is None:
        return []
    if model == "":
        pins.pop(task_id, None)
    elif model not in models:
        return [f"change: task {task_id}: model {model!r} is not one of {sorted(models)}"]
    else:
        pins[task_id] = model
    return []


def _repointed(task: PlanTask, tasks: Mapping[str, PlanTask], removed: set[str], policy: RemovalPolicy) -> PlanTask:
    if policy == "refuse" or not removed.intersection(task.depends_on):
        return task
    depends: list[str] = []
    pending = list(task.depends_on)
    seen: set[str] = set()
    while pending:
        dep = pending.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        if dep in removed and dep in tasks:
            pending.extend(tasks[dep].depends_on)
        else:
            depends.append(dep)
    return task.model_copy(update={"depends_on": list(dict.fromkeys(depends))})
