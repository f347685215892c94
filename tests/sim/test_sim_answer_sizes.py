"""Task answers are as big as the design note's estimates assume: about 5,000 output tokens each.

The figures are the simulator's own token approximation (ceil(utf-8 bytes / 4)), as the API
reports them in ``usage.output_tokens``: deterministic for a request and a seed, not timings.
The reference is design note 003's request; the direct checks cover two more seeds.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import pytest
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, StartSim, sdk_client, system_for, user_blocks

from masterplan import models
from masterplan.sim.scripted.domain import domain_model
from masterplan.sim.scripted.plan import master_plan
from masterplan.sim.scripted.tasks import task_output
from masterplan.sim.tokens import output_tokens

REQUEST = "A task-tracking API with users and projects"
PHASES = Path(__file__).resolve().parents[2] / "masterplan" / "prompts" / "phases.toml"
DEVELOPER_MAX_TOKENS = tomllib.loads(PHASES.read_text(encoding="utf-8"))["task_execution"]["max_tokens"]
AVERAGE_RANGE = (4_500, 5_500)
LARGEST_ANSWER = 9_000


async def answer_text(client: AsyncAnthropic, schema: str, model: str, *cached: str, tail: str) -> tuple[str, int]:
    """The text of an answer and its ``usage.output_tokens``; plans (32,000 max tokens) are streamed."""
    request = {
        "model": model, "system": system_for(schema),
        "messages": [{"role": "user", "content": user_blocks(*cached, tail=tail)}],
    }  # fmt: skip
    if schema == "TaskOutput":
        message = await client.messages.create(max_tokens=DEVELOPER_MAX_TOKENS, **request)
    else:
        async with client.messages.stream(max_tokens=32000, **request) as stream:
            message = await stream.get_final_message()
    assert message.stop_reason == "end_turn"
    text = "".join(block.text for block in message.content if block.type == "text")
    return text, message.usage.output_tokens


async def task_answer_sizes(client: AsyncAnthropic, target: int) -> list[int]:
    """Plan the reference request over the API, then ask for every task's answer, as masterplan lays them out."""
    request = f"<request>{REQUEST}</request>"
    document_json, _ = await answer_text(client, "DiscoveryDocument", STRONG_MODEL, tail=request)
    project = f"<project>{request}<discovery_document>{document_json}</discovery_document></project>"
    plan_text, _ = await answer_text(
        client, "MasterPlan", STRONG_MODEL, project, tail=f"<target_tasks>{target}</target_tasks>"
    )
    plan = models.MasterPlan.model_validate_json(plan_text)
    project = project.replace("</project>", f"<master_plan>{plan_text}</master_plan></project>")
    sizes = []
    for task in plan.tasks:
        text, tokens = await answer_text(
            client, "TaskOutput", FAST_MODEL, project, tail=f"<task>{task.model_dump_json()}</task>"
        )
        assert sorted(file.path for file in models.TaskOutput.model_validate_json(text).files) == sorted(task.files)
        sizes.append(tokens)
    return sizes


@pytest.mark.parametrize("target", [12, 50])
async def test_a_task_answer_averages_about_5000_output_tokens(start_sim: StartSim, target: int) -> None:
    async with start_sim(seed=0) as sim, sdk_client(sim) as client:
        sizes = await task_answer_sizes(client, target)
    assert len(sizes) == target
    average = sum(sizes) / target
    assert AVERAGE_RANGE[0] <= average <= AVERAGE_RANGE[1], f"average {average:.0f} over {target} tasks"
    assert max(sizes) <= LARGEST_ANSWER < DEVELOPER_MAX_TOKENS


def direct_sizes(target: int, seed: int) -> list[int]:
    """The same figures without the API: the scripted answers, serialised as the simulator sends them."""
    document = orjson.dumps(domain_model(REQUEST, None, seed)).decode()
    plan = master_plan(REQUEST, document, str(target), seed)
    plan_json = orjson.dumps(plan).decode()
    return [
        output_tokens(
            orjson.dumps(task_output(orjson.dumps(task).decode(), document, plan_json, REQUEST, seed)).decode()
        )
        for task in plan["tasks"]
    ]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("target", [12, 50])
def test_other_seeds_give_answers_of_the_same_size(target: int, seed: int) -> None:
    sizes = direct_sizes(target, seed)
    assert AVERAGE_RANGE[0] <= sum(sizes) / target <= AVERAGE_RANGE[1]
    assert max(sizes) <= LARGEST_ANSWER
