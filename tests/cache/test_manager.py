"""Request layout and cache planning, without any network."""

from pathlib import Path

import pytest

from masterplan.cache import ProjectContext, PromptCacheManager, RunCacheContext, TTLHint
from masterplan.llm.clock import ManualClock
from masterplan.llm.observer import GatewayObserver, ShortCacheBreakpoint
from masterplan.llm.pricing import PriceTable
from masterplan.llm.request import LLMRequest, RequestLayoutError
from masterplan.models import (
    DiscoveryDocument,
    Entity,
    MasterPlan,
    Milestone,
    PhaseConfig,
    PhaseSummary,
    PlanPhase,
    PlanTask,
)

ROLES = Path(__file__).resolve().parents[2] / "masterplan" / "prompts" / "roles"
DEVELOPER = (ROLES / "developer.md").read_text(encoding="utf-8")


class ShortReports(GatewayObserver):
    def __init__(self) -> None:
        self.reports: list[ShortCacheBreakpoint] = []

    def on_cache_breakpoint_too_short(self, breakpoint: ShortCacheBreakpoint) -> None:
        self.reports.append(breakpoint)


def plan(tasks: int = 3, padding: int = 0) -> MasterPlan:
    return MasterPlan(
        project_name="shop",
        summary="A small shop." + " detail" * padding,
        phases=[PlanPhase(phase_id="p1", name="Core")],
        milestones=[Milestone(milestone_id="m1", name="MVP", phase="p1")],
        tasks=[
            PlanTask(
                task_id=f"t{i}",
                title=f"Task {i}",
                description="Build it.",
                phase="p1",
                milestone="m1",
                complexity="low",
                task_type="service",
            )
            for i in range(tasks)
        ],
    )


def project(padding: int = 0) -> ProjectContext:
    document = DiscoveryDocument(project_name="shop", summary="Sells things.", entities=[Entity(name="Order")])
    return ProjectContext(request="Build a shop.", discovery_document=document, master_plan=plan(padding=padding))


def task_request(
    manager: PromptCacheManager, phase: PhaseConfig, run: RunCacheContext, task_id: str, model: str = "claude-haiku-4-5"
) -> LLMRequest:
    return manager.build_request(
        phase, model, DEVELOPER, tail=f'<task>{{"task_id": "{task_id}"}}</task>', run=run, include_completed_tasks=True
    )


