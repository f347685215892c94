"""Structured outputs through the gateway: schemas sent where taken, refusals turning them off, stop reasons.

The simulator implements ``output_config.format`` as the Messages API documents it
(``tests/sim/test_sim_structured.py``); these tests drive the real gateway and SDK against it over HTTP.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from masterplan.llm import CallContext, Parsed, ParseFailure
from masterplan.llm.observer import GatewayObserver
from masterplan.llm.pricing import PriceTable
from masterplan.llm.structured import StructuredOutputsOff
from masterplan.metrics.llm import LLMMetrics
from masterplan.models import TaskOutput

from .conftest import SimGatewayFactory, TaskRequests

CONTEXT = CallContext(phase="task_execution", role="developer", prompt_name="developer", prompt_version=1, run_id="r1")
CONTENT_FAULTS = "malformed_json=0.4,prose_json=0.3,fenced_json=0.3"


class OffReports(GatewayObserver):
    def __init__(self) -> None:
        self.reports: list[StructuredOutputsOff] = []

    def on_structured_outputs_off(self, off: StructuredOutputsOff) -> None:
        self.reports.append(off)


async def test_structured_answers_parse_whole_whatever_the_content_faults(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    async with sim_gateway(faults=CONTENT_FAULTS, seed=3) as sg:
        for index in range(8):
            result = await sg.gateway.complete(task_requests.build(f"t{index}"), schema=TaskOutput, context=CONTEXT)
            assert isinstance(result.outcome, Parsed)
            assert result.outcome.strategy == "whole_text"
        assert [record.outcome for record in sg.recorded.records] == ["ok"] * 8
        assert all(record.structured_output for record in sg.recorded.records)
        assert sg.sim_requests() == 8


async def test_the_same_faults_without_structured_outputs_need_the_parser(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    """The control of the test above: with the setting off the same faults reach the parser."""
    async with sim_gateway(faults=CONTENT_FAULTS, seed=3, structured_outputs=False) as sg:
        outcomes = []
        for index in range(8):
            result = await sg.gateway.complete(task_requests.build(f"t{index}"), schema=TaskOutput, context=CONTEXT)
            outcomes.append(result.outcome.strategy if isinstance(result.outcome, Parsed) else result.outcome.kind)
        assert set(outcomes) - {"whole_text"}, outcomes
        assert not any(record.structured_output for record in sg.recorded.records)


async def test_a_server_without_the_feature_turns_it_off_once_and_answers_are_parsed(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, caplog: pytest.LogCaptureFixture
) -> None:
    observer = OffReports()
    caplog.set_level(logging.WARNING, logger="masterplan.llm.structured")
    async with sim_gateway(faults="fenced_json=1.0", sim_structured_outputs=False, observer=observer) as sg:
        first = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        second = await sg.gateway.complete(task_requests.build("t2"), schema=TaskOutput, context=CONTEXT)
        for result in (first, second):
            assert isinstance(result.outcome, Parsed)
            assert result.outcome.strategy == "fenced_block"  # the parser's work, as before the feature
        refused, *answered = sg.recorded.records
        assert refused.outcome == "client_error"
        assert refused.structured_output
        assert "output_config" in (refused.error or "")
        assert refused.cost_usd == 0
        assert [(record.outcome, record.structured_output) for record in answered] == [("ok", False)] * 2
        assert sg.sim_requests() == 3  # one refusal for the whole server, then every call without the parameter
    [off] = observer.reports
    assert (off.scope, off.schema_name) == ("server", "TaskOutput")
    warnings = [record for record in caplog.records if "structured outputs turned off" in record.getMessage()]
    assert len(warnings) == 1
    assert "this server" in warnings[0].getMessage()


async def test_a_model_the_server_refuses_it_for_goes_without_while_others_keep_it(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests, tmp_path: Path
) -> None:
    """A price table that wrongly says Opus 4.1 has the feature: the API's 400 names the model, and only it is off."""
    assert not PriceTable.load().get("claude-opus-4-1").structured_outputs  # as the packaged table says
    packaged = Path(__file__).parents[2] / "masterplan" / "llm" / "pricing.toml"
    wrong = packaged.read_text(encoding="utf-8").replace(
        'rate_limit_group = "opus-4"\nassistant_prefill = true\n',
        'rate_limit_group = "opus-4"\nassistant_prefill = true\nstructured_outputs = true\n',
        1,
    )
    prices = PriceTable.from_toml(wrong)
    assert prices.get("claude-opus-4-1").structured_outputs
    observer = OffReports()
    dated = "claude-opus-4-1-20250805"  # configured by its dated id: the refusal must still stick
    async with sim_gateway(prices=prices, observer=observer, strong_model=dated) as sg:
        first = await sg.gateway.complete(task_requests.build("t1", model=dated), schema=TaskOutput, context=CONTEXT)
        haiku = await sg.gateway.complete(task_requests.build("t2"), schema=TaskOutput, context=CONTEXT)
        again = await sg.gateway.complete(task_requests.build("t3", model=dated), schema=TaskOutput, context=CONTEXT)
        for result in (first, haiku, again):
            assert isinstance(result.outcome, Parsed)
        assert [(r.model, r.outcome, r.structured_output) for r in sg.recorded.records] == [
            (dated, "client_error", True),
            (dated, "ok", False),
            ("claude-haiku-4-5", "ok", True),
            (dated, "ok", False),  # no second refusal
        ]
    [off] = observer.reports
    assert (off.scope, off.model) == ("model", dated)
    assert "not supported by the model" in off.reason


