"""A generated workspace passes its own pytest: the scripted answers, written by a small harness.

The harness plays masterplan's part over the real SDK: discovery, domain model, master plan,
then one request per task laid out as docs/request-layout.md says, writing each answer's files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, StartSim, sdk_client, system_for, user_blocks

from masterplan import models

REQUEST = "Build a library system where members borrow books; track loans, due dates and fines."


async def ask(client: AsyncAnthropic, schema: str, model: str, *cached: str, tail: str) -> str:
    """An answer's text. Task answers come whole, with the developer phase's 16,000 max tokens;
    the rest is streamed, as the SDK requires for 32,000 (streaming itself is tested in test_sim_api)."""
    request = {
        "model": model, "system": system_for(schema),
        "messages": [{"role": "user", "content": user_blocks(*cached, tail=tail)}],
    }  # fmt: skip
    if schema == "TaskOutput":
        message = await client.messages.create(max_tokens=16000, **request)
    else:
        async with client.messages.stream(max_tokens=32000, **request) as stream:
            message = await stream.get_final_message()
    assert message.stop_reason == "end_turn"
    return "".join(block.text for block in message.content if block.type == "text")


async def plan_project(client: AsyncAnthropic, target: int) -> tuple[models.DiscoveryDocument, models.MasterPlan]:
    request = f"<request>{REQUEST}</request>"
    questions = models.DiscoveryQuestions.model_validate_json(
        await ask(client, "DiscoveryQuestions", STRONG_MODEL, tail=request)
    )
    answers = {q.id: q.default_assumption for q in questions.questions}
    questions_json = orjson.dumps([q.model_dump() for q in questions.questions]).decode()
    tail = f"{request}<questions>{questions_json}</questions><answers>{orjson.dumps(answers).decode()}</answers>"
    document = models.DiscoveryDocument.model_validate_json(
        await ask(client, "DiscoveryDocument", STRONG_MODEL, tail=tail)
    )
    project = f"<project>{request}<discovery_document>{document.model_dump_json()}</discovery_document></project>"
    plan = models.MasterPlan.model_validate_json(
        await ask(client, "MasterPlan", STRONG_MODEL, project, tail=f"<target_tasks>{target}</target_tasks>")
    )
    return document, plan


def run_pytest(workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=workspace, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def ready_order(plan: models.MasterPlan) -> list[models.PlanTask]:
    """A valid execution order other than the plan's: always the ready task with the highest id."""
    done: set[str] = set()
    order: list[models.PlanTask] = []
    pending = list(plan.tasks)
    while pending:
        ready = [task for task in pending if set(task.depends_on) <= done]
        task = max(ready, key=lambda t: t.task_id)
        order.append(task)
        done.add(task.task_id)
        pending.remove(task)
    return order


async def build_workspace(
    client: AsyncAnthropic, workspace: Path, target: int, *, check_each: bool
) -> tuple[models.MasterPlan, list[str]]:
    document, plan = await plan_project(client, target)
    project = (
        f"<project><request>{REQUEST}</request><discovery_document>{document.model_dump_json()}"
        f"</discovery_document><master_plan>{plan.model_dump_json()}</master_plan></project>"
    )
    completed: list[str] = []
    failures: list[str] = []
    for task in ready_order(plan):
        log = "<completed_tasks>" + ("\n".join(completed) or "none yet") + "</completed_tasks>"
        text = await ask(client, "TaskOutput", FAST_MODEL, project, log, tail=f"<task>{task.model_dump_json()}</task>")
        output = models.TaskOutput.model_validate_json(text)
        assert sorted(f.path for f in output.files) == sorted(task.files)
        for file in output.files:
            path = workspace / file.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file.content, encoding="utf-8")
        completed.append(f"{task.task_id}: {output.summary} ({', '.join(task.files)})")
        if check_each and (result := run_pytest(workspace)).returncode != 0:
            failures.append(f"after {task.task_id}:\n{result.stdout[-2000:]}")
    return plan, failures


async def test_a_generated_12_task_workspace_passes_its_own_pytest_after_every_task(
    start_sim: StartSim, tmp_path: Path
) -> None:
    async with start_sim(seed=1) as sim, sdk_client(sim) as client:
        plan, failures = await build_workspace(client, tmp_path, 12, check_each=True)
        stats: dict[str, Any] = sim.stats()
    assert len(plan.tasks) == 12
    assert failures == []
    final = run_pytest(tmp_path)
    assert final.returncode == 0, final.stdout[-3000:]
    assert stats["requests_by_task"] == {task.task_id: 1 for task in plan.tasks}
    assert stats["requests_by_role"]["task_execution"] == 12
    assert stats["tokens"]["cache_read"] > stats["tokens"]["cache_write"]


async def test_a_generated_50_task_workspace_passes_its_own_pytest(start_sim: StartSim, tmp_path: Path) -> None:
    async with start_sim(seed=2) as sim, sdk_client(sim) as client:
        plan, _ = await build_workspace(client, tmp_path, 50, check_each=False)
        output_tokens = sim.stats()["tokens"]["output"]
    assert len(plan.tasks) == 50
    final = run_pytest(tmp_path)
    assert final.returncode == 0, final.stdout[-3000:]
    assert output_tokens > 50 * 1000
