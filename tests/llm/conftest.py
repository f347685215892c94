"""Fixtures of the gateway tests: prices, phase configurations, and a real simulator over HTTP.

Time is the only thing faked: ``SimDrivenClock`` makes the gateway's waits (rate-limit timers,
back-off) advance the simulator's frozen clock instead of sleeping, so buckets refill and
retry-after passes instantly and exactly, on both sides of the wire.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from masterplan.cache import ProjectContext, PromptCacheManager, RunCacheContext, TTLHint
from masterplan.config import RateTier, Settings
from masterplan.llm.gateway import LLMGateway
from masterplan.llm.observer import GatewayObserver
from masterplan.llm.pricing import PriceTable
from masterplan.llm.request import LLMRequest
from masterplan.models import DiscoveryDocument, Entity, LLMCallRecord, PhaseConfig, PlanTask
from masterplan.sim import SimClock, SimConfig, SimulatorHandle, running_simulator

PROMPTS = Path(__file__).resolve().parents[2] / "masterplan" / "prompts"


@pytest.fixture(scope="session")
def prices() -> PriceTable:
    return PriceTable.load()


@pytest.fixture(scope="session")
def phases() -> dict[str, PhaseConfig]:
    data = tomllib.loads((PROMPTS / "phases.toml").read_text(encoding="utf-8"))
    return {name: PhaseConfig(phase=name, **entry) for name, entry in data.items()}


@pytest.fixture(scope="session")
def developer_prompt() -> str:
    return (PROMPTS / "roles" / "developer.md").read_text(encoding="utf-8")


class SimDrivenClock:
    """The gateway's clock reads the simulator's; sleeping advances it (and records how long)."""

    def __init__(self, sim_clock: SimClock) -> None:
        self.sim_clock = sim_clock
        self.slept: list[float] = []

    def now(self) -> float:
        return self.sim_clock.now()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.sim_clock.advance(seconds)
        await asyncio.sleep(0)


class Recorded:
    """The CallRecorder of the tests: keeps every record in order."""

    def __init__(self) -> None:
        self.records: list[LLMCallRecord] = []

    async def __call__(self, record: LLMCallRecord) -> None:
        self.records.append(record)


class SimGateway:
    """A gateway wired to a running simulator, with its recorder and clock."""

    def __init__(self, gateway: LLMGateway, sim: SimulatorHandle, recorded: Recorded, clock: SimDrivenClock) -> None:
        self.gateway = gateway
        self.sim = sim
        self.recorded = recorded
        self.clock = clock

    def sim_requests(self) -> int:
        """How many /v1/messages requests reached the simulator: answered (any status) or dropped."""
        stats: dict[str, Any] = self.sim.stats()
        return int(sum(stats["requests_by_status"].values()) + stats["faults"].get("disconnect", 0))


SimGatewayFactory = Callable[..., AbstractAsyncContextManager[SimGateway]]


@pytest.fixture
def sim_gateway() -> SimGatewayFactory:
    """``async with sim_gateway(tier="1", faults="...", max_attempts=3) as sg:`` gives a wired gateway.

    The gateway's ``rate_limit_tier`` is the simulator's ``tier`` unless given apart; other keywords are
    settings. ``sim_structured_outputs=False`` starts a simulator that refuses ``output_config``."""

    @asynccontextmanager
    async def open_gateway(
        *,
        tier: RateTier = "1",
        faults: str = "",
        seed: int = 0,
        max_attempts: int = 5,
        observer: GatewayObserver | None = None,
        prices: PriceTable | None = None,
        sim_structured_outputs: bool = True,
        **settings: Any,
    ) -> AsyncIterator[SimGateway]:
        sim_clock = SimClock(frozen=True)
        config = SimConfig(
            port=0, tier=tier, faults=faults, seed=seed, latency=0, structured_outputs=sim_structured_outputs
        )
        async with running_simulator(config, sim_clock) as sim:
            clock = SimDrivenClock(sim_clock)
            recorded = Recorded()
            gateway = LLMGateway(
                Settings(
                    anthropic_api_key="sim-key",
                    anthropic_base_url=sim.base_url,
                    max_attempts=max_attempts,
                    **{"rate_limit_tier": tier, **settings},  # the simulator's tier unless told otherwise
                ),
                recorder=recorded,
                clock=clock,
                observer=observer,
                prices=prices,
            )
            async with gateway:
                yield SimGateway(gateway, sim, recorded, clock)

    return open_gateway


def plan_task(task_id: str, files: list[str] | None = None) -> PlanTask:
    return PlanTask(
        task_id=task_id,
        title=f"Build {task_id}",
        description="Write the module and its tests.",
        phase="core",
        milestone="m1",
        complexity="low",
        task_type="service",
        files=files if files is not None else [f"shop/{task_id}.py"],
    )


def project_context(padding_sentences: int = 0) -> ProjectContext:
    """A project block; each padding sentence adds about 10 tokens to the domain description."""
    document = DiscoveryDocument(
        project_name="shop",
        summary="An online shop. " + "Orders, customers, payments and stock. " * padding_sentences,
        entities=[Entity(name="Order"), Entity(name="Customer")],
    )
    return ProjectContext(request="Build an online shop.", discovery_document=document)


class TaskRequests:
    """Builds task_execution requests the way the pipeline lays them out."""

    def __init__(self, prices: PriceTable, phase: PhaseConfig, system_prompt: str) -> None:
        self.manager = PromptCacheManager(prices)
        self.phase = phase
        self.system_prompt = system_prompt

    def build(
        self,
        task_id: str,
        *,
        model: str = "claude-haiku-4-5",
        run: RunCacheContext | None = None,
        ttl_hint: TTLHint | None = None,
        files: list[str] | None = None,
    ) -> LLMRequest:
        task = plan_task(task_id, files)
        tail = "<task>" + orjson.dumps(task.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode() + "</task>"
        return self.manager.build_request(
            self.phase,
            model,
            self.system_prompt,
            tail=tail,
            run=run,
            ttl_hint=ttl_hint,
            include_completed_tasks=run is not None,
        )


@pytest.fixture
def task_requests(prices: PriceTable, phases: dict[str, PhaseConfig], developer_prompt: str) -> TaskRequests:
    return TaskRequests(prices, phases["task_execution"], developer_prompt)
