"""The plan review on a terminal: the priced plan as a table, then approve, edit, replan or cancel.

One loop for both ways the CLI reaches a run: in this process (``LocalDesk``, over ``RunService``) and on
a server (``RemoteDesk``, over the HTTP API). Both hand the loop the plan as ``GET /runs/{id}/plan``
returns it, so there is one renderer. Editing opens ``$EDITOR`` (``vi`` when unset) on the plan as JSON;
the saved text is validated like any edit, and a refusal shows every problem and offers the editor again
on the text as the user left it.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from masterplan.client import APIError, MasterplanClient
from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.models import MasterPlan
from masterplan.service.plan_edits import PlanEditRefused, PlanEdits
from masterplan.service.runs import RunService

Decision = Literal["approved", "replanning", "cancelled", "left"]
Ask = Callable[[str], str]


class EditRefused(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class PlanDesk(Protocol):
    async def plan(self) -> dict[str, Any]: ...

    async def replace(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Store the edited plan (EditRefused with every problem if it is refused)."""
        ...

    async def approve(self) -> None: ...

    async def replan(self, feedback: str) -> None: ...

    async def cancel(self) -> None: ...


class LocalDesk:
    def __init__(self, service: RunService, run_id: str) -> None:
        self._service = service
        self._run_id = run_id

    async def plan(self) -> dict[str, Any]:
        _, reviewed = await self._service.plan(self._run_id)
        return _view(reviewed.plan, reviewed.forecast, reviewed.pins)

    async def replace(self, plan: dict[str, Any]) -> dict[str, Any]:
        try:
            edits = PlanEdits(plan=MasterPlan.model_validate(plan))
            _, reviewed = await self._service.edit_plan(self._run_id, edits, by="cli")
        except ValidationError as error:
            raise EditRefused([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]) from None
        except PlanEditRefused as error:
            raise EditRefused(error.problems) from None
        return _view(reviewed.plan, reviewed.forecast, reviewed.pins)

    async def approve(self) -> None:
        await self._service.approve(self._run_id, by="cli")

    async def replan(self, feedback: str) -> None:
        await self._service.replan(self._run_id, feedback, by="cli")

    async def cancel(self) -> None:
        await self._service.cancel(self._run_id)