async def test_a_refusal_is_an_unusable_answer_with_feedback(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    registry = CollectorRegistry()
    async with sim_gateway(faults="refusal=1.0", observer=LLMMetrics(registry)) as sg:
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        assert result.stop_reason == "refusal"
        assert isinstance(result.outcome, ParseFailure)
        assert (result.outcome.kind, result.outcome.outcome) == ("refused", "refused")
        assert "declined" in result.outcome.feedback
        [record] = sg.recorded.records
        assert (record.outcome, record.structured_output) == ("refused", True)
        assert record.cost_usd > 0  # a refusal is billed like any answer
    labels = {"phase": "task_execution", "outcome": "refused", "structured_output": "true"}
    assert registry.get_sample_value("masterplan_llm_parse_failures_total", labels) == 1


async def test_parse_failures_are_counted_by_whether_the_schema_was_sent(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    registry = CollectorRegistry()
    async with sim_gateway(faults="malformed_json=1.0", structured_outputs=False, observer=LLMMetrics(registry)) as sg:
        result = await sg.gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)
        assert isinstance(result.outcome, ParseFailure)
    unstructured = {"phase": "task_execution", "outcome": "parse_error", "structured_output": "false"}
    assert registry.get_sample_value("masterplan_llm_parse_failures_total", unstructured) == 1
    structured = dict(unstructured, structured_output="true")
    assert registry.get_sample_value("masterplan_llm_parse_failures_total", structured) is None


async def test_a_cut_structured_answer_is_continued_without_the_schema(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    """Prefill and structured outputs do not combine: the continuation goes as text, the joined answer parses."""
    async with sim_gateway(faults="truncated=0.5", seed=1) as sg:
        continued = None
        for index in range(10):
            result = await sg.gateway.complete(task_requests.build(f"t{index}"), schema=TaskOutput, context=CONTEXT)
            if result.parts > 1 and isinstance(result.outcome, Parsed):
                continued = result
                break
        assert continued is not None, "no answer of ten was cut and completed"
        assert [record.structured_output for record in continued.records] == [True] + [False] * (continued.parts - 1)
        assert all(record.outcome == "ok" for record in continued.records)


async def test_a_structured_answer_cut_beyond_its_parts_counts_as_structured(
    sim_gateway: SimGatewayFactory, task_requests: TaskRequests
) -> None:
    """Its last part went without the schema (a continuation), but the answer was asked with it."""
    registry = CollectorRegistry()
    many_files = [f"shop/module_{index}.py" for index in range(60)]  # seven cuts never finish it
    async with sim_gateway(faults="truncated=1.0", observer=LLMMetrics(registry)) as sg:
        request = task_requests.build("t1", files=many_files)
        result = await sg.gateway.complete(request, schema=TaskOutput, context=CONTEXT)
    assert isinstance(result.outcome, ParseFailure)
    assert result.outcome.truncated
    assert result.structured_output
    assert not result.records[-1].structured_output
    labels = {"phase": "task_execution", "outcome": "truncated", "structured_output": "true"}
    assert registry.get_sample_value("masterplan_llm_parse_failures_total", labels) == 1
    assert (
        registry.get_sample_value("masterplan_llm_parse_failures_total", dict(labels, structured_output="false"))
        is None
    )
