"""Running the simulator: in-process on an ephemeral port, or until cancelled for the CLI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from masterplan.sim.app import create_sim_app
from masterplan.sim.clock import SimClock
from masterplan.sim.config import SimConfig
from masterplan.sim.state import SIM_STATE

log = logging.getLogger("masterplan.sim")

SHUTDOWN_TIMEOUT_S = 2.0
"""How long stopping waits for answers still in flight."""


@dataclass(frozen=True)
class SimulatorHandle:
    """A running simulator: where it listens, its clock and its counters."""

    base_url: str
    clock: SimClock
    app: web.Application

    def stats(self) -> dict[str, Any]:
        """The counters of ``GET /sim/stats`` (message batches whose time is over are answered first)."""
        state = self.app[SIM_STATE]
        state.settle_batches()
        return state.stats.snapshot()

    def reset(self, *, everything: bool = False) -> None:
        """Clear the counters (``everything``: also the cache, buckets and seen bodies)."""
        state = self.app[SIM_STATE]
        if everything:
            state.reset()
        else:
            state.stats.reset()


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the simulator is not listening on a TCP port")


@asynccontextmanager
async def running_simulator(
    config: SimConfig | None = None, clock: SimClock | None = None
) -> AsyncIterator[SimulatorHandle]:
    """Run the simulator in this event loop; ``config.port`` 0 (the default here) picks a free port."""
    config = config or SimConfig(port=0)
    clock = clock or SimClock()
    app = create_sim_app(config, clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host = f"[{config.host}]" if ":" in config.host else config.host
        yield SimulatorHandle(f"http://{host}:{_bound_port(runner)}", clock, app)
    finally:
        await runner.cleanup()


async def serve_simulator(config: SimConfig) -> None:
    """Run the simulator until cancelled (``masterplan sim``)."""
    async with running_simulator(config) as handle:
        log.info(
            "simulator listening on %s (tier %s, latency x%s, faults %s, seed %s)",
            handle.base_url, config.tier, config.latency, config.faults or "none", config.seed,
        )  # fmt: skip
        print(f"masterplan simulator listening on {handle.base_url}", flush=True)
        await asyncio.Event().wait()
