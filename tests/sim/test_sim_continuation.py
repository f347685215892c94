"""Continuing an answer cut at max_tokens: assistant prefill, or an assistant message and a request to go on.

Either way the simulator answers with the rest of the same whole answer, cut again at the new
``max_tokens``; the parts joined as masterplan joins them (each part after the answer so far
without its trailing whitespace) are exactly the answer an uncut request gets.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import anthropic
import orjson
import pytest
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, StartSim, sdk_client, system_for, user_blocks

from masterplan import models
from masterplan.sim.scripted.domain import domain_model
from masterplan.sim.scripted.plan import master_plan
from masterplan.sim.scripted.tasks import task_output
from masterplan.sim.tokens import output_tokens

CONTINUE = (
    "Your answer was cut off at the output limit. Continue exactly where it stopped, "
    "without repeating anything and without any preamble."
)
REQUEST = "A task-tracking API with users and projects"
SEED = 4
PART_MAX_TOKENS = 1200
UNCUT_MAX_TOKENS = 16000


@cache
def project_and_task() -> tuple[str, str]:
    """The project block (request, domain model, plan) and the plan's largest task, as masterplan sends them."""
    document = orjson.dumps(domain_model(REQUEST, None, SEED)).decode()
    plan = orjson.dumps(master_plan(REQUEST, document, "12", SEED)).decode()
    project = (
        f"<project><request>{REQUEST}</request><discovery_document>{document}</discovery_document>"
        f"<master_plan>{plan}</master_plan></project>"
    )
    tasks = orjson.loads(plan)["tasks"]
    largest = max(
        tasks,
        key=lambda task: len(orjson.dumps(task_output(orjson.dumps(task).decode(), document, plan, REQUEST, SEED))),
    )
    return project, orjson.dumps(largest).decode()


def task_request(model: str) -> dict[str, Any]:
    """A task-execution request laid out as docs/request-layout.md says: cached project, task in the tail."""
    project, task = project_and_task()
    return {
        "model": model, "system": system_for("TaskOutput"),
        "messages": [{"role": "user", "content": user_blocks(project, tail=f"<task>{task}</task>")}],
    }  # fmt: skip


def continuation_messages(request: dict[str, Any], so_far: str, *, prefill: bool) -> list[dict[str, Any]]:
    """The request's messages, then the answer so far (and, without prefill, the request to go on)."""
    extra: list[dict[str, Any]] = [{"role": "assistant", "content": so_far.rstrip()}]
    if not prefill:
        extra.append({"role": "user", "content": CONTINUE})
    return [*request["messages"], *extra]


async def continued(
    client: AsyncAnthropic,
    request: dict[str, Any],
    *,
    prefill: bool,
    max_tokens: int = PART_MAX_TOKENS,
    max_parts: int = 20,
) -> tuple[str, list[anthropic.types.Message]]:
    """Ask, then continue while the answer is cut at max_tokens; the joined text and every part."""
    parts: list[anthropic.types.Message] = []
    text = ""
    while not parts or parts[-1].stop_reason == "max_tokens":
        assert len(parts) < max_parts, "the answer never ended"
        messages = continuation_messages(request, text, prefill=prefill) if parts else request["messages"]
        part = await client.messages.create(**{**request, "messages": messages, "max_tokens": max_tokens})
        part_text = part.content[0].text if part.content[0].type == "text" else ""
        text = part_text if not parts else text.rstrip() + part_text
        parts.append(part)
    return text, parts


async def uncut_text(client: AsyncAnthropic, request: dict[str, Any]) -> str:
    message = await client.messages.create(max_tokens=UNCUT_MAX_TOKENS, **request)
    assert message.stop_reason == "end_turn"
    return message.content[0].text if message.content[0].type == "text" else ""


