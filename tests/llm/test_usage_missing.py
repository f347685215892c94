"""An Anthropic-compatible server that reports no usage: calls are counted at masterplan's estimate, never at $0.

The answers come from the simulator through a proxy that zeroes (or drops) every usage count of the
stream, over real HTTP; the simulator itself is left a faithful Anthropic.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from masterplan.config import Settings
from masterplan.llm import CallContext, LLMGateway, RunBudget
from masterplan.llm.tokens import estimate_tokens
from masterplan.metrics.llm import LLMMetrics
from masterplan.models import LLMCallRecord, RunOptions, RunRequest, TaskOutput
from masterplan.service.assembly import open_service
from masterplan.sim import SimConfig, running_simulator

from .conftest import TaskRequests
from .lookalike_servers import EventRewrite, ProxyHandle, drop_usage, rewriting_proxy, zero_usage

CONTEXT = CallContext(
    phase="task_execution", role="developer", prompt_name="developer", prompt_version=1, run_id="r1", task_id="t1"
)


@asynccontextmanager
async def _no_usage_server(rewrite: EventRewrite) -> AsyncIterator[ProxyHandle]:
    config = SimConfig(port=0, tier="none", latency="none", seed=0)
    async with running_simulator(config) as sim, rewriting_proxy(sim.base_url, rewrite=rewrite) as proxy:
        yield proxy


class _Recorded:
    def __init__(self) -> None:
        self.records: list[LLMCallRecord] = []

    async def __call__(self, record: LLMCallRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("rewrite", [zero_usage, drop_usage], ids=["usage zero", "usage missing"])
async def test_answer_without_usage_is_counted_at_the_estimate_and_flagged(
    rewrite: Callable[[dict[str, Any]], dict[str, Any]], task_requests: TaskRequests
) -> None:
    registry = CollectorRegistry()
    recorded = _Recorded()
    async with _no_usage_server(rewrite) as server:
        settings = Settings(anthropic_api_key="k", anthropic_base_url=server.base_url, rate_limit_tier="none")
        async with LLMGateway(settings, recorder=recorded, observer=LLMMetrics(registry)) as gateway:
            request = task_requests.build("t1")
            budget = RunBudget(Decimal(5), run_id="r1")
            result = await gateway.complete(request, schema=TaskOutput, context=CONTEXT, budget=budget)

    assert result.parsed is not None
    [record] = recorded.records
    assert record.outcome == "ok"
    assert record.usage_estimated
    assert record.input_tokens == request.estimated_input_tokens
    assert record.output_tokens == estimate_tokens(result.text) > 0
    expected = gateway.prices.cost(request.model, result.usage)
    assert record.cost_usd == result.cost_usd == expected > 0
    assert budget.spent_usd == expected, "the budget guard sees the estimated spend"
    assert registry.get_sample_value("masterplan_llm_usage_estimated_total", {"model": request.model}) == 1
    labels = {"model": request.model, "phase": "task_execution"}
    assert registry.get_sample_value("masterplan_llm_cost_usd_total", labels) == float(expected)


async def test_reported_usage_is_kept_and_not_flagged(task_requests: TaskRequests) -> None:
    recorded = _Recorded()
    async with _no_usage_server(lambda event: event) as server:
        settings = Settings(anthropic_api_key="k", anthropic_base_url=server.base_url, rate_limit_tier="none")
        async with LLMGateway(settings, recorder=recorded) as gateway:
            await gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
    [record] = recorded.records
    assert not record.usage_estimated
    assert record.input_tokens + record.cache_write_tokens + record.cache_read_tokens > 0


async def test_missing_usage_is_warned_once_per_run(
    task_requests: TaskRequests, caplog: pytest.LogCaptureFixture
) -> None:
    async with _no_usage_server(zero_usage) as server:
        settings = Settings(anthropic_api_key="k", anthropic_base_url=server.base_url, rate_limit_tier="none")
        async with LLMGateway(settings, recorder=_Recorded()) as gateway:
            with caplog.at_level(logging.WARNING, logger="masterplan.llm.gateway"):
                for task_id in ("t1", "t2"):
                    await gateway.complete(task_requests.build(task_id), schema=TaskOutput, context=CONTEXT)
                other_run = CallContext(
                    phase="task_execution", role="developer", prompt_name="developer", prompt_version=1, run_id="r2"
                )
                await gateway.complete(task_requests.build("t3"), schema=TaskOutput, context=other_run)
    warnings = [r.getMessage() for r in caplog.records if "reported no input tokens" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert "run r1" in warnings[0]
    assert "run r2" in warnings[1]
    assert server.base_url in warnings[0]


async def test_run_against_a_server_without_usage_pays_its_estimate_and_says_so(tmp_path: Path) -> None:
    async with _no_usage_server(zero_usage) as server:
        settings = Settings(
            anthropic_api_key="k",
            anthropic_base_url=server.base_url,
            database_url=f"sqlite://{tmp_path / 'masterplan.db'}",
            workspace_root=tmp_path / "ws",
            rate_limit_tier="none",
        )
        request = RunRequest(
            request="A task-tracking API with users",
            options=RunOptions(tasks=2, auto_answer=True, approval="auto", checks=["python -m compileall -q ."]),
        )
        async with open_service(settings) as service:
            run = await service.wait((await service.create(request)).id)
            async with service.store.transaction() as tx:
                calls = await tx.list_llm_calls(run.id)
                events = await tx.events_after(run.id)
                report = await tx.get_artifact(run.id, "REPORT.md")

    assert run.status.value == "completed", run.error
    assert calls
    assert all(call.usage_estimated for call in calls)
    assert run.cost_usd == sum((call.cost_usd for call in calls), Decimal(0)) > 0
    assert run.usage.input_tokens > 0
    assert run.usage.output_tokens > 0
    warnings = [event for event in events if event.type == "llm.usage_missing"]
    assert len(warnings) == 1
    assert warnings[0].data["estimated_input_tokens"] > 0
    assert all(event.data["usage_estimated"] for event in events if event.type == "llm.call")
    assert report is not None
    assert f"{len(calls)} call(s) whose server reported no input tokens" in report.content
