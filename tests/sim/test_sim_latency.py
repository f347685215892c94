"""The latency model: time to first token, then output at the model's speed, scaled by a factor."""

from __future__ import annotations

import time

from sim_helpers import FAST_MODEL, StartSim, sdk_client

from masterplan.sim.latency import LatencyModel
from masterplan.sim.model_table import load_model_table

HELLO = [{"role": "user", "content": "Hello there"}]


def test_latency_is_first_token_time_plus_output_at_the_models_speed() -> None:
    table = load_model_table()
    haiku = table.models["claude-haiku-4-5"]
    sonnet = table.models["claude-sonnet-4-6"]
    realistic = LatencyModel(1.0)
    assert realistic.total_s(haiku, 1000) == haiku.ttft_s + 10.0  # 100 tokens a second
    assert realistic.total_s(sonnet, 600) == sonnet.ttft_s + 10.0  # 60 tokens a second
    assert LatencyModel(0.5).total_s(sonnet, 600) == realistic.total_s(sonnet, 600) / 2
    assert LatencyModel(0.0).total_s(sonnet, 600) == 0.0


async def test_a_streamed_answer_spreads_its_deltas_over_the_modelled_time(start_sim: StartSim) -> None:
    factor = 0.2
    async with start_sim(latency=factor) as sim, sdk_client(sim) as client:
        started = time.monotonic()
        stream = await client.messages.create(model=FAST_MODEL, max_tokens=200, messages=HELLO, stream=True)
        arrivals = [(event.type, time.monotonic() - started) async for event in stream]
    spec = load_model_table().models[FAST_MODEL]
    deltas = [at for kind, at in arrivals if kind == "content_block_delta"]
    output_tokens = 23  # the answer to a request no role is recognised in
    assert deltas[0] >= factor * spec.ttft_s
    assert arrivals[-1][1] >= factor * (spec.ttft_s + output_tokens / spec.tokens_per_second)
    assert deltas[-1] > deltas[0]
