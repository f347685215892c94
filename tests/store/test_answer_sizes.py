"""Answer sizes in the store: recorded per completed answer, read back per key, newest first, across runs.

The same behaviour on SQLite and PostgreSQL (``store`` and ``database_url`` are parametrized over both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from masterplan.models import LLMCallRecord, Run
from masterplan.store import AnswerSample, AnswerSize, AnswerSizeKey, Store, open_store

NewRun = Callable[[Store], Awaitable[Run]]
"""The ``new_run`` fixture (tests/conftest.py): inserts a fresh run into a store."""

TASK = AnswerSizeKey("task_execution", "claude-haiku-4-5", "service", "medium")
PLAN = AnswerSizeKey("master_plan", "claude-sonnet-4-6")


async def _record(store: Store, *sizes: AnswerSize) -> None:
    async with store.transaction() as tx:
        for size in sizes:
            await tx.record_answer_size(size)


async def test_sizes_are_read_back_for_their_key_newest_first(store: Store, new_run: NewRun) -> None:
    run_id = (await new_run(store)).id
    await _record(
        store,
        AnswerSize(TASK, 4_000, cut=False, run_id=run_id),
        AnswerSize(PLAN, 6_500, cut=False, run_id=run_id),
        AnswerSize(TASK, 5_200, cut=False, parts=2, run_id=run_id),
        AnswerSize(TASK, 16_000, cut=True, parts=3, run_id=run_id),
    )
    async with store.transaction() as tx:
        task_sizes = await tx.recent_answer_sizes(TASK)
        plan_sizes = await tx.recent_answer_sizes(PLAN)
    assert task_sizes == [AnswerSample(16_000, True), AnswerSample(5_200, False), AnswerSample(4_000, False)]
    assert plan_sizes == [AnswerSample(6_500, False)]


async def test_a_key_without_task_type_matches_only_answers_without_one(store: Store) -> None:
    untyped = AnswerSizeKey("task_execution", "claude-haiku-4-5")
    other_type = AnswerSizeKey("task_execution", "claude-haiku-4-5", "api", "medium")
    other_model = AnswerSizeKey("task_execution", "claude-sonnet-4-6", "service", "medium")
    await _record(
        store,
        AnswerSize(TASK, 4_000, cut=False),
        AnswerSize(untyped, 3_000, cut=False),
        AnswerSize(other_type, 6_000, cut=False),
        AnswerSize(other_model, 9_000, cut=False),
    )
    async with store.transaction() as tx:
        assert await tx.recent_answer_sizes(untyped) == [AnswerSample(3_000, False)]
        assert await tx.recent_answer_sizes(other_type) == [AnswerSample(6_000, False)]
        phase_wide = await tx.recent_phase_answer_sizes("task_execution", "claude-haiku-4-5")
    assert [sample.output_tokens for sample in phase_wide] == [6_000, 3_000, 4_000]


async def test_only_the_newest_are_read(store: Store) -> None:
    await _record(store, *(AnswerSize(TASK, 1_000 + n, cut=False) for n in range(12)))
    async with store.transaction() as tx:
        newest = await tx.recent_answer_sizes(TASK, limit=5)
        phase_newest = await tx.recent_phase_answer_sizes(TASK.phase, TASK.model, limit=3)
    assert [sample.output_tokens for sample in newest] == [1_011, 1_010, 1_009, 1_008, 1_007]
    assert [sample.output_tokens for sample in phase_newest] == [1_011, 1_010, 1_009]


async def test_one_runs_answers_can_be_left_out(store: Store, new_run: NewRun) -> None:
    mine, other = (await new_run(store)).id, (await new_run(store)).id
    await _record(
        store,
        AnswerSize(TASK, 1_000, cut=False, run_id=mine),
        AnswerSize(TASK, 2_000, cut=False, run_id=other),
        AnswerSize(TASK, 3_000, cut=False),
    )
    async with store.transaction() as tx:
        exact = await tx.recent_answer_sizes(TASK, exclude_run_id=mine)
        wide = await tx.recent_phase_answer_sizes(TASK.phase, TASK.model, exclude_run_id=mine)
    assert [sample.output_tokens for sample in exact] == [3_000, 2_000]
    assert [sample.output_tokens for sample in wide] == [3_000, 2_000]


async def test_sizes_outlive_the_store_that_wrote_them(database_url: str, new_run: NewRun) -> None:
    first = await open_store(database_url, migrate=True)
    try:
        await _record(first, AnswerSize(PLAN, 7_000, cut=False, run_id=(await new_run(first)).id))
    finally:
        await first.close()
    second = await open_store(database_url, migrate=True)
    try:
        async with second.transaction() as tx:
            assert await tx.recent_answer_sizes(PLAN) == [AnswerSample(7_000, False)]
    finally:
        await second.close()


async def test_continuation_parts_are_told_apart_in_the_audit_trail(store: Store, new_run: NewRun) -> None:
    run_id = (await new_run(store)).id
    call = {
        "run_id": run_id,
        "phase": "master_plan",
        "role": "planner",
        "prompt_name": "planner",
        "prompt_version": 1,
        "model": "claude-sonnet-4-6",
    }
    async with store.transaction() as tx:
        await tx.record_llm_call(LLMCallRecord.model_validate({**call, "max_tokens": 8_000}))
        await tx.record_llm_call(LLMCallRecord.model_validate({**call, "part": 2, "attempt": 2, "max_tokens": 7_500}))
        calls = await tx.list_llm_calls(run_id)
    assert [(c.part, c.attempt, c.max_tokens) for c in calls] == [(1, 1, 8_000), (2, 2, 7_500)]
