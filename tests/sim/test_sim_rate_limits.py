"""Rate limits: token buckets per model class at Anthropic's tier numbers, 429s and headers."""

from __future__ import annotations

import anthropic
import pytest
from anthropic import AsyncAnthropic
from sim_helpers import FAST_MODEL, STRONG_MODEL, StartSim, long_text, sdk_client, system_for, user_blocks

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


async def test_output_tokens_over_the_limit_refuse_the_next_request(start_sim: StartSim) -> None:
    plan_request = {
        "model": STRONG_MODEL,
        "max_tokens": 16000,
        "system": system_for("MasterPlan"),
        "messages": [{"role": "user", "content": user_blocks(tail="<request>Books and loans</request>")}],
    }
    async with start_sim(tier="1") as sim, sdk_client(sim) as client:
        spent = 0
        while spent < 8000:
            spent += (await client.messages.create(**plan_request)).usage.output_tokens
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(**plan_request)
    assert "8,000 output tokens" in info.value.body["error"]["message"]


async def test_tier_none_never_limits_and_sends_no_limit_headers(start_sim: StartSim) -> None:
    async with start_sim(tier="none") as sim, sdk_client(sim) as client:
        for _ in range(60):
            raw = await client.messages.with_raw_response.create(model=FAST_MODEL, max_tokens=10, messages=HELLO)
    assert "anthropic-ratelimit-requests-limit" not in raw.headers
    assert raw.headers["request-id"].startswith("req_")
