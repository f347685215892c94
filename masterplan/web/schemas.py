"""What the HTTP API sends, as pydantic models (the OpenAPI document is built from them and ``inputs``).

Responses are views of the domain records with money as JSON numbers (US dollars) and without bulky fields (a
task's generated files are listed by path, artifacts by name).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.forecast.report import Forecast
from masterplan.models import (
    CallOutcome,
    Complexity,
    DiscoveryQuestion,
    Event,
    LLMCallRecord,
    MasterPlan,
    RolePrompt,
    Run,
    RunStatus,
    TaskState,
    TaskStatus,
    TaskType,
)
from masterplan.service.repository_run import run_branch


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------- responses


class UsageView(Schema):
    input_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    output_tokens: int


class TaskCounts(Schema):
    total: int
    completed: int
    failed: int
    skipped: int
    pending: int = Field(description="not finished yet: waiting or running")


class RepositoryView(Schema):
    path: str = Field(description="the repository's top level on the server")
    base: str = Field(description="the ref the run started from")
    base_commit: str | None
    branch: str = Field(description="the branch the run commits to: masterplan/<run id>")


class RunView(Schema):
    id: str
    status: RunStatus
    request: str
    created_at: datetime
    updated_at: datetime
    cost_usd: float
    reserved_usd: float = Field(
        description="worst case of calls whose real usage is not known (in flight, or cut off when the service "
        "stopped); it counts against the budget like spent money, and is not part of cost_usd"
    )
    budget_usd: float
    usage: UsageView
    cache_read_share: float = Field(description="cache reads / all input tokens, 0..1")
    tasks: TaskCounts
    questions: list[DiscoveryQuestion]
    workspace: str = Field(description="path of the run's generated code on the server (a repository run's worktree)")
    repository: RepositoryView | None = Field(default=None, description="the repository a run changes")
    error: str | None
    forecast_vs_actual: ForecastAccuracy | None = Field(
        default=None,
        description="the approved plan's forecast beside what the run did, per task and in total (costs as decimal "
        "strings; errors are (forecast - actual) / actual); set once the run has ended after executing, in "
        "GET /runs/{id} (null in the list of runs)",
    )

    @classmethod
    def of(cls, run: Run, counts: Mapping[TaskStatus, int], accuracy: ForecastAccuracy | None = None) -> RunView:
        """``counts``: the run's tasks per status (``StoreTx.count_tasks``); ``accuracy``: FORECAST_ACCURACY.json."""
        return cls(
            id=run.id,
            status=run.status,
            request=run.request,
            created_at=run.created_at,
            updated_at=run.updated_at,
            cost_usd=float(run.cost_usd),
            reserved_usd=float(run.reserved_usd),
            budget_usd=float(run.budget_usd),
            usage=UsageView(**run.usage.model_dump()),
            cache_read_share=run.usage.cache_read_share,
            tasks=TaskCounts(
                total=sum(counts.values()),
                completed=counts.get(TaskStatus.COMPLETED, 0),
                failed=counts.get(TaskStatus.FAILED, 0),
                skipped=counts.get(TaskStatus.SKIPPED, 0),
                pending=counts.get(TaskStatus.PENDING, 0) + counts.get(TaskStatus.RUNNING, 0),
            ),
            questions=run.questions,
            workspace=run.workspace,
            repository=_repository_view(run),
            error=run.error,
            forecast_vs_actual=accuracy,
        )


def _repository_view(run: Run) -> RepositoryView | None:
    reference = run.options.repository
    if reference is None:
        return None
    return RepositoryView(
        path=reference.path,
        base=reference.base or "HEAD",
        base_commit=reference.base_commit,
        branch=run_branch(run.id),
    )


class PlanView(Schema):
    """A run's plan under review: the plan, the models pinned to tasks and the forecast (costs as decimal strings)."""

    run: RunView
    plan: MasterPlan
    pins: dict[str, str] = Field(description="task id -> the model the task is pinned to")
    forecast: Forecast | None = Field(description="null only for a plan stored before forecasts existed")
    over_budget: str | None = Field(
        description="set when the forecast's high estimate is over the run's budget: by how much, in words"
    )


