"""Rate limits: token buckets per model class at Anthropic's tier numbers, 429s and headers.

Output tokens are reserved from ``max_tokens`` at admission and settled when the answer ends.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

import anthropic
import httpx2
import orjson
import pytest
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, StartSim, long_text, sdk_client, system_for, user_blocks

from masterplan.sim import SimulatorHandle
from masterplan.sim.tokens import text_tokens

HELLO = [{"role": "user", "content": "Hello there"}]
LIMIT_HEADERS = [
    f"anthropic-ratelimit-{what}-{field}"
    for what in ("requests", "input-tokens", "output-tokens", "tokens")
    for field in ("limit", "remaining", "reset")
]


async def hello(client: AsyncAnthropic, model: str = FAST_MODEL) -> anthropic.types.Message:
    return await client.messages.create(model=model, max_tokens=100, messages=HELLO)


async def test_a_burst_over_the_tier_1_request_limit_gets_429_with_retry_after(start_sim: StartSim) -> None:
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        for _ in range(50):
            await hello(client)
        with pytest.raises(anthropic.RateLimitError) as info:
            await hello(client)
        headers = info.value.response.headers
        assert info.value.body["error"]["type"] == "rate_limit_error"
        assert "50 requests per minute" in info.value.body["error"]["message"]
        assert headers["retry-after"] == "2"  # one request refills in 1.2 s at 50 per minute
        assert headers["anthropic-ratelimit-requests-limit"] == "50"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert all(name in headers for name in LIMIT_HEADERS)
        assert headers["request-id"].startswith("req_")
        sim.clock.advance(2)
        await hello(client)
        assert sim.stats()["rate_limited"] == 1
        assert sim.stats()["requests_by_status"] == {"200": 51, "429": 1}


async def test_every_answer_carries_the_rate_limit_headers(start_sim: StartSim) -> None:
    async with start_sim(tier="2") as sim, sdk_client(sim) as client:
        first = await client.messages.with_raw_response.create(model=STRONG_MODEL, max_tokens=100, messages=HELLO)
        second = await client.messages.with_raw_response.create(model=STRONG_MODEL, max_tokens=100, messages=HELLO)
    assert all(name in first.headers for name in LIMIT_HEADERS)
    assert first.headers["anthropic-ratelimit-requests-limit"] == "1000"
    assert first.headers["anthropic-ratelimit-input-tokens-limit"] == "450000"
    assert first.headers["anthropic-ratelimit-output-tokens-limit"] == "90000"
    assert int(second.headers["anthropic-ratelimit-requests-remaining"]) == 998
    reset = first.headers["anthropic-ratelimit-requests-reset"]
    assert reset.endswith("Z")
    assert reset[10] == "T"


async def test_model_classes_have_their_own_buckets(start_sim: StartSim) -> None:
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        for _ in range(50):
            await hello(client, FAST_MODEL)
        answer = await hello(client, STRONG_MODEL)
    assert answer.stop_reason == "end_turn"


async def test_input_tokens_over_the_limit_get_429_until_the_bucket_refills(start_sim: StartSim) -> None:
    big = [{"role": "user", "content": long_text(20_000)}]
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        await client.messages.create(model=STRONG_MODEL, max_tokens=100, messages=big)
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model=STRONG_MODEL, max_tokens=100, messages=big)
        assert "30,000 input tokens" in info.value.body["error"]["message"]
        assert int(info.value.response.headers["retry-after"]) == 21  # 10,003 missing tokens at 500 a second
        sim.clock.advance(21)
        await client.messages.create(model=STRONG_MODEL, max_tokens=100, messages=big)


async def test_cache_reads_do_not_count_against_input_tokens(start_sim: StartSim) -> None:
    project = "<project>" + long_text(20_000) + "</project>"
    messages = [{"role": "user", "content": user_blocks(project, tail="<task>T1</task>")}]
    kwargs = {"model": STRONG_MODEL, "max_tokens": 100, "system": system_for("QAReport"), "messages": messages}
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        first = await client.messages.with_raw_response.create(**kwargs)
        remaining = int(first.headers["anthropic-ratelimit-input-tokens-remaining"])
        second = await client.messages.with_raw_response.create(**kwargs)
        usage = (await second.parse()).usage
    assert usage.cache_read_input_tokens > 20_000
    assert remaining - int(second.headers["anthropic-ratelimit-input-tokens-remaining"]) == usage.input_tokens


PLAN_REQUEST = {
    "model": STRONG_MODEL,
    "system": system_for("MasterPlan"),
    "messages": [{"role": "user", "content": user_blocks(tail="<request>Books and loans</request>")}],
}
TASK = {
    "task_id": "T05", "title": "Book entity", "description": "the book", "phase": "domain", "milestone": "m-domain",
    "complexity": "medium", "task_type": "model",
    "files": ["library_service/models/book.py", "tests/test_book_model.py"],
}  # fmt: skip
TASK_REQUEST = {
    "model": STRONG_MODEL,
    "system": system_for("TaskOutput"),
    "messages": [
        {
            "role": "user",
            "content": user_blocks(tail=f"<request>Track books</request><task>{orjson.dumps(TASK).decode()}</task>"),
        }
    ],
}
OUTPUT_PER_S = 8000 / 60  # tier 1 Sonnet refills 8,000 output tokens a minute


def output_remaining(headers: Mapping[str, str]) -> int:
    return int(headers["anthropic-ratelimit-output-tokens-remaining"])


async def until_admitted(sim: SimulatorHandle, requests: int) -> None:
    """Wait (real time, the clock stays frozen) until the simulator has admitted ``requests`` requests."""
    for _ in range(500):
        if sum(sim.stats()["requests_by_role"].values()) >= requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the simulator did not admit {requests} requests")


async def test_max_tokens_above_the_output_limit_is_refused_at_once(start_sim: StartSim) -> None:
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model="claude-opus-4-6", max_tokens=8001, messages=HELLO)
        answer = await client.messages.create(model="claude-opus-4-6", max_tokens=8000, messages=HELLO)
    assert info.value.body["error"] == {
        "type": "rate_limit_error",
        "message": "This request would exceed your organization's rate limit of 8,000 output tokens per minute "
        "(model: claude-opus-4-6, tier 1): output tokens are estimated from max_tokens at the start of a request. "
        "Please reduce max_tokens to at most 8000.",
    }
    headers = info.value.response.headers
    assert headers["retry-after"] == "1"
    assert all(name in headers for name in LIMIT_HEADERS)
    assert headers["anthropic-ratelimit-requests-remaining"] == "50"  # nothing was spent
    assert output_remaining(headers) == 8000
    assert answer.stop_reason == "end_turn"


async def test_output_tokens_spent_refuse_the_next_request_until_its_max_tokens_fit(start_sim: StartSim) -> None:
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        spent = (await client.messages.create(max_tokens=7000, **PLAN_REQUEST)).usage.output_tokens
        assert spent > 1000  # so 8,000 - spent < 7,000: the next reservation does not fit
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(max_tokens=7000, **PLAN_REQUEST)
        wait = math.ceil((7000 - (8000 - spent)) / OUTPUT_PER_S)
        assert "8,000 output tokens per minute" in info.value.body["error"]["message"]
        assert info.value.response.headers["retry-after"] == str(wait)
        assert output_remaining(info.value.response.headers) == 8000 - spent
        sim.clock.advance(wait)
        await client.messages.create(max_tokens=7000, **PLAN_REQUEST)


async def test_a_request_in_flight_holds_its_reservation_so_the_next_waits_for_it(start_sim: StartSim) -> None:
    async with start_sim(tier="1", latency=2) as sim, sdk_client(sim) as client:
        first = asyncio.create_task(client.messages.create(model=STRONG_MODEL, max_tokens=6000, messages=HELLO))
        await until_admitted(sim, 1)
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model=STRONG_MODEL, max_tokens=3000, messages=HELLO)
        assert not first.done()
        assert output_remaining(info.value.response.headers) == 2000
        assert info.value.response.headers["retry-after"] == "8"  # 1,000 missing at 133.3 a second: 7.5 s
        sim.clock.advance(7)
        with pytest.raises(anthropic.RateLimitError):
            await client.messages.create(model=STRONG_MODEL, max_tokens=3000, messages=HELLO)
        sim.clock.advance(1)
        second = await client.messages.with_raw_response.create(model=STRONG_MODEL, max_tokens=3000, messages=HELLO)
        assert output_remaining(second.headers) == math.floor(2000 + 8 * OUTPUT_PER_S - 3000)
        await first
        # Both gave back what they did not use: the bucket is full again, never over its capacity.
        third = await client.messages.with_raw_response.create(model=STRONG_MODEL, max_tokens=100, messages=HELLO)
    assert output_remaining(third.headers) == 7900


async def test_the_unused_part_of_a_reservation_comes_back_when_the_answer_ends(start_sim: StartSim) -> None:
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        first = await client.messages.with_raw_response.create(model=STRONG_MODEL, max_tokens=6000, messages=HELLO)
        used = (await first.parse()).usage.output_tokens
        async with client.messages.stream(model=STRONG_MODEL, max_tokens=1000, messages=HELLO) as stream:
            second_remaining = output_remaining(stream.response.headers)
            streamed = (await stream.get_final_message()).usage.output_tokens
        third = await client.messages.with_raw_response.create(model=STRONG_MODEL, max_tokens=100, messages=HELLO)
    assert output_remaining(first.headers) == 2000  # the headers show the reservation
    assert 0 < used < 100
    assert second_remaining == 8000 - used - 1000
    assert output_remaining(third.headers) == 8000 - used - streamed - 100


@pytest.mark.parametrize(("fault", "status"), [("overloaded", 529), ("server_error", 500)])
async def test_a_transport_fault_gives_the_whole_reservation_back(start_sim: StartSim, fault: str, status: int) -> None:
    async with start_sim(tier="1", faults={fault: 1.0}) as sim, sdk_client(sim) as client:
        for _ in range(3):  # 3 x 6,000 reserved: a kept reservation would make the second a 429
            with pytest.raises(anthropic.APIStatusError) as info:
                await client.messages.create(model=STRONG_MODEL, max_tokens=6000, messages=HELLO)
            assert info.value.status_code == status
            assert output_remaining(info.value.response.headers) == 8000
        assert sim.stats()["rate_limited"] == 0


async def full_task_answer_tokens(start_sim: StartSim) -> int:
    async with start_sim() as sim, sdk_client(sim) as client:
        return (await client.messages.create(max_tokens=6000, **TASK_REQUEST)).usage.output_tokens


async def test_a_dropped_answer_is_charged_what_was_generated(start_sim: StartSim) -> None:
    """A JSON answer is generated whole before it is sent; a stream is charged the part it sent."""
    full = await full_task_answer_tokens(start_sim)
    async with start_sim(tier="1", faults={"disconnect": 1.0}) as sim, sdk_client(sim) as client:
        with pytest.raises(anthropic.APIConnectionError):
            await client.messages.create(max_tokens=6000, **TASK_REQUEST)
        received = ""
        async with client.messages.stream(max_tokens=1000, **TASK_REQUEST) as stream:
            after_json = output_remaining(stream.response.headers)
            with pytest.raises(httpx2.HTTPError):
                async for text in stream.text_stream:
                    received += text
        async with client.messages.stream(max_tokens=100, messages=HELLO, model=STRONG_MODEL) as stream:
            after_stream = output_remaining(stream.response.headers)
    assert 1000 < full < 6000
    assert after_json == 8000 - full - 1000
    charged = 8000 - full - after_stream - 100
    assert text_tokens(received) <= charged < 1000  # the stream broke off midway through 1,000 tokens
    assert received


async def test_a_client_that_goes_away_midstream_is_charged_what_was_sent(start_sim: StartSim) -> None:
    full = await full_task_answer_tokens(start_sim)
    async with start_sim(tier="1", latency=0.5) as sim, sdk_client(sim) as client:
        async with client.messages.stream(max_tokens=7000, **TASK_REQUEST) as stream:
            async for _ in stream.text_stream:
                break
        for _ in range(100):  # until the simulator notices, at its next write, and gives the rest back
            try:
                after = await client.messages.with_raw_response.create(
                    model=STRONG_MODEL, max_tokens=7000, messages=HELLO
                )
                break
            except anthropic.RateLimitError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the reservation of the abandoned stream never came back")
    charged = 8000 - output_remaining(after.headers) - 7000
    assert 0 < charged < full // 2


async def test_tier_none_never_limits_and_sends_no_limit_headers(start_sim: StartSim) -> None:
    async with start_sim(tier="none") as sim, sdk_client(sim) as client:
        for _ in range(60):
            raw = await client.messages.with_raw_response.create(model=FAST_MODEL, max_tokens=10, messages=HELLO)
    assert "anthropic-ratelimit-requests-limit" not in raw.headers
    assert raw.headers["request-id"].startswith("req_")
