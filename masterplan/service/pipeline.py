"""One run from its current status to the end: discovery, plan, execution, documents.

``drive`` is re-entrant: it starts from whatever the store says, so the same code
starts a new run and resumes one after a crash. Each phase stores its result
before the next begins; nothing finished is asked of the model again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import orjson

from masterplan.cache.context import ProjectContext
from masterplan.executor.checks import CheckResult
from masterplan.executor.class_slots import ClassSlots
from masterplan.executor.context import RunContext
from masterplan.executor.gitrepo import GitRepo
from masterplan.executor.landing import in_a_view, relocated_text
from masterplan.executor.plan_execution import PlanExecution
from masterplan.executor.sandbox import SandboxUnavailable
from masterplan.executor.tags import json_artifact
from masterplan.executor.workspace import Workspace, WorkspaceError
from masterplan.llm.budget import BudgetExceeded
from masterplan.llm.errors import LLMCallFailed, LLMRequestRejected
from masterplan.llm.pricing import PriceTable
from masterplan.llm.ratelimit import RateLimiter
from masterplan.llm.routing import class_of_model, model_class_for
from masterplan.models import (
    DiscoveryDocument,
    GeneratedFile,
    InvalidTransition,
    ModelClass,
    RunStatus,
    TaskState,
    TaskStatus,
)
from masterplan.service.discovery import run_discovery, stored_discovery
from masterplan.service.documents import FinalCheck
from masterplan.service.errors import PhaseFailed, RunCancelled
from masterplan.service.plan_store import load_pins
from masterplan.service.planning import make_plan, stored_plan
from masterplan.service.repository_run import (
    open_run_worktree,
    prepare_checks,
    record_final_suite,
    repository_map,
    repository_outcome,
    run_git,
)
from masterplan.service.run_report import accuracy_event, build_report

logger = logging.getLogger(__name__)

LEARNINGS_JSON = "learnings.json"
DOCUMENTS = ("DISCOVERY.md", "MASTERPLAN.md", "REPORT.md")


class RunPipeline:
    def __init__(self, prices: PriceTable, limiter: RateLimiter | None = None) -> None:
        """``limiter``: the gateway's, so concurrent tasks of one class do not hold back the other's."""
        self.prices = prices
        self.limiter = limiter

    async def drive(self, ctx: RunContext) -> None:
        """Advance the run as far as it can go now; record how it ended."""
        try:
            await self._advance(ctx)
        except BudgetExceeded as error:
            message = (
                f"budget exceeded: the run's budget is ${ctx.run.budget_usd}; the next call may cost up to "
                f"${error.needed:.6f} and ${error.remaining:.6f} remains, so it was not sent"
            )
            await self._stop(ctx, RunStatus.BUDGET_EXCEEDED, message, needed=str(error.needed))
        except RunCancelled:
            await self._stop(ctx, RunStatus.CANCELLED, "cancelled by request")
        except (PhaseFailed, SandboxUnavailable) as error:
            await self._stop(ctx, RunStatus.FAILED, str(error))
        except LLMCallFailed as error:
            await self._stop(ctx, RunStatus.FAILED, describe_call_failure(error))

    async def _advance(self, ctx: RunContext) -> None:
        await ctx.sandbox.require()  # a run that may not run its checks fails before it pays for a call
        await open_run_worktree(ctx)
        while True:
            if ctx.cancel.is_set():
                raise RunCancelled(ctx.run.id)
            status = ctx.run.status
            if status is RunStatus.QUEUED:
                await self._transition(ctx, RunStatus.DISCOVERING)
            elif status is RunStatus.DISCOVERING:
                ctx.cache.project = ProjectContext(request=ctx.run.request, repository_map=await repository_map(ctx))
                if await run_discovery(ctx) is None:
                    ctx.run = ctx.run.model_copy(update={"status": RunStatus.AWAITING_ANSWERS})
                    return
                await self._transition(ctx, RunStatus.PLANNING)
            elif status is RunStatus.PLANNING:
                document = await self.require_discovery(ctx)
                ctx.cache.project = await self.project_context(ctx, document)
                await make_plan(ctx, document, self.prices)
                if ctx.run.status is RunStatus.PLANNING:  # the plan was stored before a restart
                    async with ctx.journal.read() as tx:
                        ctx.run = await tx.require_run(ctx.run.id)
            elif status is RunStatus.EXECUTING:
                await self._execute(ctx)
                return
            else:
                return

    async def _transition(self, ctx: RunContext, target: RunStatus) -> None:
        async with ctx.journal.write() as tx:
            ctx.run, _ = await tx.transition_run(ctx.run.id, target)

    async def _stop(self, ctx: RunContext, target: RunStatus, error: str, **data: str) -> None:
        """End the run early. Its documents (REPORT.md saying why, and whatever came before) are written into
        the workspace first, uncommitted, so that the terminal ``run.status`` stays the run's last event."""
        async with ctx.journal.read() as tx:
            current = await tx.require_run(ctx.run.id)
        if current.status.is_terminal:
            logger.info("run %s already ended; not moving it to %s", ctx.run.id, target)
            return
        try:
            await self._write_documents(ctx, None, target, None, error=error)
        except (
            OSError,
            WorkspaceError,
        ) as problem:  # the report is stored all the same (GET /runs/{id}/artifacts/REPORT.md)
            logger.warning(
                "run %s: its documents could not be written into %s: %s", ctx.run.id, ctx.run.workspace, problem
            )
        try:
            async with ctx.journal.write() as tx:
                ctx.run, _ = await tx.transition_run(ctx.run.id, target, error=error, data=data)
        except InvalidTransition:
            logger.info("run %s already ended; not moving it to %s", ctx.run.id, target)

    async def require_discovery(self, ctx: RunContext) -> DiscoveryDocument:
        document = await stored_discovery(ctx)
        if document is None:
            raise PhaseFailed("the run is planning but its discovery document is missing")
        return document

    async def project_context(self, ctx: RunContext, document: DiscoveryDocument) -> ProjectContext:
        """The cached project block; learnings are retrieved once and stored, so a resume sends the same bytes."""
        async with ctx.journal.read() as tx:
            stored = await tx.get_artifact(ctx.run.id, LEARNINGS_JSON)
        if stored is not None:
            texts = tuple(str(text) for text in _json_list(stored.content))
        else:
            query = " ".join([ctx.run.request, *(entity.name for entity in document.entities)])
            async with ctx.journal.write() as tx:
                learnings = await tx.search_learnings(query, exclude_run_id=ctx.run.id, limit=5)
                texts = tuple(learning.text for learning in learnings)
                await tx.put_artifact(json_artifact(ctx.run.id, LEARNINGS_JSON, list(texts)))
                await tx.append_event(ctx.run.id, "learnings.retrieved", {"count": len(texts)})
        plan = await stored_plan(ctx)
        return ProjectContext(
            request=ctx.run.request,
            repository_map=await repository_map(ctx),
            discovery_document=document,
            master_plan=plan,
            learnings=texts,
        )

    async def _execute(self, ctx: RunContext) -> None:
        document = await self.require_discovery(ctx)
        plan = await stored_plan(ctx)
        if plan is None:
            raise PhaseFailed("the run is executing but its master plan is missing")
        ctx.cache.project = await self.project_context(ctx, document)
        async with ctx.journal.read() as tx:
            ctx.pins = await load_pins(tx, ctx.run.id)
        await self._announce_sandbox(ctx)
        await prepare_checks(ctx)
        git = run_git(ctx)
        states = await PlanExecution(ctx, plan, git, rate_waits=await self._class_slots(ctx)).run()
        await ctx.journal.settle(ctx.run.id)  # a lost write of the run fails it here, not silently
        final = await self._final_check(ctx) if any(state.status is TaskStatus.COMPLETED for state in states) else None
        target, error = execution_outcome(states, final)
        await self._write_documents(ctx, final, target, git, error=error)
        async with ctx.journal.write() as tx:
            ctx.run, _ = await tx.transition_run(
                ctx.run.id,
                target,
                error=error,
                data={
                    "completed": _count(states, TaskStatus.COMPLETED),
                    "failed": _count(states, TaskStatus.FAILED),
                    "skipped": _count(states, TaskStatus.SKIPPED),
                    "final_check": None if final is None else final.passed,
                },
            )

    async def _final_check(self, ctx: RunContext) -> FinalCheck | None:
        commands = ctx.check_commands
        if not commands:
            return None
        suite_check = ctx.suite

        async def check(view: Path) -> list[CheckResult]:
            if suite_check is None:
                results = await ctx.run_checks(view)
            else:
                result, suite = await suite_check.run(view, sandbox=ctx.sandbox, timeout_s=ctx.settings.check_timeout_s)
                await record_final_suite(ctx, suite)
                results = [result]
            return [replace(r, output=relocated_text(r.output, view, ctx.workspace.root)) for r in results]

        results = await in_a_view(ctx, "final", check)
        passed = all(result.passed for result in results)
        last = results[-1]
        await ctx.journal.event(
            ctx.run.id,
            "check.final",
            {"command": last.command, "passed": passed, "exit_code": last.exit_code, "timed_out": last.timed_out},
        )
        return FinalCheck(command=" && ".join(commands), passed=passed)

    async def _class_slots(self, ctx: RunContext) -> ClassSlots | None:
        if self.limiter is None:
            return None
        async with ctx.journal.read() as tx:
            task_phase = await tx.get_phase_config("task_execution")

        def class_of(state: TaskState) -> ModelClass:
            pinned = ctx.pins.get(state.task_id)
            if pinned is not None:
                return class_of_model(pinned, ctx.settings) if pinned in self._configured(ctx) else "strong"
            return model_class_for(task_phase, state.definition.complexity)

        return ClassSlots(self.limiter, class_of)

    @staticmethod
    def _configured(ctx: RunContext) -> set[str]:
        return {ctx.settings.fast_model, ctx.settings.strong_model}

    async def _announce_sandbox(self, ctx: RunContext) -> None:
        """An event in the run when its commands will run unconfined (``auto`` without a sandbox, or ``off``)."""
        status = await ctx.sandbox.status()
        if status.confined:
            return
        if status.mode == "off":
            await ctx.journal.event(ctx.run.id, "sandbox.off", {"reason": status.reason})
        else:
            await ctx.journal.event(ctx.run.id, "sandbox.unavailable", {"mode": status.mode, "reason": status.reason})

    async def _write_documents(
        self,
        ctx: RunContext,
        final: FinalCheck | None,
        status: RunStatus,
        git: GitRepo | None,
        *,
        error: str | None,
    ) -> None:
        report = await build_report(ctx, self.prices, final, status, error, repository=await repository_outcome(ctx))
        async with ctx.journal.write() as tx:
            for stored in report.artifacts(ctx.run.id):
                await tx.put_artifact(stored)
            if report.accuracy is not None:
                await tx.append_event(ctx.run.id, "forecast.compared", accuracy_event(report.accuracy))
            documents = {name: await tx.get_artifact(ctx.run.id, name) for name in DOCUMENTS}
            rendered = [name for name, artifact in documents.items() if artifact is not None]
            await tx.append_event(ctx.run.id, "documents.rendered", {"names": rendered})
        async with ctx.workspace_lock:
            ctx.workspace.ensure()  # a run that stopped before its first task still gets its report
            files = [
                GeneratedFile(
                    path=f"{ctx.documents_dir}/{name}" if ctx.documents_dir else name, content=artifact.content
                )
                for name, artifact in documents.items()
                if artifact is not None
            ]
            # Written like a task's files, never through a link (a ``.masterplan`` the repository holds as one).
            Workspace(ctx.workspace.root, internal_dirs=(), durable=False).write(files)
            if git is not None and git.available:
                if ctx.documents_dir:  # on a repository's branch: the documents only, whatever it ignores
                    await git.commit_all("masterplan: discovery, plan and report", [file.path for file in files])
                else:
                    await git.commit_all("masterplan: discovery, plan and report")


