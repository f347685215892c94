"""What the plan-review endpoints accept: strict schemas, converted to the service's ``PlanEdits`` once valid.

The same rules as ``inputs``: JSON types as they are, text a store can keep, limits the plan's own
(ids as the planner writes them, at most ``MAX_TASKS`` tasks).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from masterplan.models import ID_PATTERN, MAX_TASKS, Complexity, MasterPlan, PlanTask, TaskType
from masterplan.service.plan_edits import PlanEdits, RemovalPolicy, TaskChange
from masterplan.service.plan_review import MAX_FEEDBACK_CHARS
from masterplan.web.inputs import Input, storable

MAX_FIELD_CHARS = 20_000
MAX_LIST = 100

TaskId = Annotated[str, Field(pattern=ID_PATTERN), AfterValidator(storable)]
Line = Annotated[str, Field(min_length=1, max_length=MAX_FIELD_CHARS), AfterValidator(storable)]
Criterion = Annotated[str, Field(max_length=MAX_FIELD_CHARS), AfterValidator(storable)]
ModelId = Annotated[str, Field(max_length=128), AfterValidator(storable)]
Path = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(storable)]


class TaskChangeInput(Input):
    title: Line | None = None
    description: Line | None = None
    acceptance: list[Criterion] | None = Field(default=None, max_length=MAX_LIST)
    complexity: Complexity | None = None
    depends_on: list[TaskId] | None = Field(default=None, max_length=MAX_TASKS)
    model: ModelId | None = Field(default=None, description='pin the task to a priced model id; "" unpins it')


class NewTaskInput(Input):
    task_id: TaskId
    title: Line
    description: Line
    phase: TaskId
    milestone: TaskId
    complexity: Complexity
    task_type: TaskType
    depends_on: list[TaskId] = Field(default_factory=list, max_length=MAX_TASKS)
    files: list[Path] = Field(default_factory=list, max_length=MAX_LIST)
    acceptance: list[Criterion] = Field(default_factory=list, max_length=MAX_LIST)


class PlanEditRequest(Input):
    """The body of ``PATCH /runs/{id}/plan``: applied as a whole, or refused with every problem."""

    remove: list[TaskId] = Field(default_factory=list, max_length=MAX_TASKS, description="task ids to remove")
    on_remove: RemovalPolicy = Field(
        default="repoint",
        description="repoint: a removed task's dependents depend on its dependencies instead; refuse: they are "
        "listed as broken and the edit is refused",
    )
    change: dict[TaskId, TaskChangeInput] = Field(default_factory=dict, max_length=MAX_TASKS)
    add: list[NewTaskInput] = Field(default_factory=list, max_length=MAX_TASKS)
    plan: dict[str, Any] | None = Field(default=None, description="the whole plan, replaced (as GET returns it)")

    @field_validator("plan")
    @classmethod
    def _storable_plan(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_storable(value, 0)
        return value

    def to_domain(self) -> PlanEdits:
        """The edits; a ``plan`` that is not a plan is a ValidationError (422) naming its fields."""
        return PlanEdits(
            remove=self.remove,
            on_remove=self.on_remove,
            change={
                task_id: TaskChange(**change.model_dump(exclude_none=True)) for task_id, change in self.change.items()
            },
            add=[PlanTask(**task.model_dump()) for task in self.add],
            plan=MasterPlan.model_validate(self.plan) if self.plan is not None else None,
        )


class ReplanRequest(Input):
    feedback: Annotated[str, Field(min_length=1, max_length=MAX_FEEDBACK_CHARS), AfterValidator(storable)] = Field(
        description="what the new plan should change"
    )


class SocketApproval(Input):
    """Approval sent over a run's WebSocket."""

    type: Literal["approve"]


class SocketPlanEdit(PlanEditRequest):
    """Plan edits sent over a run's WebSocket."""

    type: Literal["edit_plan"]


class SocketReplan(ReplanRequest):
    type: Literal["replan"]


MAX_DEPTH = 20


def _check_storable(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            _check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, depth + 1)