def test_layout_follows_the_request_layout_contract(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    run = RunCacheContext("r1", project())
    run.append_completed("t0", "Made the models.", ["shop/models.py"])
    request = task_request(PromptCacheManager(prices), phases["task_execution"], run, "t1")
    system = request.system[0].text
    assert system.startswith(DEVELOPER.rstrip() + '\n\n<output_schema name="TaskOutput">{')
    assert system.endswith("}</output_schema>")
    labels = [block.label for block in request.user]
    assert labels == ["project", "completed_tasks", "tail"]
    assert request.user[0].text.startswith("<project>\n<request>Build a shop.</request>\n<discovery_document>{")
    assert request.user[1].text == "<completed_tasks>\nt0: Made the models. (shop/models.py)"
    assert request.user[2].text.startswith("</completed_tasks>\n\n<task>")
    assert [bp.label for bp in request.breakpoints()] == ["role", "project", "completed_tasks"]


def test_discovery_request_has_no_project_block(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    request = PromptCacheManager(prices).build_request(
        phases["discovery_questions"], "claude-sonnet-4-6", "You are an analyst.", tail="<request>x</request>"
    )
    assert [block.label for block in request.blocks] == ["role", "tail"]
    assert request.max_tokens == 4000
    assert request.temperature == 0.2


def test_each_task_call_starts_with_every_block_the_previous_one_sent(
    prices: PriceTable, phases: dict[str, PhaseConfig]
) -> None:
    manager = PromptCacheManager(prices)
    run = RunCacheContext("r1", project())
    previous: LLMRequest | None = None
    for i in range(6):
        request = task_request(manager, phases["task_execution"], run, f"t{i}")
        if previous is not None:
            cached_before = previous.prefix_bytes()
            assert request.content_bytes(previous.breakpoints()[-1].index + 1) == cached_before
            assert request.prefix_bytes(1) == previous.prefix_bytes(1)  # role + project: byte-identical
        run.append_completed(f"t{i}", f"Did task {i}.", [f"f{i}.py"])
        previous = request


def test_at_most_four_breakpoints_with_1h_before_5m(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    run = RunCacheContext("r1", project())
    for i in range(30):
        run.append_completed(f"t{i}", "done", [])
    request = PromptCacheManager(prices).build_request(
        phases["task_execution"],
        "claude-haiku-4-5",
        DEVELOPER,
        tail="<task>{}</task>",
        run=run,
        include_completed_tasks=True,
        ttl_hint=TTLHint(stable_gap_s=3_600, log_gap_s=10),
    )
    ttls = [bp.ttl for bp in request.breakpoints()]
    assert ttls == ["1h", "1h", "5m"]


def test_1h_log_upgrades_the_earlier_breakpoints_to_1h(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    run = RunCacheContext("r1", project())
    run.append_completed("t0", "done", [])
    request = PromptCacheManager(prices).build_request(
        phases["task_execution"],
        "claude-haiku-4-5",
        DEVELOPER,
        tail="<task>{}</task>",
        run=run,
        include_completed_tasks=True,
        ttl_hint=TTLHint(stable_gap_s=0, log_gap_s=900),
    )
    assert [bp.ttl for bp in request.breakpoints()] == ["1h", "1h", "1h"]


def test_checks_between_task_calls_choose_the_1h_ttl() -> None:
    assert TTLHint.for_run(checks_enabled=True, check_timeout_s=300).stable_ttl == "1h"
    assert TTLHint.for_run(checks_enabled=False, check_timeout_s=300).stable_ttl == "5m"
    assert TTLHint.for_run(checks_enabled=False, check_timeout_s=0, awaits_user=True).stable_ttl == "1h"


def test_too_short_prefix_for_the_fast_model_is_reported_once_per_run(
    prices: PriceTable, phases: dict[str, PhaseConfig]
) -> None:
    reports = ShortReports()
    manager = PromptCacheManager(prices, observer=reports)
    run = RunCacheContext("r1", project())
    task_request(manager, phases["task_execution"], run, "t0")
    task_request(manager, phases["task_execution"], run, "t1")
    assert len(reports.reports) == 2
    first, second = reports.reports
    assert first.model == "claude-haiku-4-5"
    assert first.block == "project"
    assert first.minimum_tokens == 4096
    assert first.prefix_tokens < 4096
    assert first.first_in_run
    assert not second.first_in_run


def test_same_prefix_is_long_enough_for_the_strong_model(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    reports = ShortReports()
    manager = PromptCacheManager(prices, observer=reports)
    run = RunCacheContext("r1", project(padding=200))
    request = task_request(manager, phases["task_execution"], run, "t0", model="claude-sonnet-4-6")
    assert request.breakpoints()[-1].prefix_tokens >= 1024
    assert reports.reports == []


def test_second_call_expects_to_read_the_first_calls_prefix(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    clock = ManualClock()
    manager = PromptCacheManager(prices, clock=clock)
    run = RunCacheContext("r1", project(padding=3_000))
    first = task_request(manager, phases["task_execution"], run, "t0")
    run.append_completed("t0", "Did it.", ["a.py"])
    second = task_request(manager, phases["task_execution"], run, "t1")
    assert first.expected_cache_read_tokens == 0
    assert second.expected_cache_read_tokens == first.breakpoints()[-1].prefix_tokens
    assert second.rate_limited_input_estimate < second.estimated_input_tokens


async def test_expected_reads_expire_with_the_ttl(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    clock = ManualClock()
    manager = PromptCacheManager(prices, clock=clock)
    run = RunCacheContext("r1", project(padding=3_000))
    task_request(manager, phases["task_execution"], run, "t0")
    await clock.advance(301)
    assert task_request(manager, phases["task_execution"], run, "t1").expected_cache_read_tokens == 0


def test_phase_summaries_sit_between_project_and_log(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    run = RunCacheContext("r1", project())
    run.append_phase_summary(PhaseSummary(phase="p1", summary="Core done.", key_files=["b.py", "a.py"]))
    run.append_completed("t0", "done", [])
    request = task_request(PromptCacheManager(prices), phases["task_execution"], run, "t1")
    assert [block.label for block in request.user] == ["project", "phase_summaries", "completed_tasks", "tail"]
    assert request.user[1].text.startswith('<phase_summaries>[{"key_decisions":[],"key_files":["b.py","a.py"]')


def test_completed_log_only_grows(prices: PriceTable) -> None:
    run = RunCacheContext("r1")
    run.append_completed("t0", "done", [])
    with pytest.raises(ValueError, match="already in the completed-task log"):
        run.append_completed("t0", "again", [])


def test_max_tokens_is_capped_at_the_models_maximum(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    request = PromptCacheManager(prices).build_request(
        phases["master_plan"], "claude-opus-4-1", "You plan.", tail="<request>x</request>"
    )
    assert request.max_tokens == 32_000


def test_an_answer_sized_max_tokens_leaves_the_phase_maximum_for_continuations(
    prices: PriceTable, phases: dict[str, PhaseConfig]
) -> None:
    manager = PromptCacheManager(prices)
    sized = manager.build_request(phases["task_execution"], "claude-haiku-4-5", DEVELOPER, tail="x", max_tokens=7_500)
    assert (sized.max_tokens, sized.answer_max_tokens, sized.answer_limit) == (7_500, 16_000, 16_000)
    too_big = manager.build_request(phases["qa_review"], "claude-haiku-4-5", DEVELOPER, tail="x", max_tokens=9_000)
    assert too_big.max_tokens == too_big.answer_limit == 4_000  # the qa_review phase's maximum
    assert manager.answer_max_tokens(phases["master_plan"], "claude-opus-4-1") == 32_000


def test_empty_tail_is_refused(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    with pytest.raises(ValueError, match="tail of a task_execution request is empty"):
        PromptCacheManager(prices).build_request(phases["task_execution"], "claude-haiku-4-5", DEVELOPER, tail=" ")


def test_unknown_schema_name_is_refused(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    phase = phases["qa_review"].model_copy(update={"schema_name": "Nonsense"})
    with pytest.raises(ValueError, match=r"unknown output schema 'Nonsense'; known: .*TaskOutput"):
        PromptCacheManager(prices).build_request(phase, "claude-haiku-4-5", DEVELOPER, tail="x")


def test_request_with_five_breakpoints_is_refused() -> None:
    from masterplan.llm.request import PromptBlock

    blocks = tuple(PromptBlock(f"b{i}", "x", "5m") for i in range(5))
    with pytest.raises(RequestLayoutError, match="5 cache breakpoints"):
        LLMRequest(model="m", max_tokens=1, system=(), user=blocks, schema_name="TaskOutput", phase="p")


def test_temperature_is_left_out_for_models_that_refuse_it(prices: PriceTable, phases: dict[str, PhaseConfig]) -> None:
    manager = PromptCacheManager(prices)
    refusing = manager.build_request(phases["master_plan"], "claude-sonnet-5", "You plan.", tail="<request>x</request>")
    accepting = manager.build_request(
        phases["master_plan"], "claude-sonnet-4-6", "You plan.", tail="<request>x</request>"
    )
    assert "extra_body" not in refusing.to_params()
    assert accepting.to_params()["extra_body"] == {"temperature": 0.2}
