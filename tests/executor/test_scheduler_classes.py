"""With several slots, a task of one model class does not wait behind the other class's empty bucket."""

from __future__ import annotations

import asyncio

from masterplan.executor.class_slots import ClassSlots
from masterplan.executor.scheduler import TaskScheduler
from masterplan.llm.clock import ManualClock
from masterplan.llm.ratelimit import RateLimiter, RateLimits
from masterplan.models import Complexity, ModelClass, PlanTask, TaskState, TaskStatus

LIMITS = RateLimits(requests_per_minute=600, input_tokens_per_minute=60_000, output_tokens_per_minute=600)
ANSWER_TOKENS = 600  # one answer empties a pool's output bucket for a minute


def state(task_id: str, position: int, complexity: Complexity) -> TaskState:
    definition = PlanTask(
        task_id=task_id,
        title=task_id,
        description="does a thing",
        phase="p1",
        milestone="m1",
        complexity=complexity,
        task_type="other",
        depends_on=[],
    )
    return TaskState(run_id="r1", task_id=task_id, position=position, definition=definition)


def class_of(task: TaskState) -> ModelClass:
    return "strong" if task.definition.complexity == "high" else "fast"


async def run_plan(concurrency: int) -> list[tuple[str, float]]:
    """Two strong tasks and a fast one, all ready, the strong pool just emptied: (task, time it finished)."""
    clock = ManualClock()
    limiter = RateLimiter({"strong": LIMITS, "fast": LIMITS}, {"strong": "strong", "fast": "fast"}, clock=clock)
    await limiter.pool("strong").acquire("strong", 0, ANSWER_TOKENS)  # another run's call emptied it
    finished: list[tuple[str, float]] = []

    async def execute(task: TaskState) -> TaskState:
        await limiter.pool(class_of(task)).acquire(class_of(task), 100, ANSWER_TOKENS)
        await clock.sleep(1.0)  # the call itself
        finished.append((task.task_id, clock.now()))
        return task.model_copy(update={"status": TaskStatus.COMPLETED})

    async def skip(task: TaskState, reason: str) -> TaskState:
        raise AssertionError(reason)

    tasks = [state("S1", 0, "high"), state("S2", 1, "high"), state("F1", 2, "low")]
    scheduler = TaskScheduler(tasks, concurrency=concurrency, rate_waits=ClassSlots(limiter, class_of))
    running = asyncio.create_task(scheduler.run(execute, skip, lambda: False))
    while not running.done():
        await clock.advance(0.5)
    await running
    await limiter.aclose()
    return finished


async def test_a_fast_task_starts_while_both_slots_wait_for_the_strong_bucket() -> None:
    finished = await run_plan(concurrency=2)

    assert finished[0] == ("F1", 1.0)  # it did not wait a minute behind S1 and S2
    assert [task for task, _ in finished] == ["F1", "S1", "S2"]


async def test_one_slot_stays_one_task_at_a_time() -> None:
    finished = await run_plan(concurrency=1)

    assert [task for task, _ in finished] == ["S1", "S2", "F1"]
    assert finished[0][1] >= 60.0
