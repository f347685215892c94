"""A run's calls ask for answer-sized max_tokens and record their answers' sizes; the next run learns from them.

The whole path of a call: ``PhaseCaller`` (its book of answer sizes), the cache manager, the gateway and
the journal, against the simulator over HTTP, on a real store of each dialect (``store`` is parametrized
over SQLite and PostgreSQL).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson

from masterplan.cache import PromptCacheManager, RunCacheContext
from masterplan.config import Settings
from masterplan.executor.calling import PhaseCaller
from masterplan.executor.journal import Journal
from masterplan.llm import LLMGateway, RunBudget
from masterplan.llm.answer_sizes import MARGIN, MIN_HEADROOM, PRIORS
from masterplan.models import Run, TaskOutput
from masterplan.sim import SimConfig, running_simulator
from masterplan.store import AnswerSizeKey, Store

from .conftest import plan_task

NewRun = Callable[[Store], Awaitable[Run]]
"""The ``new_run`` fixture (tests/conftest.py): inserts a fresh run into a store."""

TASK_KEY = AnswerSizeKey("task_execution", "claude-haiku-4-5", "service", "low")


@asynccontextmanager
async def _gateway(journal: Journal) -> AsyncIterator[LLMGateway]:
    async with running_simulator(SimConfig(port=0, tier="none", latency=0, seed=0)) as sim:
        settings = Settings(anthropic_api_key="k", anthropic_base_url=sim.base_url, rate_limit_tier="none")
        async with LLMGateway(settings, recorder=journal.record_call, starter=journal.start_call) as gateway:
            yield gateway


def _caller(run: Run, journal: Journal, gateway: LLMGateway) -> PhaseCaller:
    return PhaseCaller(
        run_id=run.id,
        gateway=gateway,
        cache_manager=PromptCacheManager(gateway.prices),
        journal=journal,
        settings=gateway.settings,
        budget=RunBudget(run.budget_usd, run_id=run.id),
        cache=RunCacheContext(run.id),
        is_cancelled=lambda: False,
    )


async def _task_call(caller: PhaseCaller, task_id: str) -> None:
    task = plan_task(task_id)  # a low-complexity service task
    tail = "<task>" + orjson.dumps(task.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode() + "</task>"
    result = await caller.call(
        "task_execution", TaskOutput, tail=tail, task_id=task_id, task_type=task.task_type, complexity=task.complexity
    )
    assert result.value is not None


def _asked(p95: int) -> int:
    return max(math.ceil(p95 * MARGIN), p95 + MIN_HEADROOM)


async def test_the_second_run_asks_what_the_first_runs_answers_needed(store: Store, new_run: NewRun) -> None:
    journal = Journal(store, lambda events: None)
    first, second = await new_run(store), await new_run(store)
    async with _gateway(journal) as gateway:
        first_caller = _caller(first, journal, gateway)
        for n in range(6):
            await _task_call(first_caller, f"t{n}")
        await journal.settle()
        async with store.transaction() as tx:
            first_calls = await tx.list_llm_calls(first.id)
            stored = await tx.recent_answer_sizes(TASK_KEY)
        sizes = [call.output_tokens for call in first_calls]
        assert [sample.output_tokens for sample in stored] == sizes[::-1]
        assert not any(sample.cut for sample in stored)
        # No earlier run: the prior (design note 003's 5,000 a task; 6,000 at the 95th percentile) with its margin,
        # for every call of the run (its own answers are for the runs after it).
        assert [call.max_tokens for call in first_calls] == [_asked(PRIORS["task_execution"].high)] * 6

        second_caller = _caller(second, journal, gateway)
        await _task_call(second_caller, "t0")
        await journal.settle()
        async with store.transaction() as tx:
            [second_call] = await tx.list_llm_calls(second.id)
        assert second_call.max_tokens == _asked(sorted(sizes)[math.ceil(0.95 * 6) - 1])


async def test_expected_sizes_for_the_scheduler(store: Store, new_run: NewRun) -> None:
    """The median of the earlier runs' answers of a kind, its phase's, or the prior."""
    journal = Journal(store, lambda events: None)
    run = await new_run(store)
    async with _gateway(journal) as gateway:
        caller = _caller(run, journal, gateway)
        assert await caller.expected_output_tokens("task_execution", task_type="service", complexity="low") == 5_000
        assert await caller.expected_output_tokens("qa_review") == PRIORS["qa_review"].expected
        for n in range(5):
            await _task_call(caller, f"t{n}")
        await journal.settle()
        async with store.transaction() as tx:
            sizes = sorted(call.output_tokens for call in await tx.list_llm_calls(run.id))
        median = sizes[2]
        caller = _caller(await new_run(store), journal, gateway)  # the next run
        tasks = [plan_task("a"), plan_task("b").model_copy(update={"task_type": "docs", "complexity": "medium"})]
        # "b" has no history of its own: its phase's and model's answers stand in.
        assert await caller.expected_task_output_tokens(tasks) == {"a": median, "b": median}
        high = plan_task("c").model_copy(update={"complexity": "high"})  # a strong-model task: no history yet
        assert await caller.expected_task_output_tokens([high]) == {"c": PRIORS["task_execution"].expected}
