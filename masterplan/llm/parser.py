"""LLMResponseParser: from model text to a validated pydantic object, or a structured failure.

Three ways to find the JSON, in order: the whole text; a fenced code block; the first balanced
``{...}`` object. What was found is validated against the expected schema. A failure is a value
(never an exception) whose ``feedback`` goes into the retry prompt; output cut at max_tokens is
reported as truncation, and an answer that ended with ``stop_reason: refusal`` (the model declined;
Anthropic documents that such an answer may not match the schema, structured outputs or not) as a
refusal, whatever its text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

Strategy = Literal["whole_text", "fenced_block", "balanced_object"]
FailureKind = Literal["no_json", "invalid_json", "validation", "truncated", "refused"]

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)```", re.DOTALL)
_MAX_ISSUES = 20


@dataclass(frozen=True)
class ParseIssue:
    location: str
    """Where: a field path such as ``files.0.path``, or ``line 3 column 7`` of the JSON text."""
    message: str


@dataclass(frozen=True)
class Parsed(Generic[T]):
    value: T
    strategy: Strategy

    @property
    def ok(self) -> Literal[True]:
        return True


@dataclass(frozen=True)
class ParseFailure:
    kind: FailureKind
    schema_name: str
    issues: tuple[ParseIssue, ...]
    truncated: bool = False
    strategy: Strategy | None = None
    max_tokens: int | None = None

    @property
    def ok(self) -> Literal[False]:
        return False

    @property
    def outcome(self) -> Literal["parse_error", "validation_error", "truncated", "refused"]:
        """The LLMCallRecord outcome this failure is recorded as."""
        if self.kind == "refused":
            return "refused"
        if self.truncated:
            return "truncated"
        return "validation_error" if self.kind == "validation" else "parse_error"

    @property
    def summary(self) -> str:
        """One line for logs and the call record: the kind and the first issue."""
        if not self.issues:
            return self.kind
        first = self.issues[0]
        more = f" (+{len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        return f"{self.kind}: {first.location}: {first.message}{more}"

    @property
    def feedback(self) -> str:
        """What to tell the model in the retry prompt's <feedback>."""
        lines = [self._headline()]
        lines += [f"- {issue.location}: {issue.message}" for issue in self.issues]
        lines.append(f"Answer again with one complete JSON object matching the {self.schema_name} output schema.")
        return "\n".join(lines)

    def _headline(self) -> str:
        if self.kind == "refused":
            return (
                "Your previous answer declined the request. It is a software engineering task on the user's "
                "own project, described in the prompt above; do the task as specified."
            )
        if self.truncated:
            limit = f" ({self.max_tokens} tokens)" if self.max_tokens else ""
            return (
                f"Your previous answer was cut off at the output limit{limit} before the JSON was complete. "
                "Write less: shorter file contents, fewer files, no commentary."
            )
        if self.kind == "validation":
            return f"Your previous answer was JSON but did not match the {self.schema_name} schema:"
        if self.kind == "invalid_json":
            return "Your previous answer contained malformed JSON:"
        return "Your previous answer contained no JSON object:"


ParseOutcome = Parsed[T] | ParseFailure


class LLMResponseParser:
    """Stateless; one instance can serve every call."""

    def parse(
        self,
        text: str,
        schema: type[T],
        *,
        stop_reason: str | None = None,
        max_tokens: int | None = None,
    ) -> Parsed[T] | ParseFailure:
        truncated = stop_reason == "max_tokens"
        schema_name = schema.__name__
        if stop_reason == "refusal":
            issue = ParseIssue("answer", "the model declined to answer (stop_reason refusal)")
            return ParseFailure("refused", schema_name, (issue,), max_tokens=max_tokens)
        found = _find_json(text)
        if isinstance(found, _NotFound):
            kind: FailureKind = "truncated" if truncated else found.kind
            return ParseFailure(kind, schema_name, found.issues, truncated, None, max_tokens)
        strategy, value = found
        try:
            return Parsed(schema.model_validate(value), strategy)
        except ValidationError as error:
            issues = tuple(_validation_issues(error))
            kind = "truncated" if truncated else "validation"
            return ParseFailure(kind, schema_name, issues, truncated, strategy, max_tokens)


@dataclass(frozen=True)
class _NotFound:
    kind: Literal["no_json", "invalid_json"]
    issues: tuple[ParseIssue, ...]


def _find_json(text: str) -> tuple[Strategy, Any] | _NotFound:
    stripped = text.strip()
    if not stripped:
        return _NotFound("no_json", (ParseIssue("answer", "the answer was empty"),))
    first_error: ParseIssue | None = None
    for strategy, candidate in _candidates(stripped):
        try:
            return strategy, orjson.loads(candidate)
        except orjson.JSONDecodeError as error:
            first_error = first_error or ParseIssue(
                f"{_describe(strategy)} line {error.lineno} column {error.colno}", error.msg
            )
    if "{" not in stripped:
        return _NotFound("no_json", (ParseIssue("answer", "no JSON object found (no '{' in the answer)"),))
    issue = first_error or ParseIssue("answer", "no complete JSON object found")
    if _has_unclosed_object(stripped):
        issue = ParseIssue(issue.location, f"{issue.message}; the JSON object is never closed")
    return _NotFound("invalid_json", (issue,))


def _candidates(text: str) -> Iterator[tuple[Strategy, str]]:
    yield "whole_text", text
    for match in _FENCE.finditer(text):
        yield "fenced_block", match.group(1)
    for balanced in _top_level_objects(text):
        yield "balanced_object", balanced


def _describe(strategy: Strategy) -> str:
    return {"whole_text": "answer", "fenced_block": "code block", "balanced_object": "JSON object"}[strategy]


def _top_level_objects(text: str) -> Iterator[str]:
    """Each ``{...}`` whose braces balance (braces inside JSON strings skipped), left to right.

    Stops at the first ``{`` that never closes: everything after it is nested inside it.
    """
    start = text.find("{")
    while start >= 0:
        end = _balanced_end(text, start)
        if end is None:
            return
        yield text[start : end + 1]
        start = text.find("{", end + 1)


def _has_unclosed_object(text: str) -> bool:
    start = text.find("{")
    while start >= 0:
        end = _balanced_end(text, start)
        if end is None:
            return True
        start = text.find("{", end + 1)
    return False


def _balanced_end(text: str, start: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _validation_issues(error: ValidationError) -> list[ParseIssue]:
    issues = []
    for detail in error.errors(include_url=False)[:_MAX_ISSUES]:
        location = ".".join(str(part) for part in detail["loc"]) or "(top level)"
        issues.append(ParseIssue(location, detail["msg"]))
    hidden = error.error_count() - len(issues)
    if hidden > 0:
        issues.append(ParseIssue("(more)", f"{hidden} further errors not shown"))
    return issues
