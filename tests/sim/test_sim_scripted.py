"""The scripted model: roles recognised from the request, answers valid for masterplan's schemas."""

from __future__ import annotations

import orjson
import pytest
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, system_for, user_blocks

from masterplan import models
from masterplan.sim import SimulatorHandle
from masterplan.sim.roles import recognise_role
from masterplan.sim.scripted.domain import domain_model
from masterplan.sim.scripted.plan import master_plan

REQUEST = "An inventory service for warehouses: products, suppliers, purchase orders and shipments."
PROJECT = f"<project><request>{REQUEST}</request></project>"


@pytest.mark.parametrize(
    ("schema", "tail", "role"),
    [
        ("DiscoveryQuestions", "<request>x</request>", "discovery_questions"),
        ("DiscoveryAssumptions", "<questions>[]</questions>", "discovery_assumptions"),
        ("DiscoveryDocument", "<answers>{}</answers>", "domain_model"),
        ("MasterPlan", "<target_tasks>12</target_tasks>", "master_plan"),
        ("MasterPlan", "<feedback>T03 depends on T99, which does not exist</feedback>", "repair"),
        ("TaskOutput", "<task>{}</task>", "task_execution"),
        ("QAReport", "<task_output>{}</task_output>", "qa_review"),
        ("PhaseSummary", "<phase_tasks>[]</phase_tasks>", "phase_summary"),
    ],
)
def test_the_role_comes_from_the_output_schema_and_feedback(schema: str, tail: str, role: str) -> None:
    system = system_for(schema)[0]["text"]
    assert recognise_role(system, tail) == role


def plan_for(target: int) -> models.MasterPlan:
    document = orjson.dumps(domain_model(REQUEST, None, seed=0)).decode()
    return models.MasterPlan.model_validate(master_plan(REQUEST, document, str(target), seed=0))


@pytest.mark.parametrize("target", [1, 3, 12, 25, 50, 100])
def test_the_plan_has_the_asked_number_of_tasks_in_a_valid_dag(target: int) -> None:
    plan = plan_for(target)
    assert len(plan.tasks) == target
    seen: set[str] = set()
    for task in plan.tasks:
        assert set(task.depends_on) <= seen  # dependencies come earlier: no cycle, nothing unknown
        seen.add(task.task_id)
    assert {task.phase for task in plan.tasks} == {phase.phase_id for phase in plan.phases}
    assert {task.milestone for task in plan.tasks} <= {m.milestone_id for m in plan.milestones}
    files = [path for task in plan.tasks for path in task.files]
    assert len(files) == len(set(files))  # no two tasks write the same file
    assert plan.tasks[0].task_type == "setup"
    assert "pyproject.toml" in plan.tasks[0].files


def test_a_big_plan_has_chains_and_fan_out() -> None:
    plan = plan_for(50)
    dependents: dict[str, int] = {}
    for task in plan.tasks:
        for dep in task.depends_on:
            dependents[dep] = dependents.get(dep, 0) + 1
    depth: dict[str, int] = {}
    for task in plan.tasks:
        depth[task.task_id] = 1 + max((depth[d] for d in task.depends_on), default=0)
    assert max(dependents.values()) >= 5
    assert max(depth.values()) >= 5
    assert any(len(task.depends_on) >= 3 for task in plan.tasks)


def test_the_domain_model_is_built_from_the_requests_nouns() -> None:
    document = models.DiscoveryDocument.model_validate(domain_model(REQUEST, None, seed=0))
    names = [entity.name for entity in document.entities]
    assert names[:4] == ["Inventory", "Warehouse", "Product", "Supplier"]
    assert all(entity.attributes for entity in document.entities)


async def test_answers_are_deterministic_for_a_seed_and_request(client: AsyncAnthropic, sim: SimulatorHandle) -> None:
    kwargs = {
        "model": STRONG_MODEL, "max_tokens": 16000, "system": system_for("DiscoveryDocument"),
        "messages": [{"role": "user", "content": user_blocks(tail=f"<request>{REQUEST}</request>")}],
    }  # fmt: skip
    first = await client.messages.create(**kwargs)
    second = await client.messages.create(**kwargs)
    assert first.content == second.content
    models.DiscoveryDocument.model_validate_json(first.content[0].text)


async def test_qa_fails_the_work_when_the_checks_fail(client: AsyncAnthropic) -> None:
    async def review(check_result: str) -> models.QAReport:
        tail = f'<task>{{"task_id": "T04"}}</task><check_result>{check_result}</check_result>'
        message = await client.messages.create(
            model=FAST_MODEL, max_tokens=4000, system=system_for("QAReport"),
            messages=[{"role": "user", "content": user_blocks(tail=tail)}],
        )  # fmt: skip
        return models.QAReport.model_validate_json(message.content[0].text)

    assert (await review("exit status 0\n12 passed")).passed
    failed = await review("exit status 1\n2 failed, 10 passed")
    assert not failed.passed
    assert failed.issues[0].severity == "critical"


async def test_phase_summaries_name_the_phase_and_its_files(client: AsyncAnthropic) -> None:
    plan = plan_for(12)
    phase_tasks = [
        {"task_id": t.task_id, "title": t.title, "summary": "done", "files": t.files}
        for t in plan.tasks
        if t.phase == "domain"
    ]
    tail = f"<phase_tasks>{orjson.dumps(phase_tasks).decode()}</phase_tasks>"
    message = await client.messages.create(
        model=FAST_MODEL, max_tokens=2000, system=system_for("PhaseSummary"),
        messages=[{"role": "user", "content": user_blocks(f"<project><master_plan>{plan.model_dump_json()}"
                                                          "</master_plan></project>", tail=tail)}],
    )  # fmt: skip
    summary = models.PhaseSummary.model_validate_json(message.content[0].text)
    assert summary.phase == "domain"
    assert set(summary.key_files) == {path for task in phase_tasks for path in task["files"]}


async def test_a_repair_returns_a_valid_plan_of_the_same_size(client: AsyncAnthropic) -> None:
    broken = plan_for(25).model_dump()
    broken["tasks"][3]["depends_on"].append("T99")
    tail = f"<master_plan>{orjson.dumps(broken).decode()}</master_plan><feedback>T04 depends on T99</feedback>"
    message = await client.messages.create(
        model=STRONG_MODEL, max_tokens=16000, system=system_for("MasterPlan"),
        messages=[{"role": "user", "content": user_blocks(PROJECT, tail=tail)}],
    )  # fmt: skip
    repaired = models.MasterPlan.model_validate_json(message.content[0].text)
    assert len(repaired.tasks) == 25
    ids = {task.task_id for task in repaired.tasks}
    assert all(set(task.depends_on) <= ids for task in repaired.tasks)


async def test_an_answer_longer_than_max_tokens_is_cut_with_stop_reason_max_tokens(client: AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=STRONG_MODEL, max_tokens=100, system=system_for("MasterPlan"),
        messages=[{"role": "user", "content": user_blocks(tail=f"<request>{REQUEST}</request>")}],
    )  # fmt: skip
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 100