@pytest.mark.parametrize(("model", "prefill"), [(FAST_MODEL, True), (FAST_MODEL, False), (STRONG_MODEL, False)])
async def test_a_cut_answer_continued_until_it_ends_joins_into_the_uncut_answer(
    start_sim: StartSim, model: str, prefill: bool
) -> None:
    async with start_sim(seed=SEED) as sim, sdk_client(sim) as client:
        joined, parts = await continued(client, task_request(model), prefill=prefill)
        expected = await uncut_text(client, task_request(model))
    assert len(parts) >= 3
    assert [part.stop_reason for part in parts] == ["max_tokens"] * (len(parts) - 1) + ["end_turn"]
    assert all(part.usage.output_tokens == PART_MAX_TOKENS for part in parts[:-1])
    last_text = parts[-1].content[0].text if parts[-1].content[0].type == "text" else ""
    assert parts[-1].usage.output_tokens == output_tokens(last_text)  # the rest only
    assert parts[1].usage.input_tokens > parts[0].usage.input_tokens  # the answer so far is input
    assert joined == expected
    models.TaskOutput.model_validate_json(joined)


async def test_a_continuation_keeps_the_content_faults_of_the_answer_it_continues(start_sim: StartSim) -> None:
    """Every part is cut short by the truncated fault; each goes on with the same fenced, broken answer.

    The whole answer's faults are counted once, with the first part; each part's truncation is its own.
    """
    wrapped_and_broken = {"fenced_json": 1.0, "syntax_error": 1.0}
    async with start_sim(faults={**wrapped_and_broken, "truncated": 1.0}, seed=SEED) as sim, sdk_client(sim) as client:
        joined, parts = await continued(
            client, task_request(FAST_MODEL), prefill=True, max_tokens=UNCUT_MAX_TOKENS, max_parts=60
        )
        counted = sim.stats()["faults"]
    async with start_sim(faults=wrapped_and_broken, seed=SEED) as sim, sdk_client(sim) as client:
        expected = await uncut_text(client, task_request(FAST_MODEL))
    assert len(parts) >= 3
    assert all(part.usage.output_tokens < UNCUT_MAX_TOKENS // 2 for part in parts)  # cut by the fault
    assert joined.startswith("```json\n")
    assert joined == expected
    assert counted == {"fenced_json": 1, "syntax_error": 1, "truncated": len(parts) - 1}


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-opus-4-6"])
async def test_claude_4_6_refuses_a_prefill(client: AsyncAnthropic, model: str) -> None:
    request = task_request(model)
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(
            max_tokens=100, **{**request, "messages": continuation_messages(request, '{"files": [', prefill=True)}
        )
    assert info.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "This model does not support assistant message prefill. "
        "The conversation must end with a user message.",
    }


@pytest.mark.parametrize("content", ['{"files": [ ', [{"type": "text", "text": '{"files":\n'}]])
async def test_a_prefill_ending_in_whitespace_is_refused(client: AsyncAnthropic, content: Any) -> None:
    request = task_request(FAST_MODEL)
    messages = [*request["messages"], {"role": "assistant", "content": content}]
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(max_tokens=100, **{**request, "messages": messages})
    assert info.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "messages: final assistant content cannot end with trailing whitespace",
    }


async def test_a_prefill_the_answer_does_not_start_with_gets_the_whole_answer(client: AsyncAnthropic) -> None:
    hello = [{"role": "user", "content": "Hello there"}]
    whole = await client.messages.create(model=FAST_MODEL, max_tokens=500, messages=hello)
    prefilled = await client.messages.create(
        model=FAST_MODEL, max_tokens=500, messages=[*hello, {"role": "assistant", "content": "Bonjour"}]
    )
    started = await client.messages.create(
        model=FAST_MODEL, max_tokens=500, messages=[*hello, {"role": "assistant", "content": "I am"}]
    )
    text = whole.content[0].text if whole.content[0].type == "text" else ""
    assert prefilled.content[0].type == "text"
    assert prefilled.content[0].text == text
    assert started.content[0].type == "text"
    assert "I am" + started.content[0].text == text
