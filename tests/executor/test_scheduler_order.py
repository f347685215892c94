"""The order tasks start in: the longest remaining path through the plan first, ties in plan order."""

from __future__ import annotations

import asyncio

from masterplan.executor.ordering import TaskGraph
from masterplan.executor.scheduler import TaskScheduler
from masterplan.models import PlanTask, TaskState, TaskStatus


def task(task_id: str, *depends_on: str) -> PlanTask:
    return PlanTask(
        task_id=task_id,
        title=f"task {task_id}",
        description="does a thing",
        phase="p1",
        milestone="m1",
        complexity="low",
        task_type="other",
        depends_on=list(depends_on),
    )


def states(*tasks: PlanTask) -> list[TaskState]:
    return [TaskState(run_id="r1", task_id=t.task_id, position=index, definition=t) for index, t in enumerate(tasks)]


# t1 and t2 are ready at once; t2 leads to a chain of three, t1 to nothing.
PLAN = (task("t1"), task("t2"), task("t3", "t2"), task("t4", "t3"), task("t5"))


def test_remaining_paths_sum_the_weights_along_the_longest_chain() -> None:
    graph = TaskGraph(list(PLAN))

    paths = graph.remaining_paths({"t1": 5.0, "t2": 1.0, "t3": 1.0, "t4": 1.0})

    assert paths == {"t1": 5.0, "t2": 3.0, "t3": 2.0, "t4": 1.0, "t5": 1.0}


def test_the_longest_path_starts_first_and_ties_go_in_plan_order() -> None:
    scheduler = TaskScheduler(states(*PLAN), concurrency=2)

    assert scheduler.launch_order(["t5", "t1", "t2"]) == ["t2", "t1", "t5"]
    assert scheduler.launch_order(["t1", "t5"]) == ["t1", "t5"]


def test_weights_decide_over_the_number_of_tasks_on_a_path() -> None:
    scheduler = TaskScheduler(states(*PLAN), concurrency=2, durations={"t1": 4.0})

    assert scheduler.launch_order(["t2", "t1", "t5"]) == ["t1", "t2", "t5"]


def test_the_order_is_the_same_for_the_same_plan() -> None:
    first = TaskScheduler(states(*PLAN), concurrency=3, durations={"t5": 2.0})
    again = TaskScheduler(states(*PLAN), concurrency=3, durations={"t5": 2.0})

    assert first.launch_order(["t1", "t2", "t5"]) == again.launch_order(["t5", "t2", "t1"]) == ["t2", "t5", "t1"]


async def test_a_run_starts_the_critical_path_before_tasks_listed_earlier() -> None:
    started: list[str] = []

    async def execute(state: TaskState) -> TaskState:
        started.append(state.task_id)
        await asyncio.sleep(0)
        return state.model_copy(update={"status": TaskStatus.COMPLETED})

    async def skip(state: TaskState, reason: str) -> TaskState:
        raise AssertionError(f"nothing is skipped here: {state.task_id} {reason}")

    scheduler = TaskScheduler(states(*PLAN), concurrency=1)
    finished = await scheduler.run(execute, skip, lambda: False)

    assert started == ["t2", "t3", "t1", "t4", "t5"]  # t4 and t1 tie once t3 is done: plan order
    assert all(state.status is TaskStatus.COMPLETED for state in finished)
