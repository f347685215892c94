"""Following a run in the terminal, here or on a server, and the summary printed at its end.

Here, progress comes from the service's event bus and questions and the plan review are asked on the
terminal; on a server, from its WebSocket. Either way the run ends with one summary: status and cost, the
problems, the forecast beside the actual, and where the report is.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from masterplan.client import MasterplanClient
from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.models import TERMINAL_STATUSES, Run, RunStatus
from masterplan.plan_terminal import LocalDesk, RemoteDesk, accuracy_line, render_plan, review
from masterplan.service.plan_store import FORECAST_ACCURACY_JSON
from masterplan.service.repository_run import DOCUMENTS_DIR as REPOSITORY_DOCUMENTS
from masterplan.service.repository_run import run_branch
from masterplan.service.runs import RunService
from masterplan.terminal import ProgressView

REPORT = "REPORT.md"
APPROVE_HINT = (
    "the run waits for approval of its plan: `masterplan approve {run_id}` (or POST /runs/{run_id}/approve on a "
    "server) runs it; start runs with --yes to approve without asking"
)
SUCCESS = frozenset({RunStatus.COMPLETED, RunStatus.AWAITING_ANSWERS, RunStatus.AWAITING_APPROVAL})
"""The statuses a ``run`` or ``watch`` exits 0 with; ``completed_with_failures`` is not one of them."""


async def follow_local(service: RunService, run: Run) -> Run:
    """Show the run's progress until its driver stops; answer questions interactively on a terminal."""
    with ProgressView(run.id) as view, service.bus.subscribe(run.id) as subscription:
        async with service.journal.read() as tx:
            for event in await tx.events_after(run.id):
                view.update(event)
        waiter = asyncio.create_task(service.wait(run.id))
        while not waiter.done():
            getter = asyncio.create_task(subscription.get())
            await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                event = getter.result()
                if event.seq > view.state.last_seq:
                    view.update(event)
            else:
                getter.cancel()
        run = waiter.result()
    if run.status is RunStatus.AWAITING_ANSWERS and sys.stdin.isatty():
        answers = {}
        for question in run.questions:
            default = question.default_assumption
            text = await asyncio.to_thread(input, f"{question.question} [{default}] ")
            answers[question.id] = text.strip() or default or "no preference"
        return await follow_local(service, await service.answer(run.id, answers))
    if run.status is RunStatus.AWAITING_APPROVAL:
        desk = LocalDesk(service, run.id)
        if not sys.stdin.isatty():
            render_plan(await desk.plan(), Console())
            return run
        decision = await review(desk, Console(), editor=service.settings.editor)
        run = await service.get(run.id)
        return await follow_local(service, run) if decision in ("approved", "replanning") else run
    return run


async def stored_accuracy(service: RunService, run_id: str) -> ForecastAccuracy | None:
    async with service.journal.read() as tx:
        stored = await tx.get_artifact(run_id, FORECAST_ACCURACY_JSON)
    return ForecastAccuracy.model_validate_json(stored.content) if stored is not None else None


def _print_outcome(run: Mapping[str, Any], cache_read_share: float, accuracy: ForecastAccuracy | None) -> None:
    """The lines every summary starts with; ``run`` holds the run view's fields (a Run dumped, or the API's)."""
    print(
        f"run {run['id']} {run['status']}: ${run['cost_usd']:.6f} of ${run['budget_usd']}, "
        f"cache-read share {cache_read_share:.1%}, workspace {run['workspace']}"
    )
    if run.get("error"):
        print(f"{'problems' if run['status'] == RunStatus.COMPLETED_WITH_FAILURES else 'error'}: {run['error']}")
    if accuracy is not None:
        print(accuracy_line(accuracy))


def print_summary(run: Run, accuracy: ForecastAccuracy | None = None) -> None:
    _print_outcome(dict(run), run.usage.cache_read_share, accuracy)
    repository = run.options.repository
    report = Path(run.workspace) / (REPOSITORY_DOCUMENTS if repository is not None else "") / REPORT
    if report.is_file():
        print(f"report: {report}")
    if repository is not None and run.status.is_terminal:
        branch = run_branch(run.id)
        print(
            f"branch {branch} in {repository.path}; review it with: "
            f"git -C {shlex.quote(repository.path)} log --stat {(repository.base_commit or 'HEAD')[:12]}..{branch}"
        )
    if run.status is RunStatus.AWAITING_ANSWERS:
        print("the run waits for answers to its questions: use --auto-answer, or answer over the HTTP API")
    if run.status is RunStatus.AWAITING_APPROVAL:
        print(APPROVE_HINT.format(run_id=run.id))


async def watch_remote(client: MasterplanClient, run_id: str, editor: str) -> int:
    after = 0
    while True:
        with ProgressView(run_id) as view:
            after = await client.follow(run_id, view.update, after=after)
        run = await client.get_run(run_id)
        if run["status"] != RunStatus.AWAITING_APPROVAL:
            break
        desk = RemoteDesk(client, run_id)
        if not sys.stdin.isatty():
            render_plan(await desk.plan(), Console())
            print(APPROVE_HINT.format(run_id=run_id))
            return 0
        if await review(desk, Console(), editor=editor) not in ("approved", "replanning"):
            run = await client.get_run(run_id)
            break
    compared = run.get("forecast_vs_actual")
    _print_outcome(run, run["cache_read_share"], ForecastAccuracy.model_validate(compared) if compared else None)
    if run["status"] in TERMINAL_STATUSES:
        print(f"report: {client.base_url}/runs/{run['id']}/artifacts/{REPORT}")
    return 0 if run["status"] in SUCCESS else 1
