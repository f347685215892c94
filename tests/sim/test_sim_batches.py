"""The Message Batches API on the simulator, through the real SDK over HTTP, as Anthropic documents it.

A batch is processed over ``batch_seconds`` of the simulator's clock (the tests' clock is frozen and
advanced by hand), its requests answered by the same scripted model as ``/v1/messages``; invalid params
are ``errored`` results, not a failed create; a cancel and the 24-hour expiry leave the requests not done
``canceled`` or ``expired``.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic import AsyncAnthropic
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from sim_helpers import FAST_MODEL, STRONG_MODEL, StartSim, long_text, sdk_client, system_for, user_blocks

from masterplan.sim import SimConfig, SimulatorHandle, add_sim_arguments, sim_config_from_args

DAY = 24 * 3600


def task_params(task_id: str, **extra: Any) -> dict[str, Any]:
    task = {"task_id": task_id, "title": f"Stock levels {task_id}", "files": ["shop/stock.py", "tests/test_stock.py"]}
    tail = f"<request>A shop</request><task>{orjson.dumps(task).decode()}</task>"
    return {
        "model": FAST_MODEL, "max_tokens": 16000, "system": system_for("TaskOutput"),
        "messages": [{"role": "user", "content": user_blocks(tail=tail)}], **extra,
    }  # fmt: skip


def plan_params(n: int) -> dict[str, Any]:
    tail = f"<request>Track books and loans (variant {n})</request><target_tasks>6</target_tasks>"
    return {
        "model": STRONG_MODEL, "max_tokens": 16000, "system": system_for("MasterPlan"),
        "messages": [{"role": "user", "content": user_blocks(tail=tail)}],
    }  # fmt: skip


def hello(n: int) -> dict[str, Any]:
    return {"model": FAST_MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": f"hello {n}"}]}


async def create(client: AsyncAnthropic, params: list[dict[str, Any]]) -> MessageBatch:
    requests: Any = [{"custom_id": f"req-{i}", "params": p} for i, p in enumerate(params)]
    return await client.messages.batches.create(requests=requests)


async def results(client: AsyncAnthropic, batch_id: str) -> dict[str, MessageBatchIndividualResponse]:
    return {line.custom_id: line async for line in await client.messages.batches.results(batch_id)}


def error_of(line: MessageBatchIndividualResponse) -> tuple[str, str]:
    assert line.result.type == "errored"
    return line.result.error.error.type, line.result.error.error.message


async def test_a_batch_ends_after_its_time_on_the_clock_with_the_answers_of_the_messages_api(
    start_sim: StartSim,
) -> None:
    params = [task_params("T01"), task_params("T02"), plan_params(0)]
    async with start_sim(seed=3) as sim, sdk_client(sim) as client:
        batch = await create(client, params)
        assert batch.id.startswith("msgbatch_")
        assert batch.type == "message_batch"
        assert batch.processing_status == "in_progress"
        assert batch.request_counts.processing == 3
        assert batch.results_url is None
        assert batch.ended_at is None
        assert batch.archived_at is None
        assert batch.expires_at - batch.created_at == timedelta(hours=24)
        sim.clock.advance(1.9)
        assert (await client.messages.batches.retrieve(batch.id)).processing_status == "in_progress"
        sim.clock.advance(0.1)
        ended = await client.messages.batches.retrieve(batch.id)
        answered = await results(client, batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at is not None
    assert ended.ended_at - ended.created_at == timedelta(seconds=2)
    assert ended.results_url == f"{sim.base_url}/v1/messages/batches/{batch.id}/results"
    assert ended.request_counts.model_dump() == {
        "processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0,
    }  # fmt: skip
    async with start_sim(seed=3) as fresh, sdk_client(fresh) as client:  # the same prompts, asked one by one
        interactive = [await client.messages.create(**p) for p in params]
    for i, message in enumerate(interactive):
        line = answered[f"req-{i}"]
        assert line.result.type == "succeeded"
        in_batch = line.result.message
        assert in_batch.id.startswith("msg_")
        assert in_batch.content == message.content
        assert in_batch.stop_reason == message.stop_reason
        assert in_batch.usage.service_tier == "batch"
        assert in_batch.usage.model_dump(exclude={"service_tier"}) == message.usage.model_dump(exclude={"service_tier"})


async def test_invalid_params_are_errored_results_while_the_other_requests_succeed(start_sim: StartSim) -> None:
    bad_schema = {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}}
    prefilled = hello(1)
    prefilled["messages"] = [*prefilled["messages"], {"role": "assistant", "content": "{"}]
    params = [
        hello(0),
        {"model": FAST_MODEL, "messages": [{"role": "user", "content": "no max_tokens"}]},
        {**hello(2), "model": "claude-imaginary-9"},
        {**hello(3), "output_config": bad_schema},
        {**prefilled, "output_config": {"format": {"type": "json_schema", "schema": {
            "type": "object", "properties": {}, "additionalProperties": False}}}},
    ]  # fmt: skip
    async with start_sim(batch_seconds=0) as sim, sdk_client(sim) as client:
        batch = await create(client, params)
        assert batch.processing_status == "in_progress"  # created at once: the params are looked at later
        answered = await results(client, batch.id)
        ended = await client.messages.batches.retrieve(batch.id)
    assert answered["req-0"].result.type == "succeeded"
    assert error_of(answered["req-1"]) == ("invalid_request_error", "max_tokens: Field required")
    assert error_of(answered["req-2"]) == ("not_found_error", "model: claude-imaginary-9")
    assert error_of(answered["req-3"])[1].startswith("output_config.format.schema: For 'object' type")
    assert error_of(answered["req-4"])[1].startswith("output_config.format: structured outputs cannot be combined")
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (1, 4)


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "requests: List should have at least 1 item"),
        ([{"custom_id": "has space", "params": hello(0)}], "requests.0.custom_id: String should match pattern"),
        ([{"custom_id": "x" * 65, "params": hello(0)}], "requests.0.custom_id: String should match pattern"),
        ([{"custom_id": "", "params": hello(0)}], "requests.0.custom_id: String should match pattern"),
        (
            [{"custom_id": "a", "params": hello(0)}, {"custom_id": "a", "params": hello(1)}],
            "requests.1.custom_id: duplicate custom_id 'a'",
        ),
        ([{"custom_id": "a", "params": {**hello(0), "stream": True}}], "requests.0.params.stream: Input should be"),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
        ([{"custom_id": "a", "params": "hello"}], "requests.0.params: Input should be a valid dictionary"),
    ],
)
async def test_a_batch_the_api_refuses_is_a_400_and_no_batch(
    sim: SimulatorHandle, client: AsyncAnthropic, requests: Any, message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        await client.messages.batches.create(requests=requests)
    assert refused.value.status_code == 400
    assert message in str(refused.value)
    assert "invalid_request_error" in str(refused.value)
    assert (await client.messages.batches.list()).data == []
    assert sim.stats()["batches"]["created"] == 0


async def test_a_body_that_is_not_a_list_of_requests_or_too_large_is_refused(sim: SimulatorHandle) -> None:
    headers = {"x-api-key": "k"}
    async with httpx2.AsyncClient(base_url=sim.base_url, headers=headers) as http:
        not_a_list = await http.post("/v1/messages/batches", json={"requests": {"custom_id": "a"}})
        many = {"requests": [{"custom_id": f"r{i}", "params": {}} for i in range(100_001)]}
        too_many = await http.post("/v1/messages/batches", content=orjson.dumps(many))
    assert not_a_list.status_code == 400
    assert not_a_list.json()["error"]["message"] == "requests: Input should be a valid list"
    assert too_many.status_code == 400
    assert "requests: List should have at most 100000 items" in too_many.json()["error"]["message"]
    host, port = sim.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(  # a body over 256 MB is announced; the simulator answers before reading it
        f"POST /v1/messages/batches HTTP/1.1\r\nHost: {host}\r\nx-api-key: k\r\n"
        f"Content-Type: application/json\r\nContent-Length: {256 * 1024 * 1024 + 1}\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")


async def test_a_cancel_ends_the_batch_with_the_requests_not_done_canceled(start_sim: StartSim) -> None:
    async with start_sim(batch_seconds=10) as sim, sdk_client(sim) as client:
        batch = await create(client, [hello(n) for n in range(4)])
        sim.clock.advance(5)  # half the time: the first two requests are done
        canceling = await client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
        assert canceling.cancel_initiated_at == canceling.created_at + timedelta(seconds=5)
        assert canceling.request_counts.processing == 4
        with pytest.raises(anthropic.BadRequestError, match="can be deleted only once it has ended"):
            await client.messages.batches.delete(batch.id)
        sim.clock.advance(1)
        ended = await client.messages.batches.retrieve(batch.id)
        answered = await results(client, batch.id)
        with pytest.raises(anthropic.BadRequestError, match="only a batch in progress can be canceled"):
            await client.messages.batches.cancel(batch.id)
        deleted = await client.messages.batches.delete(batch.id)
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.batches.retrieve(batch.id)
        listed = await client.messages.batches.list()
    assert ended.processing_status == "ended"
    assert ended.request_counts.model_dump() == {
        "processing": 0, "succeeded": 2, "errored": 0, "canceled": 2, "expired": 0,
    }  # fmt: skip
    assert [answered[f"req-{n}"].result.type for n in range(4)] == ["succeeded", "succeeded", "canceled", "canceled"]
    assert deleted.model_dump() == {"id": batch.id, "type": "message_batch_deleted"}
    assert listed.data == []


async def test_batches_are_listed_newest_first_a_page_at_a_time(client: AsyncAnthropic) -> None:
    created = [(await create(client, [hello(n)])).id for n in range(5)]
    newest_first = list(reversed(created))
    first = await client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == newest_first[:2]
    assert (first.has_more, first.first_id, first.last_id) == (True, newest_first[0], newest_first[1])
    assert [b.id async for b in client.messages.batches.list(limit=2)] == newest_first
    older = await client.messages.batches.list(limit=2, after_id=newest_first[1])
    assert [b.id for b in older.data] == newest_first[2:4]
    newer = await client.messages.batches.list(limit=2, before_id=newest_first[3])
    assert ([b.id for b in newer.data], newer.has_more) == (newest_first[1:3], True)
    towards_newer = [b.id async for b in client.messages.batches.list(limit=1, before_id=newest_first[4])]
    assert towards_newer == created[1:]  # page after page, each the one just newer than the last
    with pytest.raises(anthropic.BadRequestError, match="limit"):
        await client.messages.batches.list(limit=1001)


async def test_results_wait_for_the_end_and_unknown_batches_are_not_found(
    sim: SimulatorHandle, client: AsyncAnthropic
) -> None:
    batch = await create(client, [hello(0)])
    async with httpx2.AsyncClient(base_url=sim.base_url) as http:
        early = await http.get(f"/v1/messages/batches/{batch.id}/results", headers={"x-api-key": "k"})
        anonymous = await http.get(f"/v1/messages/batches/{batch.id}")
        sim.clock.advance(2)
        ended = await http.get(f"/v1/messages/batches/{batch.id}/results", headers={"x-api-key": "k"})
    assert early.status_code == 400
    assert early.json()["error"]["type"] == "invalid_request_error"
    assert "results are available once processing has ended" in early.json()["error"]["message"]
    assert anonymous.status_code == 401
    assert ended.headers["content-type"] == "application/x-jsonl"
    assert [orjson.loads(line)["custom_id"] for line in ended.content.splitlines()] == ["req-0"]
    with pytest.raises(anthropic.NotFoundError) as unknown:
        await client.messages.batches.retrieve("msgbatch_nothing")
    assert "not_found_error" in str(unknown.value)
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.cancel("msgbatch_nothing")


async def test_batch_expired_fault_and_a_batch_that_outlives_its_24_hours(start_sim: StartSim) -> None:
    async with start_sim(faults="batch_expired=0.5", seed=9, batch_seconds=0) as sim, sdk_client(sim) as client:
        batch = await create(client, [hello(n) for n in range(40)])
        kinds = [line.result.type for line in (await results(client, batch.id)).values()]
        stats = sim.stats()
    assert set(kinds) == {"succeeded", "expired"}
    assert 8 <= kinds.count("expired") <= 32
    assert stats["batches"]["faults"] == {"batch_expired": kinds.count("expired")}
    assert stats["faults"] == {}
    assert stats["requests_by_role"] == {"unknown": kinds.count("succeeded")}
    async with start_sim(batch_seconds=2 * DAY) as sim, sdk_client(sim) as client:
        batch = await create(client, [hello(n) for n in range(4)])
        sim.clock.advance(DAY - 1)
        assert (await client.messages.batches.retrieve(batch.id)).processing_status == "in_progress"
        sim.clock.advance(1)
        expired = await client.messages.batches.retrieve(batch.id)
        answered = await results(client, batch.id)
    assert expired.processing_status == "ended"
    assert expired.ended_at == expired.expires_at
    assert (expired.request_counts.succeeded, expired.request_counts.expired) == (2, 2)
    assert [answered[f"req-{n}"].result.type for n in range(4)] == ["succeeded", "succeeded", "expired", "expired"]


async def test_transport_faults_are_errored_results_and_content_faults_apply(start_sim: StartSim) -> None:
    async with start_sim(faults="overloaded=0.5,server_error=0.5", batch_seconds=0) as sim, sdk_client(sim) as client:
        batch = await create(client, [hello(n) for n in range(20)])
        errors = [error_of(line)[0] for line in (await results(client, batch.id)).values()]
        stats = sim.stats()
    assert set(errors) == {"overloaded_error", "api_error"}
    assert stats["batches"]["faults"] == {
        "overloaded": errors.count("overloaded_error"), "server_error": errors.count("api_error"),
    }  # fmt: skip
    assert stats["faults"] == {}
    assert stats["requests_by_status"] == {}
    async with start_sim(faults="truncated=1", batch_seconds=0) as sim, sdk_client(sim) as client:
        batch = await create(client, [task_params("T01")])
        line = (await results(client, batch.id))["req-0"]
    assert line.result.type == "succeeded"
    assert line.result.message.stop_reason == "max_tokens"


async def test_requests_of_a_batch_share_the_prompt_cache(start_sim: StartSim) -> None:
    shared = long_text(5000)
    params = [
        {**hello(n), "messages": [{"role": "user", "content": user_blocks(shared, tail=f"question {n}")}]}
        for n in range(2)
    ]
    async with start_sim(batch_seconds=0) as sim, sdk_client(sim) as client:
        batch = await create(client, params)
        answered = await results(client, batch.id)
    usages = [answered[f"req-{n}"].result.message.usage for n in range(2)]  # type: ignore[union-attr]
    assert usages[0].cache_creation_input_tokens
    assert not usages[0].cache_read_input_tokens
    assert usages[1].cache_read_input_tokens == usages[0].cache_creation_input_tokens


async def test_stats_count_batches_and_their_calls_by_task(start_sim: StartSim) -> None:
    async with start_sim() as sim, sdk_client(sim) as client:
        batch = await create(client, [task_params("T01"), task_params("T02"), hello(0)])
        await client.messages.create(**task_params("T03"))
        for _ in range(3):  # polling is not a request to the model
            await client.messages.batches.retrieve(batch.id)
        assert sim.stats()["requests_by_task"] == {"T03": 1}
        sim.clock.advance(2)
        stats = sim.stats()  # looking at the counters ends a batch whose time is over
        assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"
    assert stats["requests_by_task"] == {"T01": 1, "T02": 1, "T03": 1}
    assert stats["requests_by_role"] == {"task_execution": 3, "unknown": 1}
    assert stats["requests_by_status"] == {"200": 1}
    batches = stats["batches"]
    assert (batches["created"], batches["ended"]) == (1, 1)
    assert batches["requests_by_result"] == {"succeeded": 3, "errored": 0, "canceled": 0, "expired": 0}
    assert 0 < batches["tokens"]["output"] < stats["tokens"]["output"]


async def test_batches_are_the_same_for_a_seed(start_sim: StartSim) -> None:
    outcomes = []
    for _ in range(2):
        faults = "batch_expired=0.3,overloaded=0.3"
        async with start_sim(faults=faults, seed=4, batch_seconds=0) as sim, sdk_client(sim) as client:
            batch = await create(client, [hello(n) for n in range(12)])
            answered = await results(client, batch.id)
        outcomes.append((batch.id, {key: line.result.type for key, line in answered.items()}))
    assert outcomes[0] == outcomes[1]


def test_the_batch_seconds_flag() -> None:
    parser = argparse.ArgumentParser()
    add_sim_arguments(parser)
    assert sim_config_from_args(parser.parse_args([])).batch_seconds == 2.0
    assert sim_config_from_args(parser.parse_args(["--batch-seconds", "0"])) == SimConfig(batch_seconds=0)
    with pytest.raises(ValueError, match="--batch-seconds"):
        sim_config_from_args(parser.parse_args(["--batch-seconds", "-1"]))


async def test_the_processing_queue_has_the_tiers_limit(start_sim: StartSim) -> None:
    """Tier 1 queues at most 100,000 batch requests (Anthropic's Message Batches limits): a 429 beyond them."""

    def body(count: int, first: int) -> bytes:
        requests = [{"custom_id": f"q-{first + n}", "params": hello(n)} for n in range(count)]
        return orjson.dumps({"requests": requests})

    async with start_sim(tier="1") as sim, httpx2.AsyncClient(base_url=sim.base_url, timeout=60) as http:
        headers = {"x-api-key": "sim-key", "anthropic-version": "2023-06-01", "content-type": "application/json"}
        first = await http.post("/v1/messages/batches", content=body(60_000, 0), headers=headers)
        assert first.status_code == 200, first.text
        second = await http.post("/v1/messages/batches", content=body(50_000, 60_000), headers=headers)
        assert second.status_code == 429
        assert second.json()["error"]["type"] == "rate_limit_error"
        assert "processing queue" in second.json()["error"]["message"]
        assert "100000" in second.json()["error"]["message"]
        assert int(second.headers["retry-after"]) > 0
        assert sim.stats()["batches"]["created"] == 1
