"""What the HTTP API accepts: strict schemas, converted to the domain's requests once valid.

Strict means JSON types as they are: ``"tasks": "12"``, ``true`` or ``2.0`` are
not a number of tasks, ``"auto_answer": "yes"`` is not a boolean, a budget is a
JSON number. Text may not hold what a database cannot store (U+0000) or what is
not a character (a lone surrogate). Every limit here is one the store and the
service can hold, so no valid input reaches them as an error of theirs.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from masterplan import models
from masterplan.models import BUDGET_DECIMALS, MAX_BUDGET_USD, MAX_TASKS, ApprovalMode, QAMode, RunMode, check_budget

MAX_PROMPT_CHARS = 200_000
MAX_ANSWER_CHARS = 20_000
MAX_CHECKS = 20
MAX_CHECK_CHARS = 2_000
MAX_EVENTS_PAGE = 10_000
#: the largest seq or count a signed 64-bit column holds
MAX_INT64 = 2**63 - 1

#: path parameters as route patterns: anything else is a 404 from the router, before any handler or store
RUN_ID = "{run_id:[0-9a-f]{16}}"
ARTIFACT_NAME = "{name:[A-Za-z0-9][A-Za-z0-9_.-]{0,127}}"
PROMPT_NAME = "{name:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}}"

_SURROGATES = re.compile("[\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]{1,19}")


def storable(text: str) -> str:
    """``text`` unless it holds U+0000 or a lone surrogate, which no store keeps as text."""
    if "\x00" in text:
        raise ValueError("must not contain the NUL character (U+0000)")
    if _SURROGATES.search(text):
        raise ValueError("must not contain a lone surrogate (U+D800..U+DFFF)")
    return text


def digits(value: object) -> object:
    """Query integers are written in ASCII digits only: no sign, exponent, space or other script."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written in digits 0-9 (at most 19 of them)")
    return value


Text = Annotated[str, AfterValidator(storable)]
QuestionId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(storable)]
Answer = Annotated[str, Field(max_length=MAX_ANSWER_CHARS), AfterValidator(storable)]
CheckCommand = Annotated[str, Field(min_length=1, max_length=MAX_CHECK_CHARS), AfterValidator(storable)]
QueryInt = Annotated[int, BeforeValidator(digits)]


class Input(BaseModel):
    """A JSON body: unknown fields refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RunOptions(Input):
    """``RunRequest.options`` as the API takes it (the domain's ``models.RunOptions`` once valid)."""

    tasks: int = Field(default=12, ge=1, le=MAX_TASKS, description="target number of tasks in the plan")
    auto_answer: bool = Field(default=False, description="let the model state assumptions instead of asking")
    budget_usd: float | None = Field(
        default=None,
        gt=0,
        le=float(MAX_BUDGET_USD),
        description=f"per-run budget in US dollars, at most {BUDGET_DECIMALS} decimal places; settings default "
        "when null",
    )
    concurrency: int = Field(default=1, ge=1, le=16, description="independent ready tasks run side by side")
    qa: QAMode = "off"
    checks: list[CheckCommand] | None = Field(
        default=None,
        max_length=MAX_CHECKS,
        description="check commands (needs MASTERPLAN_ALLOW_HTTP_CHECKS); default runs pytest, [] runs none",
    )
    git: bool = True
    approval: ApprovalMode = Field(
        default="manual",
        description="manual: the run waits in awaiting_approval with its priced plan until approved; auto: it "
        "executes as soon as the plan is ready",
    )
    mode: RunMode = Field(
        default="interactive",
        description="interactive: every call is streamed at once; batch: the calls that can go together are sent "
        "as one Message Batch at half the price, each step waiting for its batch (minutes, at most 24 hours)",
    )

    @field_validator("budget_usd")
    @classmethod
    def _whole_nano_dollars(cls, value: float | None) -> float | None:
        if value is not None:
            check_budget(_decimal(value))
        return value

    def to_domain(self) -> models.RunOptions:
        values = self.model_dump()
        if self.budget_usd is not None:
            values["budget_usd"] = _decimal(self.budget_usd)
        return models.RunOptions(**values)


class RepositoryInput(Input):
    """An existing git repository to change, on a branch ``masterplan/<run-id>`` of its own."""

    path: Text = Field(
        min_length=1,
        max_length=models.MAX_REPOSITORY_PATH_CHARS,
        description="a directory of the repository, under one of MASTERPLAN_REPOSITORY_ROOTS",
    )
    base: Text | None = Field(
        default=None, min_length=1, max_length=models.MAX_REF_CHARS, description="the ref to start from (HEAD)"
    )


class RunRequest(Input):
    """The body of ``POST /runs`` (the domain's ``models.RunRequest`` once valid)."""

    request: Annotated[models.RequestText, AfterValidator(storable)] = Field(
        description="what to build or change, in plain words"
    )
    options: RunOptions = Field(default_factory=RunOptions)
    repository: RepositoryInput | None = Field(default=None, description="change this repository (else a new project)")

    @model_validator(mode="after")
    def _one_suite_for_a_repository(self) -> RunRequest:
        if self.repository is not None and self.options.checks is not None and len(self.options.checks) > 1:
            raise ValueError(
                "options.checks: a repository run takes at most one check command, its test suite (compared "
                "with the suite's result on the base)"
            )
        return self

    def to_domain(self) -> models.RunRequest:
        options = self.options.to_domain()
        if self.repository is not None:
            reference = models.RepositoryRef(path=self.repository.path, base=self.repository.base)
            options = models.RunOptions.model_validate({**dict(options), "repository": reference})
        return models.RunRequest(request=self.request, options=options)


class AnswersRequest(Input):
    answers: dict[QuestionId, Answer] = Field(
        description="answers by question id; questions left out take their default assumption"
    )


class SocketAnswers(AnswersRequest):
    """Answers sent over a run's WebSocket."""

    type: Literal["answers"]


class PromptUpdate(Input):
    body: Text = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="the role prompt's new text")


class Query(BaseModel):
    """Query parameters (strings, so not strict): unknown ones (``token``, cache busters) are ignored."""

    model_config = ConfigDict(extra="ignore")


class RunsQuery(Query):
    limit: QueryInt = Field(default=100, ge=1, le=1_000, description="newest runs first")


class EventsQuery(Query):
    after: QueryInt = Field(default=0, ge=0, le=MAX_INT64, description="only events with a larger seq")
    limit: QueryInt = Field(default=MAX_EVENTS_PAGE, ge=1, le=MAX_EVENTS_PAGE)


class SocketQuery(Query):
    after: QueryInt = Field(
        default=0, ge=0, le=MAX_INT64, description="the last seq the client has; later events are sent"
    )


def _decimal(value: float) -> Decimal:
    """The decimal the JSON number was written as (``0.1`` is 0.1, not the binary float's expansion)."""
    return Decimal(repr(value))
