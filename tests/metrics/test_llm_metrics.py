"""The gateway's Prometheus metrics agree with the audit trail it records."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from masterplan.cache import ProjectContext, PromptCacheManager, RunCacheContext
from masterplan.config import Settings
from masterplan.llm.budget import BudgetExceeded, RunBudget
from masterplan.llm.gateway import LLMGateway
from masterplan.llm.observer import ObserverGroup
from masterplan.llm.result import CallContext
from masterplan.metrics import LLMMetrics
from masterplan.models import DiscoveryQuestions, LLMCallRecord, PhaseConfig
from masterplan.sim import SimConfig, running_simulator

PROMPTS = Path(__file__).resolve().parents[2] / "masterplan" / "prompts"


def phase(name: str) -> PhaseConfig:
    data = tomllib.loads((PROMPTS / "phases.toml").read_text(encoding="utf-8"))
    return PhaseConfig(phase=name, **data[name])


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_token_cost_and_short_prefix_metrics_match_what_was_recorded() -> None:
    registry = CollectorRegistry()
    metrics = LLMMetrics(registry)
    records: list[LLMCallRecord] = []

    async def record(call: LLMCallRecord) -> None:
        records.append(call)

    async with running_simulator(SimConfig(port=0, tier="none", latency="none", seed=3)) as sim:
        settings = Settings(anthropic_api_key="sim-key", anthropic_base_url=sim.base_url, rate_limit_tier="none")
        async with LLMGateway(settings, recorder=record, observer=metrics) as gateway:
            manager = PromptCacheManager(gateway.prices, observer=ObserverGroup([metrics]))
            config = phase("discovery_questions").model_copy(update={"model_class": "fast"})
            run = RunCacheContext(run_id="r1", project=ProjectContext(request="A small todo list"))
            role = (PROMPTS / "roles" / "discovery.md").read_text(encoding="utf-8")
            context = CallContext(phase=config.phase, role="discovery", prompt_name="discovery", prompt_version=1)
            for _ in range(2):
                request = manager.build_request(
                    config, settings.fast_model, role, tail="<request>todo</request>", run=run
                )
                result = await gateway.complete(request, schema=DiscoveryQuestions, context=context)
                assert result.parsed is not None
            with pytest.raises(BudgetExceeded):
                await gateway.complete(
                    request, schema=DiscoveryQuestions, context=context, budget=RunBudget(Decimal("0.000001"))
                )
    model = settings.fast_model
    assert sample(registry, "masterplan_llm_requests_total", model=model, phase=config.phase, outcome="ok") == 2
    for kind, field in [("input", "input_tokens"), ("cache_write", "cache_write_tokens"), ("output", "output_tokens")]:
        expected = sum(getattr(call, field) for call in records)
        assert sample(registry, "masterplan_llm_tokens_total", model=model, kind=kind) == expected
    cost = sample(registry, "masterplan_llm_cost_usd_total", model=model, phase=config.phase)
    assert cost == pytest.approx(float(sum(call.cost_usd for call in records)), abs=1e-12)
    # A few hundred tokens cannot be cached on Haiku 4.5 (minimum 4096): each request built is reported.
    assert sample(registry, "masterplan_cache_prefix_too_short_total", model=model, block="project") == 2
    assert sample(registry, "masterplan_budget_refusals_total") == 1
    text = generate_latest(registry).decode()
    assert "# TYPE masterplan_llm_request_duration_seconds histogram" in text
    assert "# TYPE masterplan_llm_time_to_first_token_seconds histogram" in text
