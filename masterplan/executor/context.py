"""What every step of one run works with, bundled once per run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from masterplan.cache.context import RunCacheContext
from masterplan.config import Settings
from masterplan.executor.checks import DEFAULT_CHECKS, CheckResult
from masterplan.executor.journal import Journal
from masterplan.executor.precheck import CompilePool
from masterplan.executor.sandbox import Sandbox
from masterplan.executor.suite_check import SuiteCheck, run_task_checks
from masterplan.executor.workspace import Workspace
from masterplan.llm.attempt import AnswerWatcher
from masterplan.models import Complexity, PhaseSummary, PlanTask, Run, TaskOutput, TaskType

T = TypeVar("T", bound=BaseModel)


class RunCancelled(Exception):
    """The run was cancelled; raised between calls, never during one."""


@dataclass(frozen=True)
class CallResult(Generic[T]):
    """A finished LLM call: the parsed answer, or why it could not be used (``feedback``)."""

    value: T | None
    feedback: str | None
    outcome: str
    model: str
    cost_usd: Decimal
    truncated: bool = False
    error: str | None = None
    """One line for people (logs, run errors): what was wrong with the answer."""
    text: str = ""
    """The answer as the model wrote it."""


class Caller(Protocol):
    """Makes one phase's LLM call for a run (see ``masterplan.executor.calling.PhaseCaller``)."""

    async def call(
        self,
        phase: str,
        schema: type[T],
        *,
        tail: str,
        task_id: str | None = None,
        task_type: TaskType | None = None,
        complexity: Complexity | None = None,
        escalate: bool = False,
        watcher: AnswerWatcher | None = None,
        model: str | None = None,
    ) -> CallResult[T]: ...

    async def call_until_valid(
        self,
        phase: str,
        schema: type[T],
        *,
        tail: str,
        task_id: str | None = None,
        task_type: TaskType | None = None,
        complexity: Complexity | None = None,
        escalate: bool = False,
        accept: Callable[[T], Awaitable[str | None]] | None = None,
        watcher: AnswerWatcher | None = None,
        on_answer: Callable[[CallResult[T]], None] | None = None,
        model: str | None = None,
    ) -> CallResult[T]:
        """``call``, asked again with the problem as ``<feedback>`` up to the phase's ``retries`` times.

        A parsed answer for which ``accept`` returns a problem is unusable too. ``model`` (a model the user
        pinned the task to at the plan's review) answers every attempt instead of the routed one.
        """
        ...

    async def attempts_allowed(self, phase: str) -> int:
        """1 + the phase's configured ``retries``."""
        ...

    async def expected_output_tokens(
        self,
        phase: str,
        *,
        task_type: TaskType | None = None,
        complexity: Complexity | None = None,
    ) -> int:
        """Output tokens an answer of the kind is expected to have: the median of earlier ones, or a prior."""
        ...

    async def expected_task_output_tokens(self, tasks: Sequence[PlanTask]) -> dict[str, int]:
        """Task id -> the expected output tokens of its answer (to weigh tasks by duration, or price a plan)."""
        ...


class BackgroundWork:
    """Tasks started beside the run's calls; ``drain`` waits for them and raises the first error.

    A task that failed stays until ``drain`` has seen it, however long before it failed: a finished task
    that removed itself would take its error along (asyncio would only log it as never retrieved).
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._forget_if_clean)
        return task

    def _forget_if_clean(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            self._tasks.discard(task)

    async def drain(self) -> None:
        while self._tasks:
            waited = tuple(self._tasks)
            results = await asyncio.gather(*waited, return_exceptions=True)
            self._tasks.difference_update(waited)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    raise result


@dataclass
class RunContext:
    run: Run
    journal: Journal
    caller: Caller
    settings: Settings
    workspace: Workspace
    cache: RunCacheContext
    sandbox: Sandbox
    """Where the run's checks and syntax checks run (``masterplan.executor.sandbox``)."""
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    workspace_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Writing files and running checks on the shared workspace happen one task at a time."""
    outputs: dict[str, TaskOutput] = field(default_factory=dict)
    """Outputs of the completed tasks, by task id."""
    pins: dict[str, str] = field(default_factory=dict)
    """Task id -> the model the user pinned it to when reviewing the plan."""

    suite: SuiteCheck | None = None
    """A repository run's test suite with its result on the base: the run's checks compare against it."""
    default_checks: tuple[str, ...] = DEFAULT_CHECKS
    """The checks when the run names none: pytest for a new project; a repository's detected test command
    (none when it has no tests: the syntax checks of every answer still run)."""
    documents_dir: str = ""
    """Where the run's documents go in the workspace: a repository run's ``.masterplan``, never over the
    repository's own README or docs."""

    compile_pool: CompilePool | None = None
    """Worker processes that compile generated Python while answers stream (see ``precheck``)."""

    background: BackgroundWork = field(default_factory=BackgroundWork)
    """Work that need not delay the next call (git commits); awaited by ``drain``."""

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self.background.spawn(work)

    async def drain(self) -> None:
        await self.background.drain()

    @property
    def check_commands(self) -> tuple[str, ...]:
        """The run's checks: the configured commands, or the default when none were given (an empty list means
        none); with a suite, its command."""
        if self.suite is not None:
            return (self.baseline_command,)
        configured = self.run.options.checks
        return self.default_checks if configured is None else tuple(configured)

    @property
    def baseline_command(self) -> str:
        assert self.suite is not None
        return self.suite.baseline.command

    async def run_checks(self, cwd: Path) -> list[CheckResult]:
        """The run's checks in ``cwd`` (the workspace or a task's view), in the sandbox."""
        return await run_task_checks(
            self.check_commands,
            self.suite,
            cwd,
            sandbox=self.sandbox,
            timeout_s=self.settings.check_timeout_s,
        )

    def dependency_outputs(self, task_ids: list[str]) -> list[TaskOutput]:
        return [self.outputs[task_id] for task_id in task_ids if task_id in self.outputs]

    def log_completed(self, task_id: str, summary: str, output: TaskOutput) -> None:
        """Remember a completed task's output and add it to the cached completed-task log."""
        self.outputs[task_id] = output
        self.cache.append_completed(task_id, summary, [file.path for file in output.files])

    def log_phase_summary(self, summary: PhaseSummary) -> None:
        self.cache.append_phase_summary(summary)
