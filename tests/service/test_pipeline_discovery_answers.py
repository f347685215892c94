"""Discovery without auto_answer: the run asks, waits without a driver, and goes on once answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service
from masterplan.service.errors import RunConflict, RunNotFound

from .pipeline_helpers import QUICK_CHECKS, load_record, run_request, service_settings, simulator

TASKS = 3
ASKING = run_request(TASKS, auto_answer=False, checks=QUICK_CHECKS)
"""A run that asks its questions and waits for the answers."""


async def test_run_without_auto_answer_waits_with_its_questions_and_no_driver(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        created = await service.create(ASKING)
        run = await service.wait(created.id)

        assert run.status is RunStatus.AWAITING_ANSWERS
        assert run.questions
        assert run.answers == {}
        assert service.active_runs == 0
        assert sim.stats()["requests_by_role"] == {"discovery_questions": 1}
        record = await load_record(service.store, run.id)
        waiting = record.events_of("run.status")[-1]
        assert waiting.data["status"] == "awaiting_answers"
        assert [q["id"] for q in waiting.data["questions"]] == [q.id for q in run.questions]
        assert await service.resume_unfinished() == []
        assert service.active_runs == 0


async def test_answers_are_checked_against_the_runs_questions(sqlite_url: str, tmp_path: Path) -> None:
    async with simulator() as sim, open_service(service_settings(sim, sqlite_url, tmp_path / "ws")) as service:
        run = await service.wait((await service.create(ASKING)).id)
        known = run.questions[0].id

        with pytest.raises(RunConflict, match="unknown question ids: no_such_question"):
            await service.answer(run.id, {known: "PostgreSQL", "no_such_question": "yes"})
        with pytest.raises(RunConflict, match=f"empty answers for: {known}"):
            await service.answer(run.id, {known: "  "})
        with pytest.raises(RunNotFound):
            await service.answer("no-such-run", {known: "PostgreSQL"})

        still = await service.get(run.id)
        assert still.status is RunStatus.AWAITING_ANSWERS
        assert still.answers == {}
        assert service.active_runs == 0
        assert sim.stats()["requests_by_role"] == {"discovery_questions": 1}


async def test_answered_run_completes_after_a_restart_and_takes_no_more_answers(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with simulator() as sim:
        settings = service_settings(sim, sqlite_url, tmp_path / "ws")
        async with open_service(settings) as service:
            run = await service.wait((await service.create(ASKING)).id)
        first, *others = run.questions
        async with open_service(settings) as service:
            answered = await service.answer(run.id, {first.id: "Store everything in SQLite, please"})
            assert answered.status is RunStatus.DISCOVERING
            run = await service.wait(run.id)

            assert run.status is RunStatus.COMPLETED, run.error
            assert run.answers[first.id] == "Store everything in SQLite, please"
            for question in others:
                assert run.answers[question.id] == question.default_assumption
            record = await load_record(service.store, run.id)
            assert "Store everything in SQLite, please" in record.artifacts["DISCOVERY.md"].content
            assert [e.data["answers"] for e in record.events_of("discovery.answers")] == [run.answers]
            roles = sim.stats()["requests_by_role"]
            assert roles["discovery_questions"] == 1
            assert roles["domain_model"] == 1
            assert "discovery_assumptions" not in roles

            with pytest.raises(RunConflict, match="not awaiting answers"):
                await service.answer(run.id, {first.id: "too late"})
            assert (await service.get(run.id)).answers == run.answers