class TaskView(Schema):
    task_id: str
    position: int
    title: str
    phase: str
    milestone: str
    complexity: Complexity
    task_type: TaskType
    depends_on: list[str]
    status: TaskStatus
    attempts: int
    model: str | None
    cost_usd: float
    check_passed: bool | None
    error: str | None
    files: list[str] = Field(description="paths the task wrote")
    updated_at: datetime

    @classmethod
    def of(cls, task: TaskState) -> TaskView:
        plan = task.definition
        return cls(
            task_id=task.task_id,
            position=task.position,
            title=plan.title,
            phase=plan.phase,
            milestone=plan.milestone,
            complexity=plan.complexity,
            task_type=plan.task_type,
            depends_on=plan.depends_on,
            status=task.status,
            attempts=task.attempts,
            model=task.model,
            cost_usd=float(task.cost_usd),
            check_passed=task.check_passed,
            error=task.error,
            files=[file.path for file in task.output.files] if task.output else [],
            updated_at=task.updated_at,
        )


class CallView(Schema):
    """One attempt at an LLM call (the audit trail)."""

    id: int | None
    phase: str
    role: str
    task_id: str | None = Field(description="null outside task execution")
    prompt_name: str
    prompt_version: int
    model: str
    input_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None
    attempt: int
    part: int = Field(description="1, or 2.. for the continuations of an answer cut at max_tokens")
    max_tokens: int | None = Field(description="the output tokens the attempt asked for")
    structured_output: bool = Field(description="the attempt sent its JSON schema as output_config.format")
    outcome: CallOutcome = Field(
        description="started: sent, no answer yet; abandoned: the service stopped before the answer arrived; "
        "refused: the model declined (stop_reason refusal); expired, canceled: a batch ended before processing it"
    )
    error: str | None
    usage_estimated: bool = Field(description="the server reported no input tokens: the usage is our estimate")
    worst_case_usd: float = Field(description="the most the attempt could cost (counted while started/abandoned)")
    created_at: datetime
    batch_id: str | None = Field(description="the Message Batch the attempt was sent in (batch mode), else null")
    custom_id: str | None = Field(description="the attempt's custom_id in its batch, else null")

    @classmethod
    def of(cls, call: LLMCallRecord) -> CallView:
        values = call.model_dump(exclude={"run_id", "cache_write_1h_tokens", "request_id"})
        values["cost_usd"] = float(call.cost_usd)
        values["worst_case_usd"] = float(call.worst_case_usd)
        return cls(**values)


class EventView(Schema):
    """A run event; the WebSocket sends the same shape, one per message."""

    seq: int
    type: str
    ts: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventView:
        return cls(seq=event.seq, type=event.type, ts=event.ts, data=event.data)


class ArtifactSummary(Schema):
    name: str
    content_type: str
    size_bytes: int
    created_at: datetime


class PromptView(Schema):
    name: str
    version: int
    sha256: str
    body: str
    created_at: datetime

    @classmethod
    def of(cls, prompt: RolePrompt) -> PromptView:
        return cls(**prompt.model_dump())


class HealthView(Schema):
    status: Literal["ok"]


class ReadyView(Schema):
    status: Literal["ready", "not ready"]
    reason: str | None = None


class FieldError(Schema):
    field: str = Field(description="dotted path of the field, or 'body'")
    message: str


class ErrorDetail(Schema):
    status: int
    message: str
    fields: list[FieldError] | None = Field(default=None, description="with 422: each invalid field")


class ErrorBody(Schema):
    error: ErrorDetail


class SocketError(Schema):
    """Sent over the WebSocket when a client message is refused; the socket stays open."""

    type: Literal["error"]
    status: int
    message: str
    fields: list[FieldError] | None = None
