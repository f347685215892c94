"""The domain model: what a run is, what the LLM roles produce, what is recorded.

Everything an LLM produces is parsed with ``extra="forbid"`` so that a model
inventing fields is caught by validation instead of being silently dropped.
This module imports nothing of masterplan: the simulator and every layer share it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

Complexity = Literal["low", "medium", "high"]
TaskType = Literal["setup", "model", "repository", "service", "api", "test", "docs", "config", "other"]
ModelClass = Literal["fast", "strong"]
QAMode = Literal["off", "task", "milestone"]
ApprovalMode = Literal["manual", "auto"]
Severity = Literal["critical", "high", "medium", "low"]

MAX_TASKS = 100
#: budgets are kept as whole nano-dollars in a signed 64-bit column, far below its limit
BUDGET_DECIMALS = 9
MAX_BUDGET_USD = Decimal(100_000)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def utcnow() -> datetime:
    return datetime.now(UTC)


class LLMOutput(BaseModel):
    """Base of everything an LLM answers: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class Record(BaseModel):
    """Base of masterplan's own records (rows, events, requests)."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- runs


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    DISCOVERING = "discovering"
    AWAITING_ANSWERS = "awaiting_answers"
    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    """The plan and its forecast are ready; nothing is spent until the user approves (``approval: manual``)."""
    EXECUTING = "executing"
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    """Execution ended with some work done, but tasks failed or were skipped, or the final check failed."""
    FAILED = "failed"
    CANCELLED = "cancelled"
    BUDGET_EXCEEDED = "budget_exceeded"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_waiting(self) -> bool:
        """The run waits for the user (answers or approval): it holds nothing but its row, and nothing drives it."""
        return self in (RunStatus.AWAITING_ANSWERS, RunStatus.AWAITING_APPROVAL)


TERMINAL_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.COMPLETED_WITH_FAILURES,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.BUDGET_EXCEEDED,
    }
)

_STOPS = {RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.BUDGET_EXCEEDED}
ALLOWED_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.DISCOVERING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.DISCOVERING: frozenset({RunStatus.AWAITING_ANSWERS, RunStatus.PLANNING, *_STOPS}),
    # Answers arrive: discovery resumes with pass 3 (the domain model).
    RunStatus.AWAITING_ANSWERS: frozenset({RunStatus.DISCOVERING, *_STOPS}),
    RunStatus.PLANNING: frozenset({RunStatus.AWAITING_APPROVAL, RunStatus.EXECUTING, *_STOPS}),
    # Approved: execution starts with the plan as approved; sent back: planning again with the user's feedback.
    RunStatus.AWAITING_APPROVAL: frozenset({RunStatus.EXECUTING, RunStatus.PLANNING, *_STOPS}),
    RunStatus.EXECUTING: frozenset({RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_FAILURES, *_STOPS}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.COMPLETED_WITH_FAILURES: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
    RunStatus.BUDGET_EXCEEDED: frozenset(),
}


class InvalidTransition(ValueError):
    """A run was asked to move to a status its current status cannot reach."""

    def __init__(self, current: RunStatus, target: RunStatus) -> None:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing (terminal)"
        super().__init__(f"run cannot go from {current} to {target}; allowed: {allowed}")
        self.current = current
        self.target = target


def check_transition(current: RunStatus, target: RunStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(current, target)


def decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def check_budget(value: Decimal) -> Decimal:
    """``value`` if it is a budget the store can keep exactly; ValueError naming the limit otherwise."""
    if not value.is_finite() or value <= 0:
        raise ValueError("must be a positive number of US dollars")
    if value > MAX_BUDGET_USD:
        raise ValueError(f"must be at most {MAX_BUDGET_USD} US dollars")
    if decimal_places(value.normalize()) > BUDGET_DECIMALS:
        raise ValueError(f"must have at most {BUDGET_DECIMALS} decimal places (whole nano-dollars)")
    return value


MAX_REPOSITORY_PATH_CHARS = 4_096
MAX_REF_CHARS = 256


class RepositoryRef(Record):
    """An existing git repository a run changes, on a branch of its own (``masterplan.repository``)."""

    path: str = Field(min_length=1, max_length=MAX_REPOSITORY_PATH_CHARS, description="a directory in the repository")
    base: str | None = Field(
        default=None, max_length=MAX_REF_CHARS, description="the ref the run's branch starts from (default HEAD)"
    )
    base_commit: str | None = Field(
        default=None, description="the commit the base named when the run was created (set by masterplan)"
    )


RunMode = Literal["interactive", "batch"]


class RunOptions(Record):
    tasks: int = Field(default=12, ge=1, le=MAX_TASKS, description="target number of tasks in the plan")
    auto_answer: bool = Field(default=False, description="let the model state assumptions instead of asking")
    budget_usd: Decimal | None = Field(default=None, description="per-run budget; settings default when null")
    concurrency: int = Field(default=1, ge=1, le=16, description="independent ready tasks run side by side")
    qa: QAMode = "off"
    checks: list[str] | None = Field(default=None, description="check commands; default runs pytest")
    git: bool = True
    approval: ApprovalMode = Field(
        default="manual", description="manual: wait in awaiting_approval with the priced plan; auto: execute at once"
    )
    repository: RepositoryRef | None = Field(default=None, description="change this repository instead of a new one")
    mode: RunMode = Field(
        default="interactive",
        description="interactive: every call streamed at once; batch: the calls that can go together are sent "
        "as one Message Batch at half price, answered within minutes to 24 hours",
    )

    @field_validator("budget_usd")
    @classmethod
    def _storable_budget(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else check_budget(value)

    @model_validator(mode="after")
    def _one_suite_for_a_repository(self) -> RunOptions:
        if self.repository is not None and self.checks is not None and len(self.checks) > 1:
            raise ValueError(
                "a repository run takes at most one check command: its test suite, compared with its result on the base"
            )
        return self


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("request must not be blank")
    return value


MAX_REQUEST_CHARS = 20_000
RequestText = Annotated[str, Field(min_length=1, max_length=MAX_REQUEST_CHARS), AfterValidator(not_blank)]


class RunRequest(Record):
    request: RequestText
    options: RunOptions = Field(default_factory=RunOptions)


class Usage(Record):
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def cache_read_share(self) -> float:
        total = self.total_input_tokens
        return self.cache_read_tokens / total if total else 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Run(Record):
    id: str
    request: str
    options: RunOptions
    status: RunStatus = RunStatus.QUEUED
    budget_usd: Decimal
    cost_usd: Decimal = Decimal(0)
    reserved_usd: Decimal = Decimal(0)
    """Worst case of the calls whose real usage is unknown: in flight, or cut off when the service stopped."""
    usage: Usage = Field(default_factory=Usage)
    workspace: str
    error: str | None = None
    questions: list[DiscoveryQuestion] = Field(default_factory=list)
    answers: dict[str, str] = Field(default_factory=dict)
    last_event_seq: int = 0
    """The seq of the run's latest stored event (as read; the store owns the counter)."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def transition(self, target: RunStatus) -> Run:
        """The run in ``target`` status; raises InvalidTransition if not allowed."""
        check_transition(self.status, target)
        return self.model_copy(update={"status": target, "updated_at": utcnow()})