def execution_outcome(states: Sequence[TaskState], final: FinalCheck | None) -> tuple[RunStatus, str | None]:
    """How a run whose tasks all ended is reported: ``completed`` only when nothing failed or was left out.

    ``completed_with_failures`` when some tasks completed but others failed or were skipped, or the final
    check over the whole workspace failed; ``failed`` when no task completed. The error says which.
    """
    if not any(state.status is TaskStatus.COMPLETED for state in states):
        return RunStatus.FAILED, "no task completed"
    problems = [
        f"{len(ids)} task{'s' if len(ids) > 1 else ''} {status.value} ({', '.join(ids)})"
        for status in (TaskStatus.FAILED, TaskStatus.SKIPPED)
        if (ids := [state.task_id for state in states if state.status is status])
    ]
    if final is not None and not final.passed:
        problems.append(f"the final check failed (`{final.command}`)")
    if problems:
        return RunStatus.COMPLETED_WITH_FAILURES, "; ".join(problems)
    return RunStatus.COMPLETED, None


def describe_call_failure(error: LLMCallFailed) -> str:
    """The failure with the call it ended: which phase, for which task, on which model.

    The gateway's message says what the server answered (``HTTP 404 not_found_error: ...``), not which of
    the run's calls it was; the audit records of the call do.
    """
    if not error.records:
        return str(error)
    record = error.records[-1]
    task = f" of task {record.task_id}" if record.task_id else ""
    refused = "was refused" if isinstance(error, LLMRequestRejected) else "failed"
    return f"the {record.phase} call{task} to {record.model} {refused}: {error}"


def _count(states: Sequence[TaskState], status: TaskStatus) -> int:
    return sum(1 for state in states if state.status is status)


def _json_list(text: str) -> list[object]:
    value = orjson.loads(text)
    return value if isinstance(value, list) else []
