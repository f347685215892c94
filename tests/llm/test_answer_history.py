"""The answer-size book of a run: the sizes of the runs before it, read from the store once per key.

A real store of each dialect (``store`` is parametrized over SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from masterplan.llm.answer_history import AnswerSizeBook
from masterplan.models import Run
from masterplan.store import AnswerSize, AnswerSizeKey, Store, StoreTx

NewRun = Callable[[Store], Awaitable[Run]]
"""The ``new_run`` fixture (tests/conftest.py): inserts a fresh run into a store."""

TASK = AnswerSizeKey("task_execution", "claude-haiku-4-5", "service", "medium")
OTHER_TASK = AnswerSizeKey("task_execution", "claude-haiku-4-5", "docs", "low")


class CountingReads:
    """Opens store transactions for the book, counting them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.opened = 0

    def __call__(self) -> AbstractAsyncContextManager[StoreTx]:
        self.opened += 1
        return self._open()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[StoreTx]:
        async with self.store.transaction() as tx:
            yield tx


async def _record(store: Store, key: AnswerSizeKey, *sizes: int) -> None:
    async with store.transaction() as tx:
        for size in sizes:
            await tx.record_answer_size(AnswerSize(key, size, cut=False))


async def test_a_run_learns_from_the_runs_before_it(store: Store) -> None:
    first_run = AnswerSizeBook(CountingReads(store))
    assert await first_run.max_tokens(TASK, 16_000) == 7_500  # the prior
    await _record(store, TASK, 2_000, 2_100, 2_200, 2_300, 2_400)
    second_run = AnswerSizeBook(CountingReads(store))
    assert await second_run.expected_output_tokens(TASK) == 2_200
    assert await second_run.max_tokens(TASK, 16_000) == 3_000  # 2,400 x 1.25


async def test_the_store_is_read_once_per_key(store: Store) -> None:
    await _record(store, OTHER_TASK, *[1_000] * 5)
    reads = CountingReads(store)
    book = AnswerSizeBook(reads)
    estimate = await book.estimate(TASK)
    assert (estimate.source, estimate.expected) == ("phase", 1_000)  # the docs tasks stand in for the phase
    await _record(store, TASK, *[3_000] * 5)
    assert await book.estimate(TASK) == estimate  # read once: a run's choices do not move
    await book.estimate(OTHER_TASK)
    assert reads.opened == 2  # TASK once (with its phase), OTHER_TASK once (its phase already read)


async def test_a_run_leaves_its_own_answers_out(store: Store, new_run: NewRun) -> None:
    run_id = (await new_run(store)).id
    async with store.transaction() as tx:
        for size in (9_000,) * 5:
            await tx.record_answer_size(AnswerSize(TASK, size, cut=False, run_id=run_id))
    await _record(store, TASK, *[2_000] * 5)
    own = AnswerSizeBook(CountingReads(store), run_id=run_id)  # a resumed run, say
    other = AnswerSizeBook(CountingReads(store))
    assert (await own.history(TASK)).exact == (2_000,) * 5
    assert sorted((await other.history(TASK)).exact) == [2_000] * 5 + [9_000] * 5


async def test_the_book_reads_only_the_newest(store: Store) -> None:
    await _record(store, TASK, *range(100, 1_100, 100))
    book = AnswerSizeBook(CountingReads(store), limit=5)
    assert (await book.history(TASK)).exact == (1_000, 900, 800, 700, 600)
