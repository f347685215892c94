"""Fixtures of the simulator tests: a live simulator on an ephemeral port and the real SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from anthropic import AsyncAnthropic
from sim_helpers import StartSim, sdk_client

from masterplan.sim import SimClock, SimConfig, SimulatorHandle, running_simulator


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


@pytest.fixture
async def client(sim: SimulatorHandle) -> AsyncIterator[AsyncAnthropic]:
    async with sdk_client(sim) as sdk:
        yield sdk
