"""Runs a plan's tasks in dependency order, one at a time by default or N side by side.

Of the tasks ready at once, the one with the longest remaining path through the plan
(weighted by each task's expected duration) starts first, ties in plan order: the
critical path is never left waiting behind a task that could have gone later.

A task that fails takes its transitive dependents with it (they are skipped);
independent tasks go on. When a task raises (budget exceeded, the run cancelled)
no new task starts, the ones in flight finish, and the first error is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from masterplan.executor.ordering import TaskGraph
from masterplan.models import TaskState, TaskStatus

ExecuteTask = Callable[[TaskState], Coroutine[Any, Any, TaskState]]
SkipTask = Callable[[TaskState, str], Coroutine[Any, Any, TaskState]]
StopRequested = Callable[[], bool]


class SchedulerStopped(Exception):
    """``should_stop`` said so before every task had finished."""


class TaskScheduler:
    def __init__(
        self, tasks: Sequence[TaskState], *, concurrency: int = 1, durations: Mapping[str, float] | None = None
    ) -> None:
        """``durations``: each task's expected duration (any unit; a missing task counts 1)."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._states = {task.task_id: task for task in tasks}
        self._graph = TaskGraph([task.definition for task in tasks])
        self._concurrency = concurrency
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
        running: dict[asyncio.Task[TaskState], str] = {}
        first_error: BaseException | None = None
        await self._skip_dependents_of_failures(skip)
        while True:
            if first_error is None and not should_stop():
                self._launch(execute, running)
            if not running:
                break
            try:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                await _cancel_all(running)
                raise
            for finished in done:
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
        for task_id in self.launch_order(ready)[: self._concurrency - len(running)]:
            running[asyncio.create_task(execute(self._states[task_id]), name=f"task {task_id}")] = task_id

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