# ------------------------------------------------------------------- discovery


class DiscoveryQuestion(LLMOutput):
    id: str = Field(pattern=ID_PATTERN)
    question: str = Field(min_length=1)
    why: str = ""
    default_assumption: str = ""


class DiscoveryQuestions(LLMOutput):
    """Discovery pass 1: questions for the user and the entities seen so far."""

    questions: list[DiscoveryQuestion] = Field(max_length=20)
    initial_entities: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> DiscoveryQuestions:
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError("question ids must be unique")
        return self


class AssumedAnswer(LLMOutput):
    question_id: str
    answer: str


class DiscoveryAssumptions(LLMOutput):
    """Discovery pass 2 with ``auto_answer``: the model answers its own questions."""

    answers: list[AssumedAnswer]
    assumptions: list[str] = Field(default_factory=list)


class Attribute(LLMOutput):
    name: str
    type: str
    required: bool = True
    description: str = ""


class Entity(LLMOutput):
    name: str
    description: str = ""
    context: str = ""
    attributes: list[Attribute] = Field(default_factory=list)


class ValueObject(LLMOutput):
    name: str
    description: str = ""
    attributes: list[Attribute] = Field(default_factory=list)


class BoundedContext(LLMOutput):
    name: str
    description: str = ""
    entities: list[str] = Field(default_factory=list)


