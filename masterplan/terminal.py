"""Live run progress in a terminal: a tasks bar, the current task, cost and cache-read share.

Fed by events, wherever they come from (the in-process bus or a server's
WebSocket). On a terminal it draws with rich; elsewhere (pipes, CI) it prints
one line per notable event instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from masterplan.models import TASK_END_EVENTS, TERMINAL_STATUSES, Event
from masterplan.progress import describe

RUN_ENDS = frozenset(status.value for status in TERMINAL_STATUSES)


@dataclass
class RunProgress:
    """What the view shows, folded from events."""

    status: str = "queued"
    total_tasks: int = 0
    finished: dict[str, str] = field(default_factory=dict)
    current: str = ""
    cost_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    cache_read_tokens: int = 0
    last_seq: int = 0

    @property
    def cache_read_share(self) -> float:
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    def apply(self, event: Event) -> None:
        self.last_seq = max(self.last_seq, event.seq)
        data = event.data
        if event.type == "run.status":
            self.status = str(data.get("status", self.status))
        elif event.type == "plan.completed":
            self.total_tasks = int(data.get("tasks", 0))
        elif event.type == "task.started":
            self.current = f"{data.get('task_id')}: {data.get('title')}"
        elif event.type in TASK_END_EVENTS:
            self.finished[str(data.get("task_id"))] = TASK_END_EVENTS[event.type]
        elif event.type == "llm.call":
            self.cost_usd += Decimal(str(data.get("cost_usd", "0")))
            self.cache_read_tokens += int(data.get("cache_read_tokens", 0))
            self.input_tokens += sum(
                int(data.get(kind, 0)) for kind in ("input_tokens", "cache_write_tokens", "cache_read_tokens")
            )

    @property
    def done(self) -> bool:
        return self.status in {*RUN_ENDS, "awaiting_answers", "awaiting_approval"}


class ProgressView:
    """Context manager: ``view.update(event)`` for each event; draws live on a terminal."""

    def __init__(self, run_id: str, console: Console | None = None) -> None:
        self.run_id = run_id
        self.state = RunProgress()
        self.console = console or Console()
        self._live: Live | None = None
        self._bar = Progress(
            TextColumn("[bold]tasks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=self.console
        )
        self._bar_task: TaskID = self._bar.add_task("tasks", total=None)

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(exc_type, exc, tb)

    def update(self, event: Event) -> None:
        self.state.apply(event)
        if self._live is None:
            line = describe(event)
            if line:
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        self._live.update(self._render())

    def _render(self) -> Group:
        state = self.state
        self._bar.update(self._bar_task, total=state.total_tasks or None, completed=len(state.finished))
        failed = sum(1 for status in state.finished.values() if status != "completed")
        summary = Text.assemble(
            ("run ", "dim"),
            (self.run_id, "bold"),
            f"  {state.status}",
            f"   cost ${state.cost_usd:.4f}",
            f"   cache-read share {state.cache_read_share:.1%}",
            (f"   {failed} failed/skipped" if failed else "", "red"),
        )
        current = Text(f"current: {state.current}" if state.current and not state.done else "", style="cyan")
        return Group(summary, self._bar, current)
