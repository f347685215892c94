"""An answer cut at max_tokens is continued, not thrown away: each part a call of its own, the parser sees the join.

The join and the protocol on their own, then the gateway against the simulator over real HTTP (a proxy in
front of it keeps the bodies masterplan sent). Each part is rate-limited, budgeted, recorded with its
``part`` and priced on its own usage; their sum is the call's cost.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from masterplan.cache import RunCacheContext
from masterplan.config import Settings
from masterplan.llm import BudgetExceeded, CallContext, LLMGateway, RunBudget
from masterplan.llm.continuation import (
    CONTINUE_INSTRUCTION,
    MAX_ANSWER_PARTS,
    AnswerParts,
    ContinuedWatcher,
    continuation_request,
)
from masterplan.llm.parser import Parsed
from masterplan.llm.request import Continuation, LLMRequest, PromptBlock, RequestLayoutError
from masterplan.llm.tokens import MESSAGE_OVERHEAD_TOKENS, estimate_tokens
from masterplan.llm.usage import TokenUsage
from masterplan.models import LLMCallRecord, TaskOutput
from masterplan.sim import SimConfig, running_simulator

from .conftest import TaskRequests, project_context
from .lookalike_servers import rewriting_proxy

CONTEXT = CallContext(
    phase="task_execution", role="developer", prompt_name="developer", prompt_version=1, run_id="r1", task_id="t1"
)
PREFILL_MODEL = "claude-haiku-4-5"
NO_PREFILL_MODEL = "claude-sonnet-4-6"
SMALL_PART = 40
"""A max_tokens far below any task answer: every answer needs continuations."""


def _request(max_tokens: int = 1_000, answer_max_tokens: int | None = 16_000) -> LLMRequest:
    return LLMRequest(
        model=PREFILL_MODEL,
        max_tokens=max_tokens,
        answer_max_tokens=answer_max_tokens,
        system=(PromptBlock("You write code.", "role", "5m"),),
        user=(PromptBlock("<task>t1</task>", "tail"),),
        schema_name="TaskOutput",
        phase="task_execution",
    )


def _cut(text: str, tokens: int) -> AnswerParts:
    answer = AnswerParts()
    answer.add(text, tokens, "max_tokens")
    return answer


# ---------------------------------------------------------------- protocol


def test_with_prefill_the_answer_so_far_ends_the_conversation_without_trailing_whitespace() -> None:
    following = continuation_request(_request(), _cut('{"files": [{"content": "def f():\\n    ', 1_000), prefill=True,
                                     min_cacheable_tokens=4096)  # fmt: skip
    assert following is not None
    messages = following.to_params()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[-1]["content"] == '{"files": [{"content": "def f():\\n'
    assert following.max_tokens == 1_000
    assert following.answer_max_tokens == 16_000


def test_without_prefill_a_user_message_asks_to_go_on() -> None:
    following = continuation_request(_request(), _cut("partial ", 1_000), prefill=False, min_cacheable_tokens=4096)
    assert following is not None
    messages = following.to_params()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "partial"
    assert messages[2]["content"] == CONTINUE_INSTRUCTION
    assert following.estimated_input_tokens == _request().estimated_input_tokens + (
        estimate_tokens("partial") + estimate_tokens(CONTINUE_INSTRUCTION) + 2 * MESSAGE_OVERHEAD_TOKENS
    )


def test_parts_are_joined_without_the_whitespace_the_cut_left() -> None:
    answer = _cut('{"a": "x  \n', 10)
    answer.add('y"}', 3, "end_turn")
    assert answer.text == '{"a": "xy"}'
    assert (answer.parts, answer.output_tokens, answer.stop_reason) == (2, 13, "end_turn")


def test_a_continuation_asks_at_most_what_the_answers_maximum_leaves() -> None:
    following = continuation_request(_request(), _cut("x", 15_600), prefill=True, min_cacheable_tokens=4096)
    assert following is not None
    assert following.max_tokens == 400


@pytest.mark.parametrize(
    ("answer", "request_"),
    [
        (_cut("x", 16_000), _request()),  # the phase maximum reached
        (_cut("x", 1_000), _request(answer_max_tokens=None)),  # no maximum beyond max_tokens
        (_cut("   ", 1_000), _request()),  # nothing to continue
    ],
    ids=["maximum reached", "no maximum", "only whitespace"],
)
def test_no_continuation_past_the_bounds(answer: AnswerParts, request_: LLMRequest) -> None:
    assert continuation_request(request_, answer, prefill=True, min_cacheable_tokens=4096) is None


def test_no_more_than_the_part_limit() -> None:
    answer = AnswerParts()
    for _ in range(MAX_ANSWER_PARTS):
        answer.add("x", 10, "max_tokens")
    assert continuation_request(_request(), answer, prefill=True, min_cacheable_tokens=4096) is None
    answer.parts -= 1
    assert continuation_request(_request(), answer, prefill=True, min_cacheable_tokens=4096) is not None
    finished = _cut("x", 10)
    finished.add("y", 1, "end_turn")
    assert continuation_request(_request(), finished, prefill=True, min_cacheable_tokens=4096) is None


def test_requests_that_could_not_be_sent_are_refused() -> None:
    with pytest.raises(RequestLayoutError, match="exceeds the answer's maximum"):
        _request(max_tokens=2_000, answer_max_tokens=1_000)
    with pytest.raises(RequestLayoutError, match="needs the answer so far"):
        dataclasses.replace(_request(), continuation=Continuation(""))


class Collecting:
    """An AnswerWatcher that keeps the text of the current attempt."""

    def __init__(self) -> None:
        self.text = ""
        self.restarts = 0

    def restart(self) -> None:
        self.text = ""
        self.restarts += 1

    def feed(self, text: str) -> None:
        self.text += text


def test_a_watcher_sees_the_answer_so_far_again_before_each_attempt_of_a_continuation() -> None:
    inner = Collecting()
    watcher = ContinuedWatcher(inner, "so far")
    watcher.restart()
    watcher.feed(" and on")
    watcher.restart()  # a retried attempt of the continuation
    watcher.feed(" and on again")
    assert (inner.text, inner.restarts) == ("so far and on again", 2)


# ------------------------------------------------------ against the simulator


@dataclass
class Proxied:
    gateway: LLMGateway
    records: list[LLMCallRecord] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def record(self, record: LLMCallRecord) -> None:
        self.records.append(record)


@asynccontextmanager
async def _proxied_gateway(**settings: Any) -> AsyncIterator[Proxied]:
    """A gateway talking to the simulator (tier none: no waiting) through a proxy that keeps every body."""
    bodies: list[dict[str, Any]] = []

    def keep(body: dict[str, Any]) -> bool:
        bodies.append(body)
        return False

    config = SimConfig(port=0, tier="none", latency=0, seed=0)
    async with running_simulator(config) as sim, rewriting_proxy(sim.base_url, hold=keep) as proxy:
        proxied: Proxied | None = None

        async def record(record: LLMCallRecord) -> None:
            assert proxied is not None
            await proxied.record(record)

        gateway = LLMGateway(
            Settings(anthropic_api_key="k", anthropic_base_url=proxy.base_url, rate_limit_tier="none", **settings),
            recorder=record,
        )
        proxied = Proxied(gateway, bodies=bodies)
        async with gateway:
            yield proxied


def _cached_task_request(task_requests: TaskRequests, model: str, max_tokens: int) -> LLMRequest:
    run = RunCacheContext("r1", project_context(padding_sentences=450))  # a prefix any model caches
    return dataclasses.replace(task_requests.build("t1", model=model, run=run), max_tokens=max_tokens)


@pytest.mark.parametrize("structured", [False, True], ids=["text", "structured"])
@pytest.mark.parametrize("model", [PREFILL_MODEL, NO_PREFILL_MODEL])
async def test_each_part_is_a_call_of_its_own_priced_on_its_usage(
    task_requests: TaskRequests, model: str, structured: bool
) -> None:
    async with _proxied_gateway(structured_outputs=structured) as proxied:
        request = _cached_task_request(task_requests, model, SMALL_PART)
        budget = RunBudget(Decimal(5), run_id="r1")
        watcher = Collecting()
        result = await proxied.gateway.complete(
            request, schema=TaskOutput, context=CONTEXT, budget=budget, watcher=watcher
        )
        price = proxied.gateway.prices.get(model)

    records = proxied.records
    assert result.parts == len(records) == len(proxied.bodies) > 1
    assert [record.part for record in records] == list(range(1, result.parts + 1))
    assert all(record.attempt == 1 and record.max_tokens == SMALL_PART for record in records)
    assert all(record.cost_usd == price.cost(TokenUsage.from_record(record)) for record in records)
    assert result.cost_usd == sum(record.cost_usd for record in records) == budget.spent_usd
    assert budget.held_usd == 0
    assert result.answer_output_tokens == sum(record.output_tokens for record in records)
    # The continuations re-send the prompt's blocks: they read the prefix the first part wrote. Not a structured
    # first part's: the schema is part of the cached prompt, and continuations go without it (no prefill with
    # structured outputs), so the first continuation writes the prefix again and the later ones read that.
    prefix = request.breakpoints()[-1].prefix_tokens
    assert [record.structured_output for record in records] == [structured] + [False] * (len(records) - 1)
    assert ("output_config" in proxied.bodies[0]) is structured
    assert not any("output_config" in body for body in proxied.bodies[1:])
    readers = records[2:] if structured else records[1:]
    assert all(record.cache_read_tokens == prefix for record in readers)
    if structured:
        assert records[1].cache_read_tokens == 0
        assert records[1].cache_write_tokens == prefix
    # A continuation's worst case covers the answer so far (uncached input) on top of the prompt.
    assert all(later.worst_case_usd > records[0].worst_case_usd for later in records[1:])
    assert watcher.text == result.text

    so_far: list[str] = []
    for body, record in zip(proxied.bodies, records, strict=True):
        assert body["max_tokens"] == SMALL_PART
        messages = body["messages"]
        if record.part == 1:
            assert [m["role"] for m in messages] == ["user"]
            continue
        roles = ["user", "assistant"] if price.assistant_prefill else ["user", "assistant", "user"]
        assert [m["role"] for m in messages] == roles
        assert messages[0] == proxied.bodies[0]["messages"][0]
        if not price.assistant_prefill:
            assert messages[2]["content"] == CONTINUE_INSTRUCTION
        so_far.append(messages[1]["content"])
    # Each continuation carries the answer so far, stripped: what the one before carried, and more.
    assert all(text == text.rstrip() and text for text in so_far)
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(so_far))
    assert result.text.startswith(so_far[-1])


async def test_a_continuation_that_does_not_fit_the_budget_is_never_sent(task_requests: TaskRequests) -> None:
    async with _proxied_gateway() as proxied:
        request = _cached_task_request(task_requests, PREFILL_MODEL, SMALL_PART)
        first_worst_case = proxied.gateway.worst_case_cost(request)
        budget = RunBudget(first_worst_case, run_id="r1")
        with pytest.raises(BudgetExceeded):
            await proxied.gateway.complete(request, schema=TaskOutput, context=CONTEXT, budget=budget)
    [first] = proxied.records
    assert (first.part, first.outcome) == (1, "ok")
    assert len(proxied.bodies) == 1
    assert budget.spent_usd == first.cost_usd


@pytest.mark.parametrize("model", [PREFILL_MODEL, NO_PREFILL_MODEL])
async def test_a_continued_answer_parses_and_costs_what_its_parts_cost(task_requests: TaskRequests, model: str) -> None:
    """The simulator continues a cut answer from its prefix (prefill) or after a user "continue" message."""
    async with _proxied_gateway() as proxied:
        budget = RunBudget(Decimal(5), run_id="r1")
        whole = await proxied.gateway.complete(
            _cached_task_request(task_requests, model, 16_000), schema=TaskOutput, context=CONTEXT, budget=budget
        )
        assert (whole.parts, whole.stop_reason) == (1, "end_turn")
        proxied.records.clear()
        part_tokens = whole.answer_output_tokens // 2 + 1
        budget = RunBudget(Decimal(5), run_id="r1")
        result = await proxied.gateway.complete(
            _cached_task_request(task_requests, model, part_tokens), schema=TaskOutput, context=CONTEXT, budget=budget
        )
        price = proxied.gateway.prices.get(model)

    assert isinstance(whole.outcome, Parsed)
    assert isinstance(result.outcome, Parsed)
    assert result.outcome.value == whole.outcome.value
    assert result.text == whole.text
    assert (result.parts, result.stop_reason) == (2, "end_turn")
    records = proxied.records
    assert [record.outcome for record in records] == ["ok", "ok"]
    assert [record.part for record in records] == [1, 2]
    assert all(record.cost_usd == price.cost(TokenUsage.from_record(record)) for record in records)
    assert result.cost_usd == sum(record.cost_usd for record in records) == budget.spent_usd
    assert result.answer_output_tokens == sum(record.output_tokens for record in records)
    assert result.answer_output_tokens == whole.answer_output_tokens