class Aggregate(LLMOutput):
    root: str
    members: list[str] = Field(default_factory=list)
    invariants: list[str] = Field(default_factory=list)


class DomainEvent(LLMOutput):
    name: str
    trigger: str = ""
    payload: list[str] = Field(default_factory=list)


class UseCase(LLMOutput):
    name: str
    actor: str = ""
    description: str = ""


class DiscoveryDocument(LLMOutput):
    """Discovery pass 3: the domain model every later phase works from."""

    project_name: str
    summary: str
    bounded_contexts: list[BoundedContext] = Field(default_factory=list)
    entities: list[Entity] = Field(min_length=1)
    value_objects: list[ValueObject] = Field(default_factory=list)
    aggregates: list[Aggregate] = Field(default_factory=list)
    domain_events: list[DomainEvent] = Field(default_factory=list)
    use_cases: list[UseCase] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------- master plan


class PlanPhase(LLMOutput):
    phase_id: str = Field(pattern=ID_PATTERN)
    name: str
    goal: str = ""


class Milestone(LLMOutput):
    milestone_id: str = Field(pattern=ID_PATTERN)
    name: str
    phase: str
    description: str = ""


class PlanTask(LLMOutput):
    task_id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    phase: str
    milestone: str
    complexity: Complexity
    task_type: TaskType
    depends_on: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    acceptance: list[str] = Field(default_factory=list)


class MasterPlan(LLMOutput):
    """The whole plan, produced in one call; structure checked by the planner's validator."""

    project_name: str
    summary: str = ""
    phases: list[PlanPhase] = Field(min_length=1)
    milestones: list[Milestone] = Field(min_length=1)
    tasks: list[PlanTask] = Field(min_length=1, max_length=MAX_TASKS)


# ------------------------------------------------------------- task execution


class GeneratedFile(LLMOutput):
    path: str = Field(min_length=1, max_length=255)
    content: str


class FileEdit(LLMOutput):
    """A search/replace edit of an existing file (``masterplan.executor.edits``)."""

    path: str = Field(min_length=1, max_length=255)
    search: str = Field(
        min_length=1, description="text copied exactly from the file's current content; it must occur there once"
    )
    replace: str = Field(description="what the search text becomes (empty to delete it)")


class TaskOutput(LLMOutput):
    """The developer's answer: whole files, edits of existing files, and files to delete."""

    files: list[GeneratedFile] = Field(
        default_factory=list, description="complete content of each new file, or of a small file rewritten whole"
    )
    edits: list[FileEdit] = Field(
        default_factory=list,
        description="search/replace edits of existing files, applied in order (prefer them for large files)",
    )
    deletes: list[str] = Field(default_factory=list, description="paths of existing files the task removes")
    summary: str = Field(default="", max_length=2_000, description="one or two sentences: what was built")
    notes: str = ""

    @model_validator(mode="after")
    def _changes_something(self) -> TaskOutput:
        if not (self.files or self.edits or self.deletes):
            raise ValueError("the answer changes nothing: give files, edits or deletes")
        return self


class QAIssue(LLMOutput):
    severity: Severity
    category: Literal["architecture", "code", "test", "docs", "security"]
    description: str
    location: str = ""
    fix_required: bool = True


class QAReport(LLMOutput):
    passed: bool
    issues: list[QAIssue] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


class PhaseSummary(LLMOutput):
    phase: str
    summary: str
    key_files: list[str] = Field(default_factory=list)
    key_decisions: list[str] = Field(default_factory=list)


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


TASK_END_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "task.completed": TaskStatus.COMPLETED.value,
        "task.failed": TaskStatus.FAILED.value,
        "task.skipped": TaskStatus.SKIPPED.value,
    }
)
"""The events that end a task, and the status each leaves it in."""


