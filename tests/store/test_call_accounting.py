"""Started calls in the audit trail: their worst case is reserved for the run until their real usage arrives.

The same behaviour on SQLite and PostgreSQL (``store`` is parametrized over both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from masterplan.models import LLMCallRecord, Run
from masterplan.store import Store

NewRun = Callable[[Store], Awaitable[Run]]
"""The ``new_run`` fixture (tests/conftest.py): inserts a fresh run into a store."""

WORST_CASE = Decimal("0.093125")


def _attempt(run_id: str, **fields: object) -> LLMCallRecord:
    return LLMCallRecord.model_validate(
        {
            "run_id": run_id,
            "task_id": "T01",
            "phase": "task_execution",
            "role": "developer",
            "prompt_name": "developer",
            "prompt_version": 1,
            "model": "claude-haiku-4-5",
            "worst_case_usd": WORST_CASE,
            **fields,
        }
    )


async def _run_and_calls(store: Store, run_id: str) -> tuple[Run, list[LLMCallRecord]]:
    async with store.transaction() as tx:
        return await tx.require_run(run_id), await tx.list_llm_calls(run_id)


async def test_a_started_call_reserves_its_worst_case_until_its_answer_is_recorded(
    store: Store, new_run: NewRun
) -> None:
    run = await new_run(store)
    async with store.transaction() as tx:
        call_id = await tx.start_llm_call(_attempt(run.id))

    started, [row] = await _run_and_calls(store, run.id)
    assert (row.id, row.outcome, row.worst_case_usd, row.cost_usd) == (call_id, "started", WORST_CASE, 0)
    assert (started.cost_usd, started.reserved_usd) == (0, WORST_CASE)

    answered = _attempt(run.id, id=call_id, input_tokens=900, output_tokens=1200, cost_usd=Decimal("0.0069"))
    async with store.transaction() as tx:
        recorded = await tx.record_llm_call(answered.model_copy(update={"usage_estimated": True}))

    finished, [row] = await _run_and_calls(store, run.id)
    assert recorded.id == row.id == call_id, "the answer completes the started row, it adds none"
    assert (row.outcome, row.input_tokens, row.output_tokens, row.usage_estimated) == ("ok", 900, 1200, True)
    assert (finished.cost_usd, finished.reserved_usd) == (Decimal("0.0069"), 0)
    assert finished.usage.input_tokens == 900


async def test_abandoned_calls_keep_their_worst_case_reserved(store: Store, new_run: NewRun) -> None:
    run = await new_run(store)
    async with store.transaction() as tx:
        first = await tx.start_llm_call(_attempt(run.id))
        await tx.record_llm_call(_attempt(run.id, id=first, output_tokens=10, cost_usd=Decimal("0.001")))
        await tx.start_llm_call(_attempt(run.id, attempt=1, task_id="T02"))
        await tx.start_llm_call(_attempt(run.id, attempt=2, task_id="T02"))

    async with store.transaction() as tx:
        abandoned = await tx.abandon_started_llm_calls(run.id)
        again = await tx.abandon_started_llm_calls(run.id)

    assert abandoned == (2, 2 * WORST_CASE)
    assert again == (0, 0)
    after, calls = await _run_and_calls(store, run.id)
    assert [call.outcome for call in calls] == ["ok", "abandoned", "abandoned"]
    assert calls[1].error is not None
    assert "stopped before the answer" in calls[1].error
    assert (after.cost_usd, after.reserved_usd) == (Decimal("0.001"), 2 * WORST_CASE)


async def test_a_call_recorded_without_a_start_is_inserted_whole(store: Store, new_run: NewRun) -> None:
    run = await new_run(store)
    async with store.transaction() as tx:
        recorded = await tx.record_llm_call(_attempt(run.id, output_tokens=5, cost_usd=Decimal("0.0002")))
    after, [row] = await _run_and_calls(store, run.id)
    assert row.id == recorded.id
    assert (row.outcome, row.usage_estimated) == ("ok", False)
    assert (after.cost_usd, after.reserved_usd) == (Decimal("0.0002"), 0)
