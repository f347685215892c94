"""Prompt caching: prefixes, breakpoints, minimum lengths, TTLs and their refresh."""

from __future__ import annotations

from typing import Any

import httpx2
from anthropic import AsyncAnthropic
from anthropic.types import Usage
from sim_helpers import FAST_MODEL, STRONG_MODEL, long_text, system_for, user_blocks

from masterplan.sim import SimulatorHandle

PROJECT = "<project>" + long_text(5000, "project") + "</project>"


async def ask(
    client: AsyncAnthropic, *cached: str, tail: str = "<task>T1</task>", model: str = STRONG_MODEL, **kw: Any
) -> Usage:
    message = await client.messages.create(
        model=model, max_tokens=1000, system=system_for("QAReport"),
        messages=[{"role": "user", "content": user_blocks(*cached, tail=tail)}], **kw,
    )  # fmt: skip
    return message.usage


async def test_second_call_with_the_same_prefix_reads_it_from_cache(client: AsyncAnthropic) -> None:
    first = await ask(client, PROJECT, tail="<task>T1</task>")
    second = await ask(client, PROJECT, tail="<task>T2</task>")
    assert first.cache_read_input_tokens == 0
    assert first.cache_creation_input_tokens > 5000
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens == first.input_tokens


async def test_a_changed_prefix_is_not_read_from_cache(client: AsyncAnthropic) -> None:
    await ask(client, PROJECT)
    changed = await ask(client, PROJECT.replace("project line", "changed line", 1))
    system_only = changed.cache_read_input_tokens
    assert system_only < 1000  # only the system block (role prompt + schema) still matches
    assert changed.cache_creation_input_tokens > 5000


async def test_the_prefix_order_is_tools_then_system_then_messages(client: AsyncAnthropic) -> None:
    tools = [{"name": "lookup", "description": long_text(300, "tool"), "input_schema": {"type": "object"}}]
    await ask(client, PROJECT, tools=tools)
    other_tools = [{**tools[0], "description": long_text(300, "other")}]
    changed_tools = await ask(client, PROJECT, tools=other_tools)
    assert changed_tools.cache_read_input_tokens == 0


async def test_an_expired_ttl_writes_the_prefix_again(client: AsyncAnthropic, sim: SimulatorHandle) -> None:
    first = await ask(client, PROJECT)
    sim.clock.advance(301)
    again = await ask(client, PROJECT)
    assert again.cache_read_input_tokens == 0
    assert again.cache_creation_input_tokens == first.cache_creation_input_tokens


async def test_a_hit_refreshes_the_ttl(client: AsyncAnthropic, sim: SimulatorHandle) -> None:
    await ask(client, PROJECT)
    sim.clock.advance(200)
    await ask(client, PROJECT)
    sim.clock.advance(200)  # 400 s after the write, 200 s after the hit
    third = await ask(client, PROJECT)
    assert third.cache_read_input_tokens > 5000


async def test_one_hour_breakpoints_outlive_five_minutes_and_are_reported_apart(
    client: AsyncAnthropic, sim: SimulatorHandle
) -> None:
    blocks = [
        {"type": "text", "text": PROJECT, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "<completed_tasks>" + long_text(2000, "log") + "</completed_tasks>",
         "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "<task>T1</task>"},
    ]  # fmt: skip
    system = [{**system_for("QAReport")[0], "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    kwargs = {
        "model": STRONG_MODEL,
        "max_tokens": 100,
        "system": system,
        "messages": [{"role": "user", "content": blocks}],
    }
    first = (await client.messages.create(**kwargs)).usage
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_1h_input_tokens > 5000
    assert 2000 <= first.cache_creation.ephemeral_5m_input_tokens < 2100
    sim.clock.advance(600)
    later = (await client.messages.create(**kwargs)).usage
    assert later.cache_read_input_tokens == first.cache_creation.ephemeral_1h_input_tokens
    assert later.cache_creation_input_tokens == first.cache_creation.ephemeral_5m_input_tokens


async def test_a_prefix_below_the_models_minimum_is_not_cached(client: AsyncAnthropic) -> None:
    short = "<project>" + long_text(2000) + "</project>"  # above Sonnet's 1024, below Haiku's 4096
    haiku = await ask(client, short, model=FAST_MODEL)
    sonnet = await ask(client, short, model=STRONG_MODEL)
    assert haiku.cache_creation_input_tokens == 0
    assert haiku.input_tokens > 2000
    assert sonnet.cache_creation_input_tokens > 2000


async def test_caches_are_kept_per_model(client: AsyncAnthropic) -> None:
    await ask(client, PROJECT, model=STRONG_MODEL)
    other_model = await ask(client, PROJECT, model="claude-opus-4-6")
    assert other_model.cache_read_input_tokens == 0


async def test_the_clock_can_be_advanced_over_http(client: AsyncAnthropic, sim: SimulatorHandle) -> None:
    await ask(client, PROJECT)
    async with httpx2.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/sim/clock/advance", json={"seconds": 301})
        refused = await http.post("/sim/clock/advance", json={"seconds": -1})
    assert response.status_code == 200
    assert refused.status_code == 400
    assert (await ask(client, PROJECT)).cache_read_input_tokens == 0


async def test_a_longer_prefix_finds_the_entry_an_earlier_breakpoint_left(client: AsyncAnthropic) -> None:
    await ask(client, PROJECT)
    log = "<completed_tasks>" + long_text(1500, "log") + "</completed_tasks>"
    grown = await ask(client, PROJECT, log)
    assert grown.cache_read_input_tokens > 5000
    assert 1500 <= grown.cache_creation_input_tokens < 1600