class TaskState(Record):
    """A plan task as execution sees it: the plan's definition plus its progress."""

    run_id: str
    task_id: str
    position: int
    definition: PlanTask
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    model: str | None = None
    cost_usd: Decimal = Decimal(0)
    output: TaskOutput | None = None
    check_passed: bool | None = None
    error: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


# ------------------------------------------------------------------- records

CallOutcome = Literal[
    "ok",
    "parse_error",
    "validation_error",
    "truncated",
    "rate_limited",
    "overloaded",
    "server_error",
    "connection_error",
    "client_error",
    "refused",
    "expired",
    "canceled",
    "started",
    "abandoned",
]
"""``started``: sent, answer not yet recorded (its worst case counts against the budget meanwhile);
``abandoned``: the service stopped before the answer arrived, so its real usage is unknown for good;
``expired``, ``canceled``: a request of a Message Batch that ended (24 hours passed, or the run was cancelled)
before it was processed: not billed."""


class LLMCallRecord(Record):
    """One attempt at an LLM call, failed ones included: the usage audit trail."""

    id: int | None = None
    run_id: str | None = None
    task_id: str | None = None
    phase: str
    role: str
    prompt_name: str
    prompt_version: int
    model: str
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = Field(default=0, description="the part of cache_write_tokens written with ttl 1h")
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    attempt: int = 1
    """The transport attempt within its part (retries after 429/529/5xx/connection errors count up)."""
    part: int = Field(
        default=1,
        ge=1,
        description="1 for the request itself, 2.. for continuations of an answer cut at max_tokens",
    )
    max_tokens: int | None = Field(default=None, description="the max_tokens the attempt asked for")
    structured_output: bool = Field(
        default=False, description="the attempt sent its JSON schema as output_config.format (structured outputs)"
    )
    outcome: CallOutcome = "ok"
    error: str | None = None
    request_id: str | None = None
    usage_estimated: bool = Field(
        default=False, description="the server reported no input tokens: usage is masterplan's own estimate"
    )
    worst_case_usd: Decimal = Field(
        default=Decimal(0), description="the most the attempt could cost, counted against the budget until it ends"
    )
    created_at: datetime = Field(default_factory=utcnow)
    """When the attempt ended (when it started, while it is ``started``)."""
    batch_id: str | None = Field(default=None, description="the Message Batch the attempt was sent in (batch mode)")
    custom_id: str | None = Field(
        default=None, description="the attempt's name inside its batch: the same for the same call after a restart"
    )

    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_read_tokens=self.cache_read_tokens,
            output_tokens=self.output_tokens,
        )


BatchStatus = Literal["in_progress", "ended"]


class BatchRecord(Record):
    """A Message Batch one run created: stored as soon as the API answered with its id."""

    id: str
    run_id: str
    requests: int
    status: BatchStatus = "in_progress"
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class BatchedCall(Record):
    """What the store knows of an attempt sent in a batch, found by its custom_id."""

    call_id: int
    batch_id: str
    outcome: CallOutcome
    counted_usd: Decimal
    """What the run's spend counts for it: its worst case while unanswered, its cost once answered."""


class Event(Record):
    run_id: str
    seq: int
    type: str
    ts: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class Artifact(Record):
    run_id: str
    name: str
    content_type: str = "text/markdown"
    content: str
    created_at: datetime = Field(default_factory=utcnow)


class RolePrompt(Record):
    name: str
    version: int
    body: str
    sha256: str
    created_at: datetime = Field(default_factory=utcnow)


class PhaseConfig(Record):
    """How one phase calls the LLM; loaded from ``prompts/phases.toml`` into the store."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    phase: str
    role: str
    prompt: str
    schema_name: str = Field(alias="schema", description="name of the models.py class the answer must match")
    model_class: ModelClass
    max_tokens: int = Field(gt=0, le=128_000)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    retries: int = Field(default=1, ge=0, le=5)


class Learning(Record):
    id: int | None = None
    run_id: str
    task_id: str
    text: str
    files: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
