"""Runs a plan's tasks in dependency order, one at a time by default or N side by side.

Of the tasks ready at once, the one with the longest remaining path through the plan
(weighted by each task's expected duration) starts first, ties in plan order: the
critical path is never left waiting behind a task that could have gone later.

With ``concurrency`` of 2 or more, a task waiting in the rate limiter's queue does not hold
a slot: while every slot waits for the strong class's empty bucket, a ready task of the fast
class (whose bucket has room) starts beside them. A task whose class's pool already has a
queue is not started while others run (it would only join the queue). At most twice
``concurrency`` tasks are in flight, waiting ones included.

A task that fails takes its transitive dependents with it (they are skipped);
independent tasks go on. When a task raises (budget exceeded, the run cancelled)
no new task starts, the ones in flight finish, and the first error is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from masterplan.executor.ordering import TaskGraph
from masterplan.models import TaskState, TaskStatus

ExecuteTask = Callable[[TaskState], Coroutine[Any, Any, TaskState]]
SkipTask = Callable[[TaskState, str], Coroutine[Any, Any, TaskState]]
StopRequested = Callable[[], bool]


class RateWaits(Protocol):
    """What the rate limiter tells the scheduler (see ``masterplan.executor.class_slots``)."""

    def queued(self) -> set[asyncio.Task[Any]]:
        """The asyncio tasks waiting in a rate-limit queue now."""
        ...

    def blocked(self, state: TaskState) -> bool:
        """The task's model class has callers queued for its rate limits now."""
        ...

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when a queue changes; returns the unsubscribe."""
        ...


class SchedulerStopped(Exception):
    """``should_stop`` said so before every task had finished."""


class TaskScheduler:
    def __init__(
        self,
        tasks: Sequence[TaskState],
        *,
        concurrency: int = 1,
        durations: Mapping[str, float] | None = None,
        rate_waits: RateWaits | None = None,
    ) -> None:
        """``durations``: each task's expected duration (any unit; a missing task counts 1)."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._states = {task.task_id: task for task in tasks}
        self._graph = TaskGraph([task.definition for task in tasks])
        self._concurrency = concurrency
        self._rate_waits = rate_waits if concurrency > 1 else None
        paths = self._graph.remaining_paths(durations or {})
        position = {task_id: index for index, task_id in enumerate(self._graph.task_ids)}
        self._priority = {task_id: (-paths[task_id], position[task_id]) for task_id in paths}

    def launch_order(self, ready: Sequence[str]) -> list[str]:
        """``ready`` in the order they start: longest remaining path first, ties in plan order."""
        return sorted(ready, key=self._priority.__getitem__)

    @property
    def states(self) -> list[TaskState]:
        return sorted(self._states.values(), key=lambda state: state.position)

    def _ids(self, *statuses: TaskStatus) -> set[str]:
        return {task_id for task_id, state in self._states.items() if state.status in statuses}

    async def run(self, execute: ExecuteTask, skip: SkipTask, should_stop: StopRequested) -> list[TaskState]:
        queues_changed = asyncio.Event()
        unwatch = self._rate_waits.watch(queues_changed.set) if self._rate_waits else None
        try:
            return await self._run(execute, skip, should_stop, queues_changed)
        finally:
            if unwatch is not None:
                unwatch()

    async def _run(
        self, execute: ExecuteTask, skip: SkipTask, should_stop: StopRequested, queues_changed: asyncio.Event
    ) -> list[TaskState]:
        running: dict[asyncio.Task[TaskState], str] = {}
        first_error: BaseException | None = None
        await self._skip_dependents_of_failures(skip)
        while True:
            if first_error is None and not should_stop():
                self._launch(execute, running)
            if not running:
                break
            queues_changed.clear()
            woken = asyncio.ensure_future(queues_changed.wait())
            try:
                done, _ = await asyncio.wait([*running, woken], return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                await _cancel_all(running)
                raise
            finally:
                woken.cancel()
            for finished in [task for task in running if task in done]:
                task_id = running.pop(finished)
                error = finished.exception()
                if error is not None:
                    first_error = first_error or error
                    continue
                self._states[task_id] = finished.result()
            await self._skip_dependents_of_failures(skip)
        if first_error is not None:
            raise first_error
        unfinished = self._ids(TaskStatus.PENDING, TaskStatus.RUNNING)
        if unfinished:
            raise SchedulerStopped(f"stopped with {len(unfinished)} tasks not run")
        return self.states

    def _launch(self, execute: ExecuteTask, running: dict[asyncio.Task[TaskState], str]) -> None:
        completed = self._ids(TaskStatus.COMPLETED)
        finished = completed | self._ids(TaskStatus.FAILED, TaskStatus.SKIPPED)
        ready = self._graph.ready(completed=completed, finished=finished, running=set(running.values()))
        waits = self._rate_waits
        queued = waits.queued() if waits is not None else set()
        working = sum(1 for task in running if task not in queued)
        for task_id in self.launch_order(ready):
            if working >= self._concurrency or len(running) >= self._concurrency * (2 if waits else 1):
                break
            state = self._states[task_id]
            if waits is not None and running and waits.blocked(state):
                continue
            running[asyncio.create_task(execute(state), name=f"task {task_id}")] = task_id
            working += 1

    async def _skip_dependents_of_failures(self, skip: SkipTask) -> None:
        for failed in sorted(self._ids(TaskStatus.FAILED, TaskStatus.SKIPPED)):
            for dependent in self._graph.dependents(failed):
                state = self._states[dependent]
                if state.status is TaskStatus.PENDING:
                    self._states[dependent] = await skip(state, f"depends on {failed}, which did not complete")


async def _cancel_all(running: dict[asyncio.Task[TaskState], str]) -> None:
    """Stop the tasks in flight and wait until they have stopped: none outlives the scheduler."""
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
