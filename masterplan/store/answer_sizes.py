"""How big answers came out: one row per completed answer, kept across runs.

A call's ``max_tokens`` is chosen from the sizes earlier answers of the same kind had
(``masterplan.llm.answer_sizes``), so a second run asks for what the first one needed instead of
the phase's worst case. The kind of an answer is its ``AnswerSizeKey``: the phase, the model, and
for task calls the task's type and complexity. ``StoreTx`` has these methods (``AnswerSizeQueries``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from masterplan.models import Complexity, TaskType, utcnow
from masterplan.store.connector import Row, Transaction

RECENT_ANSWERS = 200
"""How many of the newest answers of a key are read back: enough for a p95, recent enough to follow prompt changes."""


@dataclass(frozen=True)
class AnswerSizeKey:
    """What answers are alike in size: same phase and model, and for tasks the same type and complexity."""

    phase: str
    model: str
    task_type: TaskType | None = None
    complexity: Complexity | None = None

    @property
    def is_phase_wide(self) -> bool:
        """No task type nor complexity: the key's answers are all of its phase and model."""
        return self.task_type is None and self.complexity is None


@dataclass(frozen=True)
class AnswerSample:
    """One answer's size as read back."""

    output_tokens: int
    cut: bool
    """The answer ended at max_tokens even after its continuations: its true size is at least this."""


@dataclass(frozen=True)
class AnswerSize:
    """One completed answer (a continued answer's parts together), as recorded."""

    key: AnswerSizeKey
    output_tokens: int
    cut: bool
    parts: int = 1
    run_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    @property
    def sample(self) -> AnswerSample:
        return AnswerSample(self.output_tokens, self.cut)


class AnswerSizeQueries:
    """The answer-size part of ``StoreTx``: the same named queries on every dialect."""

    _tx: Transaction

    async def record_answer_size(self, size: AnswerSize) -> None:
        await self._tx.execute(
            "insert_answer_size",
            run_id=size.run_id,
            phase=size.key.phase,
            task_type=size.key.task_type,
            complexity=size.key.complexity,
            model=size.key.model,
            output_tokens=size.output_tokens,
            parts=size.parts,
            cut=size.cut,
            created_at=size.created_at,
        )

    async def recent_answer_sizes(
        self, key: AnswerSizeKey, *, limit: int = RECENT_ANSWERS, exclude_run_id: str = ""
    ) -> list[AnswerSample]:
        """The newest ``limit`` answers of exactly ``key`` (a NULL task type matches only NULL), newest first.

        ``exclude_run_id`` leaves that run's own answers out.
        """
        rows = await self._tx.fetch_all(
            "recent_answer_sizes",
            phase=key.phase,
            model=key.model,
            task_type=key.task_type,
            complexity=key.complexity,
            limit=limit,
            exclude_run_id=exclude_run_id,
        )
        return [_sample(row) for row in rows]

    async def recent_phase_answer_sizes(
        self, phase: str, model: str, *, limit: int = RECENT_ANSWERS, exclude_run_id: str = ""
    ) -> list[AnswerSample]:
        """The newest ``limit`` answers of ``phase`` by ``model``, of any task type and complexity, newest first."""
        rows = await self._tx.fetch_all(
            "recent_phase_answer_sizes", phase=phase, model=model, limit=limit, exclude_run_id=exclude_run_id
        )
        return [_sample(row) for row in rows]


def _sample(row: Row) -> AnswerSample:
    return AnswerSample(output_tokens=int(row["output_tokens"]), cut=bool(row["cut"]))
