"""What a completed call gives back: the parsed object or a structured failure, usage, cost, records."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel

from masterplan.llm.parser import Parsed, ParseFailure
from masterplan.llm.usage import TokenUsage
from masterplan.models import LLMCallRecord, ModelClass

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class CallContext:
    """Who is calling: copied into every LLMCallRecord of the call."""

    phase: str
    role: str
    prompt_name: str
    prompt_version: int
    run_id: str | None = None
    task_id: str | None = None
    call_key: str | None = None
    """Names the call within its run, the same for the same call after a restart (a batch's custom_ids)."""
    reuse_answered: bool = False
    """Batch mode, after a restart: an answer the run already paid for under the same key may be read again
    (a task's call, whose task had not landed). Other calls asked again are new questions (a plan sent back)."""


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    """A call that got an answer. Inspect ``outcome``: a ``Parsed`` value or a ``ParseFailure``.

    ``usage`` and ``cost_usd`` cover every attempt of the call, failed ones included, because
    every attempt is billed and recorded; ``uncached_cost_usd`` is the same usage priced as if
    nothing had been cached. An answer cut at max_tokens and continued has several ``parts``
    (each a call of its own in ``records``, told apart by ``LLMCallRecord.part``): ``text`` is
    the joined answer, ``stop_reason`` the last part's.
    """

    outcome: Parsed[T] | ParseFailure
    text: str
    model: str
    model_class: ModelClass
    stop_reason: str | None
    usage: TokenUsage
    cost_usd: Decimal
    uncached_cost_usd: Decimal
    records: tuple[LLMCallRecord, ...]
    parts: int = 1
    answer_output_tokens: int = 0
    """Output tokens of the answer: its parts' answered attempts (failed attempts left out)."""
    structured_output: bool = False
    """The answer's first part was asked with its schema as ``output_config.format`` (continuations go without)."""

    @property
    def cut(self) -> bool:
        """The answer still ended at max_tokens: it reached its maximum (or its parts' limit) unfinished."""
        return self.stop_reason == "max_tokens"

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, Parsed)

    @property
    def parsed(self) -> T | None:
        return self.outcome.value if isinstance(self.outcome, Parsed) else None

    @property
    def failure(self) -> ParseFailure | None:
        return self.outcome if isinstance(self.outcome, ParseFailure) else None

    @property
    def cache_read_share(self) -> float:
        return self.usage.cache_read_share

    @property
    def attempts(self) -> int:
        return len(self.records)