class RemoteDesk:
    def __init__(self, client: MasterplanClient, run_id: str) -> None:
        self._client = client
        self._run_id = run_id

    async def plan(self) -> dict[str, Any]:
        return await self._client.get_plan(self._run_id)

    async def replace(self, plan: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._client.edit_plan(self._run_id, {"plan": plan})
        except APIError as error:
            raise EditRefused(error.problems or [str(error)]) from None

    async def approve(self) -> None:
        await self._client.approve(self._run_id)

    async def replan(self, feedback: str) -> None:
        await self._client.replan(self._run_id, feedback)

    async def cancel(self) -> None:
        await self._client.cancel(self._run_id)


def _view(plan: MasterPlan, forecast: Any, pins: dict[str, str]) -> dict[str, Any]:
    return {
        "plan": plan.model_dump(mode="json"),
        "forecast": forecast.model_dump(mode="json") if forecast is not None else None,
        "pins": pins,
    }


def render_plan(view: dict[str, Any], console: Console) -> None:
    """The table of tasks with their expected cost, the totals with their range, the time forecast."""
    forecast = view.get("forecast")
    costs = {task["task_id"]: task for task in forecast["tasks"]} if forecast else {}
    table = Table(title=f"plan: {view['plan'].get('project_name', '')}", show_lines=False)
    for column in ("phase", "task", "complexity", "model", "expected cost"):
        table.add_column(column, justify="right" if column == "expected cost" else "left")
    for task in view["plan"]["tasks"]:
        priced = costs.get(task["task_id"], {})
        model = priced.get("model", "") + (" (pinned)" if priced.get("pinned") else "")
        cost = f"${Decimal(priced['cost']['expected_usd']):.4f}" if priced else "—"
        table.add_row(task["phase"], f"{task['task_id']} {task['title']}", task["complexity"], model, cost)
    console.print(table)
    if not forecast:
        console.print("no forecast for this plan")
        return
    cost = forecast["cost"]
    console.print(
        f"expected ${Decimal(cost['expected_usd']):.4f} (range ${Decimal(cost['low_usd']):.4f} – "
        f"${Decimal(cost['high_usd']):.4f}), {forecast['calls']} calls, cache reads "
        f"{forecast['cache_read_share']:.0%} of input; budget ${Decimal(forecast['budget']['budget_usd']):.2f}"
    )
    wall = forecast["wall_time"]
    faster = [t for t in forecast["wall_times"] if t["seconds"] < wall["seconds"] * 0.8]
    hint = ""
    if faster:
        best = min(faster, key=lambda t: (t["seconds"], t["tier"], t["concurrency"]))
        hint = f"; tier {best['tier']} at concurrency {best['concurrency']}: {_duration(best['seconds'])}"
    console.print(
        f"time: about {_duration(wall['seconds'])} at tier {wall['tier']}, concurrency {wall['concurrency']} "
        f"(bound by {wall['bound']}){hint}"
    )
    if forecast["budget"]["exceeded"]:
        console.print(f"[bold red]over budget:[/] {forecast['budget']['message']}")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


async def review(desk: PlanDesk, console: Console, *, editor: str, ask: Ask = input) -> Decision:
    """Show the plan and act on the user's choice until it is approved, sent back or cancelled."""
    view = await desk.plan()
    while True:
        render_plan(view, console)
        choice = (await asyncio.to_thread(ask, "[a]pprove, [e]dit, [r]eplan with feedback, [c]ancel? ")).strip()
        choice = choice[:1].lower()
        if choice == "a":
            await desk.approve()
            return "approved"
        if choice == "c":
            await desk.cancel()
            return "cancelled"
        if choice == "r":
            feedback = (await asyncio.to_thread(ask, "What should the new plan change? ")).strip()
            if feedback:
                await desk.replan(feedback)
                return "replanning"
        elif choice == "e":
            view = await _edit(desk, view, console, ask, editor)
        elif not choice:
            continue
        else:
            console.print(f"{choice!r} is not a choice")


async def _edit(desk: PlanDesk, view: dict[str, Any], console: Console, ask: Ask, editor: str) -> dict[str, Any]:
    text = orjson.dumps(view["plan"], option=orjson.OPT_INDENT_2).decode()
    while True:
        text = await asyncio.to_thread(edit_in_editor, text, editor)
        try:
            plan = orjson.loads(text)
            if not isinstance(plan, dict):
                raise EditRefused(["the plan must be a JSON object"])
            return await desk.replace(plan)
        except orjson.JSONDecodeError as error:
            problems = [f"the text is not JSON: {error}"]
        except EditRefused as refused:
            problems = refused.problems
        console.print("[bold red]the edit is refused; the plan is unchanged:[/]")
        for problem in problems:
            console.print(f"  - {problem}")
        again = (await asyncio.to_thread(ask, "edit again? [Y/n] ")).strip().lower()
        if again.startswith("n"):
            return view


def edit_in_editor(text: str, editor: str) -> str:
    """The text after the user's editor (``Settings.editor``: $VISUAL or $EDITOR, else ``vi``) saved it."""
    command = shlex.split(editor)
    with tempfile.TemporaryDirectory(prefix="masterplan-plan-") as directory:
        path = Path(directory) / "plan.json"
        path.write_text(text, encoding="utf-8")
        subprocess.run([*command, str(path)], check=False)
        return path.read_text(encoding="utf-8")


def accuracy_line(compared: ForecastAccuracy) -> str:
    """One line after a run: the forecast's cost and time beside what the run took."""
    cost, wall = compared.cost, compared.wall_time_s
    error = "" if cost.error is None else f"{cost.error:+.1%}, "
    line = (
        f"forecast ${cost.expected_usd:.4f} (${cost.low_usd:.4f}–${cost.high_usd:.4f}), actual ${cost.actual_usd:.4f} "
        f"({error}{cost.position} the range); time forecast {_duration(wall.forecast)}, actual {_duration(wall.actual)}"
    )
    return line if compared.counted else line + " — the run stopped early, so this does not measure the forecast"
