"""Fixtures of the simulator tests: a live simulator on an ephemeral port and the real SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
import pytest
from anthropic import AsyncAnthropic

from masterplan import models
from masterplan.sim import SimClock, SimConfig, SimulatorHandle, running_simulator

FAST_MODEL = "claude-haiku-4-5"
STRONG_MODEL = "claude-sonnet-4-6"

StartSim = Callable[..., AbstractAsyncContextManager[SimulatorHandle]]


@pytest.fixture
def start_sim() -> StartSim:
    """Start a simulator with config overrides; the clock is frozen unless a clock is given."""

    def start(clock: SimClock | None = None, **overrides: Any) -> AbstractAsyncContextManager[SimulatorHandle]:
        config = SimConfig(**{"tier": "none", "port": 0, **overrides})
        return running_simulator(config, clock or SimClock(frozen=True))

    return start


@pytest.fixture
async def sim(start_sim: StartSim) -> AsyncIterator[SimulatorHandle]:
    async with start_sim() as handle:
        yield handle


def sdk_client(handle: SimulatorHandle, **options: Any) -> AsyncAnthropic:
    return AsyncAnthropic(api_key="sim-test-key", base_url=handle.base_url, **{"max_retries": 0, **options})


@pytest.fixture
async def client(sim: SimulatorHandle) -> AsyncIterator[AsyncAnthropic]:
    async with sdk_client(sim) as sdk:
        yield sdk


def system_for(schema: str, prompt: str = "You are a role of masterplan.") -> list[dict[str, Any]]:
    """A system prompt laid out as docs/request-layout.md says: role prompt + output schema, cached."""
    json_schema = orjson.dumps(getattr(models, schema).model_json_schema()).decode()
    text = f'{prompt}\n\n<output_schema name="{schema}">{json_schema}</output_schema>'
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def user_blocks(*cached: str, tail: str) -> list[dict[str, Any]]:
    """User content: cached prefix blocks (each a breakpoint) then the uncached tail."""
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}} for text in cached
    ]
    return [*blocks, {"type": "text", "text": tail}]


def long_text(tokens: int, seed: str = "context") -> str:
    """A text of about ``tokens`` tokens under the simulator's approximation (4 bytes a token)."""
    unit = f"{seed} line of project context. "
    return (unit * (tokens * 4 // len(unit) + 1))[: tokens * 4]
