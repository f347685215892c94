"""The store: masterplan's state, written once on top of any connector.

Every state change and the event that describes it are written in one
transaction (``StoreTx``), and an event's ``seq`` is allocated inside that
transaction from the run's row, so seqs are per run, gap-free, and a crash never
leaves a state without its event or an event without its state.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from masterplan.models import (
    Artifact,
    BatchedCall,
    BatchRecord,
    DiscoveryQuestion,
    Event,
    Learning,
    LLMCallRecord,
    PhaseConfig,
    PlanTask,
    RolePrompt,
    Run,
    RunStatus,
    TaskState,
    TaskStatus,
    Usage,
    check_transition,
    utcnow,
)
from masterplan.store.answer_sizes import AnswerSizeQueries
from masterplan.store.codec import dump_json, from_nano, load_json, to_nano
from masterplan.store.connector import Connector, Row, Transaction
from masterplan.store.errors import NotFound

_WORD = re.compile(r"[A-Za-z0-9]{3,}")
MAX_SEARCH_TERMS = 24


class Store:
    """Opens a connector and hands out ``StoreTx`` units of work."""

    def __init__(self, connector: Connector, description: str) -> None:
        self.connector = connector
        self.description = description

    @property
    def dialect(self) -> str:
        return self.connector.dialect

    async def open(self) -> None:
        await self.connector.open()

    async def close(self) -> None:
        await self.connector.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTx]:
        async with self.connector.transaction() as tx:
            yield StoreTx(tx)


class StoreTx(AnswerSizeQueries):
    """Everything masterplan reads and writes, inside one transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    @property
    def raw(self) -> Transaction:
        return self._tx

    # ------------------------------------------------------------------ runs

    async def insert_run(self, run: Run) -> Event:
        await self._tx.execute(
            "insert_run",
            id=run.id,
            request=run.request,
            options=dump_json(run.options),
            status=run.status.value,
            budget_nanousd=to_nano(run.budget_usd),
            workspace=run.workspace,
            questions=dump_json(run.questions),
            answers=dump_json(run.answers),
            created_at=run.created_at,
            updated_at=run.updated_at,
        )
        return await self.append_event(run.id, "run.created", {"status": run.status.value, "request": run.request})

    async def get_run(self, run_id: str) -> Run | None:
        row = await self._tx.fetch_one("get_run", id=run_id)
        return _run(row) if row is not None else None

    async def require_run(self, run_id: str, *, for_update: bool = False) -> Run:
        row = await self._tx.fetch_one("get_run_for_update" if for_update else "get_run", id=run_id)
        if row is None:
            raise NotFound(f"no run with id {run_id!r}")
        return _run(row)

    async def list_runs(self, limit: int = 100) -> list[Run]:
        return [_run(row) for row in await self._tx.fetch_all("list_runs", limit=limit)]

    async def list_unfinished_runs(self) -> list[Run]:
        return [_run(row) for row in await self._tx.fetch_all("list_unfinished_runs")]

    async def transition_run(
        self, run_id: str, target: RunStatus, *, error: str | None = None, data: dict[str, Any] | None = None
    ) -> tuple[Run, Event]:
        """Move a run to ``target`` (InvalidTransition if not allowed) and record ``run.status``."""
        run = await self.require_run(run_id, for_update=True)
        check_transition(run.status, target)
        now = utcnow()
        await self._tx.execute("update_run_status", id=run_id, status=target.value, error=error, updated_at=now)
        payload: dict[str, Any] = {"from": run.status.value, "status": target.value, **(data or {})}
        if error is not None:
            payload["error"] = error
        event = await self.append_event(run_id, "run.status", payload)
        return run.model_copy(update={"status": target, "error": error, "updated_at": now}), event

    async def set_discovery(self, run_id: str, questions: list[DiscoveryQuestion], answers: dict[str, str]) -> None:
        await self._tx.execute(
            "update_run_discovery",
            id=run_id,
            questions=dump_json(questions),
            answers=dump_json(answers),
            updated_at=utcnow(),
        )

    # ---------------------------------------------------------------- events

    async def append_event(self, run_id: str, type_: str, data: dict[str, Any] | None = None) -> Event:
        row = await self._tx.fetch_one("next_event_seq", run_id=run_id)
        if row is None:
            raise NotFound(f"no run with id {run_id!r}")
        event = Event(run_id=run_id, seq=int(row["seq"]), type=type_, ts=utcnow(), data=data or {})
        await self._tx.execute(
            "insert_event", run_id=run_id, seq=event.seq, type=type_, ts=event.ts, data=dump_json(event.data)
        )
        return event

    async def events_after(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[Event]:
        rows = await self._tx.fetch_all("events_after", run_id=run_id, after=after, limit=limit)
        return [
            Event(run_id=row["run_id"], seq=row["seq"], type=row["type"], ts=row["ts"], data=load_json(row["data"]))
            for row in rows
        ]

    # ----------------------------------------------------------------- tasks

    async def insert_tasks(self, run_id: str, tasks: list[PlanTask]) -> list[TaskState]:
        states = [
            TaskState(run_id=run_id, task_id=task.task_id, position=index, definition=task)
            for index, task in enumerate(tasks)
        ]
        for state in states:
            await self._tx.execute("insert_task", **_task_params(state))
        return states

    async def update_task(self, state: TaskState) -> TaskState:
        state = state.model_copy(update={"updated_at": utcnow()})
        await self._tx.execute("update_task", **_task_params(state))
        return state

    async def get_task(self, run_id: str, task_id: str) -> TaskState:
        row = await self._tx.fetch_one("get_task", run_id=run_id, task_id=task_id)
        if row is None:
            raise NotFound(f"run {run_id!r} has no task {task_id!r}")
        return _task(row)

    async def list_tasks(self, run_id: str) -> list[TaskState]:
        return [_task(row) for row in await self._tx.fetch_all("list_tasks", run_id=run_id)]

    async def finished_task_attempts(self, *, exclude_run_id: str = "") -> tuple[int, int]:
        """(tasks, answers asked) over the completed and failed tasks of every run but ``exclude_run_id``."""
        row = await self._tx.fetch_one("finished_task_attempts", exclude_run_id=exclude_run_id)
        return (int(row["tasks"]), int(row["attempts"])) if row is not None else (0, 0)

    async def recent_call_speeds(
        self, model: str, *, limit: int = 200, exclude_run_id: str = ""
    ) -> list[tuple[float, float, int]]:
        """(latency ms, time to first token ms, output tokens) of the model's newest answered calls."""
        rows = await self._tx.fetch_all("recent_call_speeds", model=model, limit=limit, exclude_run_id=exclude_run_id)
        return [(float(row["latency_ms"]), float(row["ttft_ms"]), int(row["output_tokens"])) for row in rows]

    async def count_tasks(self, run_id: str) -> dict[TaskStatus, int]:
        """How many of the run's tasks are in each status (every status present, zero when none)."""
        counts = dict.fromkeys(TaskStatus, 0)
        for row in await self._tx.fetch_all("count_tasks_by_status", run_id=run_id):
            counts[TaskStatus(row["status"])] = int(row["tasks"])
        return counts

    # ------------------------------------------------------------- llm calls

    async def record_llm_call(self, record: LLMCallRecord) -> LLMCallRecord:
        """Add the attempt to the audit trail and its usage and cost to its run.

        A record with an ``id`` finishes the row ``start_llm_call`` wrote: its real usage replaces the
        worst case, which leaves the run's reserve. A record without one is inserted as it is.
        """
        released = 0
        if record.id is not None:
            row = await self._tx.fetch_one("finish_started_llm_call", **_call_params(record))
            if row is not None:
                released = int(row["worst_case_nanousd"])
        if record.id is not None and row is None and await self._tx.fetch_one("llm_call_exists", id=record.id):
            return record  # finished already: a resumed batch-mode run reading its batch's answer again
        if record.id is None or row is None:
            row = await self._tx.fetch_one("insert_accounted_llm_call", **_call_params(record))
            assert row is not None
            record = record.model_copy(update={"id": int(row["id"])})
        if record.run_id is not None:
            await self._tx.execute(
                "settle_run_usage",
                id=record.run_id,
                cost_nanousd=to_nano(record.cost_usd),
                released_nanousd=released,
                input_tokens=record.input_tokens,
                cache_write_tokens=record.cache_write_tokens,
                cache_read_tokens=record.cache_read_tokens,
                output_tokens=record.output_tokens,
                updated_at=utcnow(),
            )
        return record

    async def start_llm_call(self, record: LLMCallRecord) -> int:
        """Write the attempt as ``started`` before it is sent, its worst case added to the run's reserve.

        Until ``record_llm_call`` finishes the row (or ``abandon_started_llm_calls`` gives it up), the
        worst case counts as spent for the run's budget, even across a crash. Returns the row's id.
        """
        started = record.model_copy(update={"outcome": "started", "cost_usd": Decimal(0)})
        row = await self._tx.fetch_one("insert_accounted_llm_call", **_call_params(started))
        assert row is not None
        if record.run_id is not None:
            await self._tx.execute(
                "reserve_run_spend", id=record.run_id, worst_case_nanousd=to_nano(record.worst_case_usd)
            )
        return int(row["id"])

    async def abandon_started_llm_calls(self, run_id: str) -> tuple[int, Decimal]:
        """Mark the run's ``started`` attempts ``abandoned`` (their answers will never be read).

        For a run nobody drives any more (a resume after a stop or a crash). Their worst case stays in the
        run's reserve: the provider may have billed them, and only it knows how much. Returns how many
        there were and the sum of their worst cases.
        """
        rows = await self._tx.fetch_all(
            "abandon_started_llm_calls",
            run_id=run_id,
            error="the service stopped before the answer arrived; its worst case stays counted as spent",
        )
        return len(rows), sum((from_nano(row["worst_case_nanousd"]) for row in rows), Decimal(0))

    async def record_batch(self, batch: BatchRecord, call_ids: Sequence[int]) -> None:
        """The batch the API just created, and the started attempts it carries."""
        await self._tx.execute(
            "insert_batch",
            id=batch.id,
            run_id=batch.run_id,
            requests=batch.requests,
            status=batch.status,
            created_at=batch.created_at,
        )
        for call_id in call_ids:
            await self._tx.execute("assign_llm_call_batch", id=call_id, batch_id=batch.id)

    async def end_batch(self, batch_id: str) -> bool:
        """Marks the batch ended; False if it was already, or is no batch of the store."""
        return await self._tx.fetch_one("end_batch", id=batch_id, status="ended", ended_at=utcnow()) is not None

    async def list_batches(self, run_id: str) -> list[BatchRecord]:
        return [BatchRecord.model_validate(row) for row in await self._tx.fetch_all("list_batches", run_id=run_id)]

    async def find_batched_call(self, run_id: str, custom_id: str) -> BatchedCall | None:
        """The run's newest attempt sent in a batch as ``custom_id``, if any."""
        row = await self._tx.fetch_one("batched_llm_call", run_id=run_id, custom_id=custom_id)
        if row is None:
            return None
        pending = row["outcome"] in ("started", "abandoned")
        return BatchedCall(
            call_id=int(row["id"]),
            batch_id=row["batch_id"],
            outcome=row["outcome"],
            counted_usd=from_nano(row["worst_case_nanousd"] if pending else row["cost_nanousd"]),
        )

    async def list_llm_calls(self, run_id: str) -> list[LLMCallRecord]:
        rows = await self._tx.fetch_all("list_llm_calls", run_id=run_id)
        return [_llm_call(row) for row in rows]

    # ------------------------------------------------------------- artifacts

    async def put_artifact(self, artifact: Artifact) -> None:
        await self._tx.execute("upsert_artifact", **artifact.model_dump())

    async def get_artifact(self, run_id: str, name: str) -> Artifact | None:
        row = await self._tx.fetch_one("get_artifact", run_id=run_id, name=name)
        return Artifact.model_validate(row) if row is not None else None

    async def list_artifacts(self, run_id: str) -> list[Artifact]:
        return [Artifact.model_validate(row) for row in await self._tx.fetch_all("list_artifacts", run_id=run_id)]

    # --------------------------------------------------- prompts and configs

    async def lock(self, key: int) -> None:
        """Serialise with other processes doing the same work (Postgres advisory lock)."""
        await self._tx.fetch_one("advisory_lock", key=key)

    async def put_prompt(self, name: str, body: str) -> tuple[RolePrompt, bool]:
        """Store ``body`` as the newest version of ``name``; (prompt, created) — unchanged text is not a version."""
        digest = hashlib.sha256(body.encode()).hexdigest()
        latest = await self._tx.fetch_one("latest_prompt", name=name)
        if latest is not None and latest["sha256"] == digest:
            return RolePrompt.model_validate(latest), False
        prompt = RolePrompt(name=name, version=(latest["version"] + 1 if latest else 1), body=body, sha256=digest)
        await self._tx.execute("insert_prompt", **prompt.model_dump())
        return prompt, True

    async def get_prompt(self, name: str, version: int | None = None) -> RolePrompt:
        if version is None:
            row = await self._tx.fetch_one("latest_prompt", name=name)
        else:
            row = await self._tx.fetch_one("get_prompt_version", name=name, version=version)
        if row is None:
            suffix = f" version {version}" if version is not None else ""
            raise NotFound(f"no role prompt {name!r}{suffix}")
        return RolePrompt.model_validate(row)

    async def list_prompts(self) -> list[RolePrompt]:
        return [RolePrompt.model_validate(row) for row in await self._tx.fetch_all("list_latest_prompts")]

    async def list_prompt_versions(self, name: str) -> list[RolePrompt]:
        rows = await self._tx.fetch_all("list_prompt_versions", name=name)
        return [RolePrompt.model_validate(row) for row in rows]

    async def put_phase_config(self, config: PhaseConfig) -> tuple[int, bool]:
        body = dump_json(config)
        assert body is not None
        digest = hashlib.sha256(body.encode()).hexdigest()
        latest = await self._tx.fetch_one("latest_phase_config", phase=config.phase)
        if latest is not None and latest["sha256"] == digest:
            return int(latest["version"]), False
        version = latest["version"] + 1 if latest else 1
        await self._tx.execute(
            "insert_phase_config",
            phase=config.phase,
            version=version,
            config=body,
            sha256=digest,
            created_at=utcnow(),
        )
        return version, True

    async def get_phase_config(self, phase: str) -> PhaseConfig:
        row = await self._tx.fetch_one("latest_phase_config", phase=phase)
        if row is None:
            raise NotFound(f"no phase configuration {phase!r}; run `masterplan migrate`")
        return PhaseConfig.model_validate(load_json(row["config"]))

    async def list_phase_configs(self) -> list[PhaseConfig]:
        rows = await self._tx.fetch_all("list_latest_phase_configs")
        return [PhaseConfig.model_validate(load_json(row["config"])) for row in rows]

    # ------------------------------------------------------------- learnings

    async def add_learning(self, learning: Learning) -> Learning:
        row = await self._tx.fetch_one(
            "insert_learning",
            run_id=learning.run_id,
            task_id=learning.task_id,
            text=learning.text,
            files=dump_json(learning.files),
            created_at=learning.created_at,
        )
        assert row is not None
        return learning.model_copy(update={"id": int(row["id"])})

    async def search_learnings(self, text: str, *, exclude_run_id: str = "", limit: int = 5) -> list[Learning]:
        """Learnings of other runs that share words with ``text``, best first (FTS5 / tsvector)."""
        words = list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:MAX_SEARCH_TERMS]
        if not words:
            return []
        terms = " OR ".join(f'"{word}"' for word in words)
        rows = await self._tx.fetch_all("search_learnings", terms=terms, exclude_run_id=exclude_run_id, limit=limit)
        return [_learning(row) for row in rows]

    # ---------------------------------------------------------------- health

    async def ping(self) -> None:
        await self._tx.fetch_one("ping")

    async def probe_write(self) -> None:
        """A write that changes nothing; raises if the database accepts reads only."""
        await self._tx.execute("write_probe")


