"""The API surface as the official SDK sees it: messages, streaming, count_tokens, errors, stats."""

from __future__ import annotations

import anthropic
import httpx2
import orjson
import pytest
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, system_for, user_blocks

from masterplan import models
from masterplan.sim import SimulatorHandle

HELLO = [{"role": "user", "content": "Hello there"}]


async def test_plain_call_returns_a_message_with_usage(client: AsyncAnthropic) -> None:
    message = await client.messages.create(model=FAST_MODEL, max_tokens=200, messages=HELLO)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == FAST_MODEL
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text
    assert message.usage.input_tokens == 6  # ceil(11 bytes / 4) + 3 for the message
    assert message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0


async def test_streamed_call_sends_the_standard_event_sequence(client: AsyncAnthropic) -> None:
    kwargs = {"model": FAST_MODEL, "max_tokens": 4000, "system": system_for("DiscoveryQuestions")}
    stream = await client.messages.create(
        **kwargs, messages=[{"role": "user", "content": user_blocks(tail="<request>Track books and loans</request>")}],
        stream=True,
    )  # fmt: skip
    events = [event async for event in stream]
    kinds = [event.type for event in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    text = "".join(event.delta.text for event in events if event.type == "content_block_delta")
    questions = models.DiscoveryQuestions.model_validate_json(text)
    assert "Book" in questions.initial_entities
    assert events[-2].usage.output_tokens == -(-len(text.encode()) // 4)


async def test_stream_helper_accumulates_the_same_message_as_a_plain_call(client: AsyncAnthropic) -> None:
    plain = await client.messages.create(model=STRONG_MODEL, max_tokens=500, messages=HELLO)
    async with client.messages.stream(model=STRONG_MODEL, max_tokens=500, messages=HELLO) as stream:
        streamed = await stream.get_final_message()
    assert streamed.content[0].text == plain.content[0].text
    assert streamed.usage.output_tokens == plain.usage.output_tokens
    assert streamed.stop_reason == "end_turn"


async def test_count_tokens_matches_the_input_tokens_of_a_call(client: AsyncAnthropic) -> None:
    system = system_for("QAReport")
    messages = [{"role": "user", "content": user_blocks("<project>a project</project>", tail="review this")}]
    counted = await client.messages.count_tokens(model=FAST_MODEL, system=system, messages=messages)
    message = await client.messages.create(model=FAST_MODEL, max_tokens=100, system=system, messages=messages)
    usage = message.usage
    assert (
        counted.input_tokens == usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    )


async def test_x_api_key_and_bearer_are_both_accepted_and_no_key_is_refused(sim: SimulatorHandle) -> None:
    body = {"model": FAST_MODEL, "max_tokens": 10, "messages": HELLO}
    async with httpx2.AsyncClient(base_url=sim.base_url) as http:
        with_key = await http.post("/v1/messages", json=body, headers={"x-api-key": "k"})
        with_bearer = await http.post("/v1/messages", json=body, headers={"Authorization": "Bearer k"})
        without = await http.post("/v1/messages", json=body)
    assert (with_key.status_code, with_bearer.status_code) == (200, 200)
    assert without.status_code == 401
    assert without.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("body", "status", "error_type", "fragment"),
    [
        ({"model": FAST_MODEL, "messages": HELLO}, 400, "invalid_request_error", "max_tokens: Field required"),
        ({"model": FAST_MODEL, "max_tokens": 10}, 400, "invalid_request_error", "messages: Field required"),
        ({"max_tokens": 10, "messages": HELLO}, 400, "invalid_request_error", "model: Field required"),
        ({"model": "claude-imaginary-9", "max_tokens": 10, "messages": HELLO}, 404, "not_found_error", "imaginary"),
        ({"model": FAST_MODEL, "max_tokens": 64001, "messages": HELLO}, 400, "invalid_request_error", "64001 > 64000"),
        ({"model": FAST_MODEL, "max_tokens": 10, "messages": []}, 400, "invalid_request_error", "at least one message"),
        (
            {"model": FAST_MODEL, "max_tokens": 10, "messages": [{"role": "robot", "content": "x"}]},
            400, "invalid_request_error", "messages.0.role",
        ),
    ],
)  # fmt: skip
async def test_invalid_requests_get_anthropic_errors(
    sim: SimulatorHandle, body: dict[str, object], status: int, error_type: str, fragment: str
) -> None:
    async with httpx2.AsyncClient(base_url=sim.base_url, headers={"x-api-key": "k"}) as http:
        response = await http.post("/v1/messages", json=body)
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == error_type
    assert fragment in payload["error"]["message"]
    assert response.headers["request-id"] == payload["request_id"]


async def test_more_than_four_cache_breakpoints_is_refused(client: AsyncAnthropic) -> None:
    blocks = user_blocks("a", "b", "c", "d", tail="e")
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        await client.messages.create(
            model=FAST_MODEL,
            max_tokens=10,
            system=system_for("QAReport"),
            messages=[{"role": "user", "content": blocks}],
        )


async def test_a_body_over_32_mb_is_refused_with_413(client: AsyncAnthropic) -> None:
    huge = "x" * (32 * 1024 * 1024 + 10)
    with pytest.raises(anthropic.APIStatusError) as info:
        await client.messages.create(model=FAST_MODEL, max_tokens=10, messages=[{"role": "user", "content": huge}])
    assert info.value.status_code == 413
    assert info.value.body["error"]["type"] == "request_too_large"


async def test_sdk_errors_carry_the_request_id(client: AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        await client.messages.create(model="claude-imaginary-9", max_tokens=10, messages=HELLO)
    assert info.value.request_id is not None
    assert info.value.request_id.startswith("req_")


async def test_stats_count_roles_tasks_statuses_and_tokens(client: AsyncAnthropic, sim: SimulatorHandle) -> None:
    files = ["lib/models/book.py", "tests/test_book_model.py"]
    task = {"task_id": "T07", "title": "Book model", "description": "d", "phase": "p", "milestone": "m",
            "complexity": "low", "task_type": "model", "files": files}  # fmt: skip
    tail = f"<task>{orjson.dumps(task).decode()}</task>"
    for _ in range(2):
        await client.messages.create(
            model=FAST_MODEL, max_tokens=16000, system=system_for("TaskOutput"),
            messages=[{"role": "user", "content": user_blocks(tail=tail)}],
        )  # fmt: skip
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.create(model="claude-imaginary-9", max_tokens=10, messages=HELLO)
    async with httpx2.AsyncClient(base_url=sim.base_url) as http:
        stats = (await http.get("/sim/stats")).json()
        assert stats["requests_by_role"] == {"task_execution": 2}
        assert stats["requests_by_task"] == {"T07": 2}
        assert stats["requests_by_status"] == {"200": 2, "404": 1}
        assert stats["tokens"]["output"] > 0
        assert stats["rate_limited"] == 0
        assert (await http.post("/sim/reset")).status_code == 200
        cleared = (await http.get("/sim/stats")).json()
    assert cleared["requests_by_role"] == {}
    assert cleared["tokens"] == {"input": 0, "cache_write": 0, "cache_read": 0, "output": 0}
    assert sim.stats() == cleared


async def test_unknown_paths_answer_in_anthropic_error_shape(sim: SimulatorHandle) -> None:
    async with httpx2.AsyncClient(base_url=sim.base_url) as http:
        response = await http.get("/v1/models/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
