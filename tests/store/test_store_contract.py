"""The store contract: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from decimal import Decimal

import pytest

from masterplan.models import (
    Artifact,
    DiscoveryQuestion,
    GeneratedFile,
    InvalidTransition,
    Learning,
    LLMCallRecord,
    PlanTask,
    Run,
    RunOptions,
    RunStatus,
    TaskOutput,
    TaskStatus,
)
from masterplan.store import NotFound, Store, StoreTx
from masterplan.store.connector import Transaction


def new_run(**options: object) -> Run:
    return Run(
        id=f"run-{uuid.uuid4().hex[:12]}",
        request="A task-tracking API with users and projects",
        options=RunOptions.model_validate(options),
        budget_usd=Decimal("20"),
        workspace="/tmp/workspace",
    )


def plan_task(task_id: str, depends_on: list[str] | None = None) -> PlanTask:
    return PlanTask(
        task_id=task_id,
        title=f"Build {task_id}",
        description="Write the module and its tests",
        phase="p1",
        milestone="m1",
        complexity="medium",
        task_type="model",
        depends_on=depends_on or [],
        files=[f"app/{task_id}.py"],
        acceptance=["tests pass"],
    )


async def create(store: Store, run: Run) -> Run:
    async with store.transaction() as tx:
        await tx.insert_run(run)
    return run


async def test_failed_transaction_leaves_neither_state_nor_event(store: Store) -> None:
    run = new_run()
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction() as tx:
            await tx.insert_run(run)
            await tx.append_event(run.id, "extra")
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        assert await tx.get_run(run.id) is None
        assert await tx.events_after(run.id) == []


async def test_status_change_and_its_event_are_written_together(store: Store) -> None:
    run = await create(store, new_run())
    async with store.transaction() as tx:
        updated, event = await tx.transition_run(run.id, RunStatus.DISCOVERING)
    assert updated.status is RunStatus.DISCOVERING
    async with store.transaction() as tx:
        stored = await tx.require_run(run.id)
        events = await tx.events_after(run.id)
    assert stored.status is RunStatus.DISCOVERING
    assert [(e.seq, e.type) for e in events] == [(1, "run.created"), (2, "run.status")]
    assert events[1] == event
    assert event.data == {"from": "queued", "status": "discovering"}


async def test_invalid_transition_raises_and_writes_nothing(store: Store) -> None:
    run = await create(store, new_run())
    with pytest.raises(InvalidTransition, match="cannot go from queued to completed"):
        async with store.transaction() as tx:
            await tx.transition_run(run.id, RunStatus.COMPLETED)
    async with store.transaction() as tx:
        assert (await tx.require_run(run.id)).status is RunStatus.QUEUED
        assert len(await tx.events_after(run.id)) == 1


async def test_event_seq_is_gap_free_under_twenty_concurrent_writers(store: Store) -> None:
    first, second = await create(store, new_run()), await create(store, new_run())

    async def writer(number: int) -> None:
        for index in range(5):
            async with store.transaction() as tx:
                run_id = first.id if (number + index) % 2 == 0 else second.id
                await tx.append_event(run_id, "test.write", {"writer": number, "index": index})
                await asyncio.sleep(0)

    await asyncio.gather(*(writer(number) for number in range(20)))
    for run in (first, second):
        async with store.transaction() as tx:
            events = await tx.events_after(run.id)
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
    async with store.transaction() as tx:
        total = len(await tx.events_after(first.id)) + len(await tx.events_after(second.id))
    assert total == 2 + 20 * 5


async def test_events_after_returns_only_newer_events_in_order(store: Store) -> None:
    run = await create(store, new_run())
    async with store.transaction() as tx:
        for index in range(5):
            await tx.append_event(run.id, "tick", {"index": index})
        newer = await tx.events_after(run.id, after=3, limit=2)
    assert [event.seq for event in newer] == [4, 5]


async def test_event_for_unknown_run_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no run with id 'missing'"):
        async with store.transaction() as tx:
            await tx.append_event("missing", "tick")


async def test_json_columns_round_trip_models_exactly(store: Store) -> None:
    run = new_run(tasks=30, qa="task", budget_usd="7.125", checks=["python -m pytest -q"])
    run = run.model_copy(
        update={
            "questions": [DiscoveryQuestion(id="q1", question="Who are the users? ü", default_assumption="staff")],
            "answers": {"q1": "Teams of 5–50 people \N{ROCKET}"},
        }
    )
    await create(store, run)
    output = TaskOutput(
        files=[GeneratedFile(path="app/models.py", content='"""Models."""\nNAME = "naïve \\u00e9"\n')],
        summary="Built the models",
        notes="multi\nline",
    )
    async with store.transaction() as tx:
        await tx.set_discovery(run.id, run.questions, run.answers)
        [state] = await tx.insert_tasks(run.id, [plan_task("t1")])
        state = await tx.update_task(
            state.model_copy(
                update={
                    "status": TaskStatus.COMPLETED,
                    "output": output,
                    "attempts": 2,
                    "cost_usd": Decimal("0.012345678"),
                    "check_passed": True,
                }
            )
        )
        event = await tx.append_event(run.id, "nested", {"a": [1, 2.5, {"b": None, "c": "ü"}], "big": 2**53})
    async with store.transaction() as tx:
        stored_run = await tx.require_run(run.id)
        stored_task = await tx.get_task(run.id, "t1")
        [_, stored_event] = await tx.events_after(run.id)
    assert stored_run.options == run.options
    assert stored_run.questions == run.questions
    assert stored_run.answers == run.answers
    assert stored_task == state
    assert stored_event == event


async def test_llm_calls_are_recorded_and_added_to_the_run(store: Store) -> None:
    run = await create(store, new_run())
    records = [
        LLMCallRecord(
            run_id=run.id,
            task_id="t1",
            phase="task_execution",
            role="developer",
            prompt_name="developer",
            prompt_version=1,
            model="claude-haiku-4-5",
            input_tokens=1200 + index,
            cache_write_tokens=4100,
            cache_write_1h_tokens=4100 if index == 0 else 0,
            cache_read_tokens=0 if index == 0 else 4100,
            output_tokens=5000,
            cost_usd=Decimal("0.0321234") + Decimal(index) / Decimal(10**9),
            latency_ms=812.5,
            ttft_ms=120.25,
            attempt=index + 1,
            outcome="ok" if index else "overloaded",
            error=None if index else "529 overloaded",
            request_id=f"req_{index}",
        )
        for index in range(3)
    ]
    async with store.transaction() as tx:
        stored = [await tx.record_llm_call(record) for record in records]
    async with store.transaction() as tx:
        listed = await tx.list_llm_calls(run.id)
        totals = await tx.require_run(run.id)
    assert [record.id for record in listed] == [record.id for record in stored]
    assert [record.model_copy(update={"id": None}) for record in listed] == records
    assert totals.cost_usd == sum((record.cost_usd for record in records), Decimal(0))
    assert totals.usage.input_tokens == sum(record.input_tokens for record in records)
    assert totals.usage.cache_read_tokens == 8200
    assert totals.usage.output_tokens == 15000


async def test_a_prompt_changes_only_by_new_versions(store: Store) -> None:
    async with store.transaction() as tx:
        original = await tx.get_prompt("developer")
        same, created_same = await tx.put_prompt("developer", original.body)
        changed, created_changed = await tx.put_prompt("developer", original.body + "\nAlways write tests.")
    assert not created_same
    assert same.version == original.version
    assert created_changed
    assert changed.version == original.version + 1
    async with store.transaction() as tx:
        assert (await tx.get_prompt("developer")).body.endswith("Always write tests.")
        assert (await tx.get_prompt("developer", original.version)).body == original.body
        versions = await tx.list_prompt_versions("developer")
        latest = {prompt.name: prompt.version for prompt in await tx.list_prompts()}
    assert [prompt.version for prompt in versions] == [original.version, changed.version]
    assert latest["developer"] == changed.version


async def test_phase_configurations_are_loaded_and_versioned(store: Store) -> None:
    async with store.transaction() as tx:
        config = await tx.get_phase_config("task_execution")
        version, created = await tx.put_phase_config(config)
        new_version, new_created = await tx.put_phase_config(config.model_copy(update={"max_tokens": 8000}))
        phases = {item.phase for item in await tx.list_phase_configs()}
    assert config.role == "developer"
    assert config.model_class == "fast"
    assert not created
    assert new_created
    assert new_version == version + 1
    assert {"discovery_questions", "domain_model", "master_plan", "task_execution", "qa_review"} <= phases


async def test_artifacts_are_replaced_by_name(store: Store) -> None:
    run = await create(store, new_run())
    async with store.transaction() as tx:
        await tx.put_artifact(Artifact(run_id=run.id, name="REPORT.md", content="# v1"))
        await tx.put_artifact(Artifact(run_id=run.id, name="REPORT.md", content="# v2"))
        await tx.put_artifact(Artifact(run_id=run.id, name="plan.json", content_type="application/json", content="{}"))
        names = [artifact.name for artifact in await tx.list_artifacts(run.id)]
        report = await tx.get_artifact(run.id, "REPORT.md")
    assert names == ["REPORT.md", "plan.json"]
    assert report is not None
    assert report.content == "# v2"


async def test_learnings_of_other_runs_are_found_by_their_words(store: Store) -> None:
    earlier, current = await create(store, new_run()), await create(store, new_run())
    async with store.transaction() as tx:
        await tx.add_learning(
            Learning(run_id=earlier.id, task_id="t1", text="Project repository with SQLite persistence", files=["a"])
        )
        await tx.add_learning(Learning(run_id=earlier.id, task_id="t2", text="Invoice PDF rendering", files=["b"]))
        await tx.add_learning(Learning(run_id=current.id, task_id="t1", text="Project repository again", files=[]))
        found = await tx.search_learnings("a repository for projects", exclude_run_id=current.id)
        nothing = await tx.search_learnings("-- ' OR 1=1 --", exclude_run_id=current.id)
    assert [learning.task_id for learning in found] == ["t1"]
    assert found[0].run_id == earlier.id
    assert found[0].files == ["a"]
    assert nothing == []


async def test_unfinished_runs_are_listed_for_resume(store: Store) -> None:
    done, running = await create(store, new_run()), await create(store, new_run())
    async with store.transaction() as tx:
        await tx.transition_run(done.id, RunStatus.CANCELLED)
        await tx.transition_run(running.id, RunStatus.DISCOVERING)
        unfinished = [run.id for run in await tx.list_unfinished_runs()]
    assert running.id in unfinished
    assert done.id not in unfinished


async def test_a_batch_commits_its_writes_together_and_returns_its_result(store: Store) -> None:
    run = await create(store, new_run())

    async def two_events(raw: Transaction) -> list[int]:
        tx = StoreTx(raw)
        return [(await tx.append_event(run.id, "batch.one")).seq, (await tx.append_event(run.id, "batch.two")).seq]

    seqs = await store.connector.run_batch(two_events)

    async with store.transaction() as tx:
        stored = [(event.seq, event.type) for event in await tx.events_after(run.id)]
    assert stored[-2:] == [(seqs[0], "batch.one"), (seqs[1], "batch.two")]


async def test_a_failing_batch_writes_nothing(store: Store) -> None:
    run = await create(store, new_run())

    async def half_done(raw: Transaction) -> None:
        tx = StoreTx(raw)
        await tx.append_event(run.id, "batch.first")
        await tx.append_event("no-such-run", "batch.second")

    with pytest.raises(NotFound):
        await store.connector.run_batch(half_done)

    async with store.transaction() as tx:
        assert "batch.first" not in [event.type for event in await tx.events_after(run.id)]


async def test_batches_and_transactions_interleave_without_losing_a_seq(store: Store) -> None:
    run = await create(store, new_run())

    async def one_event(raw: Transaction) -> None:
        await StoreTx(raw).append_event(run.id, "from.batch")

    async def through_transaction() -> None:
        async with store.transaction() as tx:
            await tx.append_event(run.id, "from.transaction")

    await asyncio.gather(
        *(store.connector.run_batch(one_event) for _ in range(10)), *(through_transaction() for _ in range(10))
    )

    async with store.transaction() as tx:
        seqs = [event.seq for event in await tx.events_after(run.id)]
    assert seqs == list(range(1, 22))


async def test_tasks_are_counted_by_status_without_loading_them(store: Store) -> None:
    run = await create(store, new_run())
    async with store.transaction() as tx:
        assert set((await tx.count_tasks(run.id)).values()) == {0}
        states = await tx.insert_tasks(run.id, [plan_task(f"t{i}") for i in range(5)])
        await tx.update_task(states[0].model_copy(update={"status": TaskStatus.COMPLETED}))
        await tx.update_task(states[1].model_copy(update={"status": TaskStatus.COMPLETED}))
        await tx.update_task(states[2].model_copy(update={"status": TaskStatus.FAILED}))

        counts = await tx.count_tasks(run.id)

    assert counts[TaskStatus.COMPLETED] == 2
    assert counts[TaskStatus.FAILED] == 1
    assert counts[TaskStatus.PENDING] == 2
    assert sum(counts.values()) == 5


async def test_a_transaction_cancelled_at_any_step_leaves_the_store_usable_and_unchanged(store: Store) -> None:
    """A client that leaves cancels its request's transaction wherever it is: at BEGIN, mid-block, at COMMIT.

    Nothing is reported to the loop either: a boundary cut short would make
    asyncpg's pool log "Resetting connection with an active transaction".
    """
    run = await create(store, new_run())
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(str(context.get("message"))))

    async def append_two() -> None:
        async with store.transaction() as tx:
            await tx.append_event(run.id, "test.first")
            await tx.append_event(run.id, "test.second")

    async def cancel_after(steps: int, seconds: float) -> None:
        attempt = asyncio.create_task(append_two())
        for _ in range(steps):
            await asyncio.sleep(0)
        await asyncio.sleep(seconds)
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await attempt

    try:
        # loop steps reach each await of the block; real delays reach the server's replies
        cancel_points = [(steps, 0.0) for steps in range(12)] + [(0, 0.0002 * tenth) for tenth in range(1, 20)]
        for steps, seconds in cancel_points:
            await cancel_after(steps, seconds)
            async with store.transaction() as tx:
                types = [event.type for event in await tx.events_after(run.id)]
            # each attempt added both of its events or neither
            assert types.count("test.first") == types.count("test.second"), (steps, seconds, types)
        await append_two()
        async with store.transaction() as tx:
            assert (await tx.events_after(run.id))[-1].type == "test.second"
    finally:
        loop.set_exception_handler(None)
    assert reported == []