# ------------------------------------------------------------------- rows


def _run(row: Row) -> Run:
    return Run(
        id=row["id"],
        request=row["request"],
        options=load_json(row["options"]),
        status=RunStatus(row["status"]),
        budget_usd=from_nano(row["budget_nanousd"]),
        cost_usd=from_nano(row["cost_nanousd"]),
        reserved_usd=from_nano(row["reserved_nanousd"]),
        usage=Usage(
            input_tokens=row["input_tokens"],
            cache_write_tokens=row["cache_write_tokens"],
            cache_read_tokens=row["cache_read_tokens"],
            output_tokens=row["output_tokens"],
        ),
        workspace=row["workspace"],
        error=row["error"],
        questions=load_json(row["questions"]),
        answers=load_json(row["answers"]),
        last_event_seq=row["last_event_seq"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _task_params(state: TaskState) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "task_id": state.task_id,
        "position": state.position,
        "definition": dump_json(state.definition),
        "status": state.status.value,
        "attempts": state.attempts,
        "model": state.model,
        "cost_nanousd": to_nano(state.cost_usd),
        "output": dump_json(state.output),
        "check_passed": state.check_passed,
        "error": state.error,
        "updated_at": state.updated_at,
    }


def _task(row: Row) -> TaskState:
    return TaskState(
        run_id=row["run_id"],
        task_id=row["task_id"],
        position=row["position"],
        definition=load_json(row["definition"]),
        status=TaskStatus(row["status"]),
        attempts=row["attempts"],
        model=row["model"],
        cost_usd=from_nano(row["cost_nanousd"]),
        output=load_json(row["output"]),
        check_passed=None if row["check_passed"] is None else bool(row["check_passed"]),
        error=row["error"],
        updated_at=row["updated_at"],
    )


def _call_params(record: LLMCallRecord) -> dict[str, Any]:
    params = record.model_dump(exclude={"cost_usd", "worst_case_usd"})
    params.update(cost_nanousd=to_nano(record.cost_usd), worst_case_nanousd=to_nano(record.worst_case_usd))
    return params


def _llm_call(row: Row) -> LLMCallRecord:
    values = dict(row)
    values["cost_usd"] = from_nano(values.pop("cost_nanousd"))
    values["worst_case_usd"] = from_nano(values.pop("worst_case_nanousd"))
    values["usage_estimated"] = bool(values["usage_estimated"])
    values["structured_output"] = bool(values["structured_output"])
    return LLMCallRecord.model_validate(values)


def _learning(row: Row) -> Learning:
    values = dict(row)
    values["files"] = load_json(values["files"])
    return Learning.model_validate(values)
