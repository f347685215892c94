"""The answer sizes a run chooses its ``max_tokens`` from: those of the runs before it, read once per key.

A run's ``PhaseCaller`` keeps one ``AnswerSizeBook``. The first call of a kind reads the newest
answers of its key (and of its phase and model) from the store, where earlier runs left them, and
the run keeps that history to its end: its own answers (recorded for the runs after it) are left
out, a resumed run's too. So within a run a kind of call always asks the same ``max_tokens``, and
the scheduler's expected sizes do not move under it: a run is reproducible from the store it
started with (a seeded simulator draws its faults from the request's bytes, ``max_tokens`` among
them), whatever order its concurrent tasks finish in. What to do with the sizes is
``masterplan.llm.answer_sizes``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from masterplan.llm.answer_sizes import SizeEstimate, SizeHistory, choose_max_tokens, estimate_size
from masterplan.store.answer_sizes import RECENT_ANSWERS, AnswerSample, AnswerSizeKey


class AnswerSizeSource(Protocol):
    """Where recorded sizes are read (``StoreTx`` is one)."""

    async def recent_answer_sizes(
        self, key: AnswerSizeKey, *, limit: int = ..., exclude_run_id: str = ...
    ) -> list[AnswerSample]: ...

    async def recent_phase_answer_sizes(
        self, phase: str, model: str, *, limit: int = ..., exclude_run_id: str = ...
    ) -> list[AnswerSample]: ...


OpenSource = Callable[[], AbstractAsyncContextManager[AnswerSizeSource]]
"""Opens a read of the store (``Journal.read``, or ``Store.transaction``)."""


class AnswerSizeBook:
    def __init__(self, open_source: OpenSource, *, run_id: str | None = None, limit: int = RECENT_ANSWERS) -> None:
        """``run_id``: the run the book is for, whose own answers it leaves out."""
        self._open = open_source
        self._exclude = run_id or ""
        self._limit = limit
        self._exact: dict[AnswerSizeKey, tuple[int, ...]] = {}
        self._phase_wide: dict[tuple[str, str], tuple[int, ...]] = {}

    async def history(self, key: AnswerSizeKey) -> SizeHistory:
        """The key's newest answers and its phase's, read from the store the first time a key is asked for."""
        wide = (key.phase, key.model)
        if key not in self._exact or (not key.is_phase_wide and wide not in self._phase_wide):
            await self._load(key)
        phase_wide = () if key.is_phase_wide else self._phase_wide[wide]
        return SizeHistory(exact=self._exact[key], phase_wide=phase_wide)

    async def estimate(self, key: AnswerSizeKey) -> SizeEstimate:
        return estimate_size(key, await self.history(key))

    async def max_tokens(self, key: AnswerSizeKey, ceiling: int) -> int:
        """What a call of ``key`` asks for: see ``answer_sizes.choose_max_tokens``."""
        return choose_max_tokens(await self.estimate(key), ceiling)

    async def expected_output_tokens(self, key: AnswerSizeKey) -> int:
        """What an answer of ``key`` is expected to weigh: the median of its history, or the phase's prior."""
        return (await self.estimate(key)).expected

    async def _load(self, key: AnswerSizeKey) -> None:
        """Reads what the book lacks for ``key``; a concurrent load that finished first keeps what it read."""
        wide_key = (key.phase, key.model)
        limit, exclude = self._limit, self._exclude
        async with self._open() as source:
            if key not in self._exact:
                exact = await source.recent_answer_sizes(key, limit=limit, exclude_run_id=exclude)
                self._exact.setdefault(key, _sizes(exact))
            if not key.is_phase_wide and wide_key not in self._phase_wide:
                wide = await source.recent_phase_answer_sizes(*wide_key, limit=limit, exclude_run_id=exclude)
                self._phase_wide.setdefault(wide_key, _sizes(wide))


def _sizes(samples: Sequence[AnswerSample]) -> tuple[int, ...]:
    return tuple(sample.output_tokens for sample in samples)
