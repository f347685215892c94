"""The run lifecycle as the outside sees it: create, answer, cancel, watch, resume.

Each active run is driven by one supervised background task. On start the
service resumes every unfinished run from the store; on close it cancels the
drivers, so a call in flight is abandoned and, having no recorded result, made
again when the run resumes — finished work is never paid for twice. The
abandoned call's worst case stays counted as spent (its row says ``abandoned``):
the provider may have billed it, and only it knows how much.

While the store is unreachable a driver waits (``Backoff``), retrying, and then
resumes its run from what the store holds, as after a restart: the journal has
kept the writes it could not commit, so nothing is lost and no recorded answer
is asked for again. A watchdog (``watchdog_interval_s``) starts a driver for any
unfinished run that has none, whatever made the last one stop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

from masterplan.cache.context import RunCacheContext
from masterplan.cache.manager import PromptCacheManager
from masterplan.config import Settings
from masterplan.executor.batch_ledger import JournalBatchLedger
from masterplan.executor.calling import PhaseCaller, ShortPrefixReports
from masterplan.executor.context import RunContext
from masterplan.executor.journal import Journal
from masterplan.executor.precheck import CompilePool
from masterplan.executor.sandbox import Sandbox, SandboxPolicy
from masterplan.executor.workspace import Workspace
from masterplan.llm.budget import RunBudget
from masterplan.llm.gateway import LLMGateway
from masterplan.llm.observer import GatewayObserver, ObserverGroup
from masterplan.logs import log_context
from masterplan.models import InvalidTransition, RepositoryRef, Run, RunRequest, RunStatus
from masterplan.repository.checkout import inspect_repository, worktree_path
from masterplan.service.backoff import Backoff
from masterplan.service.documents import load_templates
from masterplan.service.errors import RunConflict, RunNotFound, WorkspaceUnavailable, require_run
from masterplan.service.events import EventBus
from masterplan.service.pipeline import RunPipeline
from masterplan.service.plan_edits import PlanEdits
from masterplan.service.plan_review import PlanReview
from masterplan.service.plan_store import ReviewedPlan
from masterplan.service.readiness import workspace_root_problem
from masterplan.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)


class RunService:
    def __init__(
        self,
        *,
        store: Store,
        gateway: LLMGateway,
        settings: Settings,
        bus: EventBus | None = None,
        observer: GatewayObserver | None = None,
        journal: Journal | None = None,
        store_backoff: Backoff | None = None,
        watchdog_interval_s: float | None = None,
    ) -> None:
        """``journal`` defaults to one over ``store`` publishing to ``bus``; pass the one the gateway records into.

        ``store_backoff`` paces a driver's retries while the store is unreachable. With ``watchdog_interval_s``
        a watchdog looks that often for unfinished runs without a driver (it needs a running event loop).
        """
        self.store = store
        self.short_prefixes = ShortPrefixReports()
        self.gateway = gateway
        self.cache_manager = PromptCacheManager(
            gateway.prices, observer=ObserverGroup([self.short_prefixes, *([observer] if observer else [])])
        )
        self.settings = settings
        self.bus = bus or EventBus()
        self.journal = journal or Journal(store, self.bus.publish)
        self.pipeline = RunPipeline(gateway.prices, gateway.limiter)
        self.review = PlanReview(self.journal, self.pipeline, gateway.prices, self._review_context)
        self.compile_pool = CompilePool(settings.syntax_check_workers)
        self.sandbox = Sandbox(SandboxPolicy.from_settings(settings))
        load_templates()
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._cancel_flags: dict[str, asyncio.Event] = {}
        self.store_backoff = store_backoff or Backoff()
        self._watchdog = (
            asyncio.create_task(self._watch(watchdog_interval_s), name="run watchdog")
            if watchdog_interval_s is not None
            else None
        )

    # ---------------------------------------------------------------- queries

    async def get(self, run_id: str) -> Run:
        async with self.store.transaction() as tx:
            run = await tx.get_run(run_id)
        if run is None:
            raise RunNotFound(f"no run with id {run_id!r}")
        return run

    async def list_runs(self, limit: int = 100) -> list[Run]:
        async with self.store.transaction() as tx:
            return await tx.list_runs(limit)

    # -------------------------------------------------------------- commands

    async def create(self, request: RunRequest, *, local: bool = False) -> Run:
        """Store a new run and start it; WorkspaceUnavailable (nothing stored, nothing paid) if its workspace
        could not be written.

        A repository to change is checked first (RepositoryRefused, nothing stored): over HTTP it must lie under
        one of the allowed roots; ``local`` (the CLI, on its user's own machine) allows any path.
        """
        root = Path(self.settings.workspace_root)
        run_id = uuid.uuid4().hex[:16]
        workspace = (root / run_id).resolve()
        options = request.options
        if options.repository is not None:
            roots = None if local else list(self.settings.repository_roots)
            source = await asyncio.to_thread(
                inspect_repository,
                options.repository.path,
                options.repository.base,
                allowed_roots=roots,
                look_for_changes=False,
            )
            workspace = worktree_path(source, run_id, root)
            resolved = RepositoryRef(path=str(source.path), base=source.base, base_commit=source.base_commit)
            options = options.model_copy(update={"repository": resolved})
        # The workspace root is made if missing, unless the run's worktree lies elsewhere (a root inside the
        # user's repository would show in their git status).
        inside_root = workspace.is_relative_to(await asyncio.to_thread(root.resolve))
        problem = await asyncio.to_thread(workspace_root_problem, root if inside_root else workspace.parent)
        if problem is not None:
            raise WorkspaceUnavailable(problem)
        run = Run(
            id=run_id,
            request=request.request,
            options=options,
            budget_usd=request.options.budget_usd or self.settings.budget_usd,
            workspace=str(workspace),
        )
        async with self.journal.write() as tx:
            await tx.insert_run(run)
        self.start(run)
        return run

    async def answer(self, run_id: str, answers: dict[str, str]) -> Run:
        """Record the user's answers to a waiting run's questions and let discovery go on."""
        async with self.journal.write() as tx:
            run = await require_run(tx, run_id, for_update=True)
            if run.status is not RunStatus.AWAITING_ANSWERS:
                raise RunConflict(f"run {run_id} is {run.status}, not awaiting answers")
            known = {question.id for question in run.questions}
            unknown = sorted(set(answers) - known)
            if unknown:
                raise RunConflict(f"unknown question ids: {', '.join(unknown)}; the questions are {sorted(known)}")
            blank = sorted(key for key, value in answers.items() if not value.strip())
            if blank:
                raise RunConflict(f"empty answers for: {', '.join(blank)}")
            merged = {
                question.id: answers.get(question.id)
                or question.default_assumption
                or "no preference; use the conventional choice"
                for question in run.questions
            }
            await tx.set_discovery(run_id, run.questions, merged)
            await tx.append_event(run_id, "discovery.answers", {"answers": merged})
            run, _ = await tx.transition_run(run_id, RunStatus.DISCOVERING)
        run = run.model_copy(update={"answers": merged})
        self.start(run)
        return run

    async def plan(self, run_id: str) -> tuple[Run, ReviewedPlan]:
        """The run with its plan, forecast and model pins (RunConflict before it has a plan)."""
        return await self.review.plan(run_id)

    async def edit_plan(self, run_id: str, edits: PlanEdits, *, by: str) -> tuple[Run, ReviewedPlan]:
        """Edit a plan awaiting approval; PlanEditRefused (every problem listed) leaves it unchanged."""
        return await self.review.edit(run_id, edits, by=by)

    async def approve(self, run_id: str, *, by: str) -> Run:
        """Approve a plan awaiting approval: the run executes it."""
        run = await self.review.approve(run_id, by=by)
        self.start(run)
        return run

    async def replan(self, run_id: str, feedback: str, *, by: str) -> Run:
        """Send a plan awaiting approval back to the model with the user's feedback; it waits again after."""
        run = await self.review.replan(run_id, feedback, by=by)
        self.start(run)
        return run

    async def cancel(self, run_id: str) -> Run:
        """Stop a run between calls; a run nobody is driving is cancelled at once."""
        run = await self.get(run_id)
        if run.status.is_terminal:
            raise RunConflict(f"run {run_id} already ended ({run.status})")
        driver = self._drivers.get(run_id)
        if driver is not None and not driver.done():
            self._cancel_flags[run_id].set()
            await self.journal.event(run_id, "run.cancel_requested")
            await asyncio.shield(driver)
            return await self.get(run_id)
        try:
            async with self.journal.write() as tx:
                run, _ = await tx.transition_run(run_id, RunStatus.CANCELLED, error="cancelled by request")
        except InvalidTransition as error:  # its driver ended it since it was read
            raise RunConflict(f"run {run_id} already ended ({error.current})") from None
        return run

    async def resume_unfinished(self) -> list[str]:
        """Start a driver for every run the store says is unfinished (after a crash or restart)."""
        async with self.store.transaction() as tx:
            runs = await tx.list_unfinished_runs()
        resumed = []
        for run in runs:
            if run.status.is_waiting or run.id in self._drivers:
                continue
            async with self.journal.write() as tx:
                # Calls cut off by the stop are given up; their worst case stays in the run's reserve.
                abandoned, worst_case = await tx.abandon_started_llm_calls(run.id)
                data: dict[str, object] = {"status": run.status.value}
                if abandoned:
                    data.update(abandoned_calls=abandoned, abandoned_worst_case_usd=str(worst_case))
                await tx.append_event(run.id, "run.resumed", data)
            self.start(run)
            resumed.append(run.id)
        return resumed

    async def wait(self, run_id: str) -> Run:
        """Wait until the run's driver stops (the run ended, or waits for answers or approval)."""
        driver = self._drivers.get(run_id)
        if driver is not None:
            await asyncio.shield(driver)
        return await self.get(run_id)

    @property
    def active_runs(self) -> int:
        return sum(1 for driver in self._drivers.values() if not driver.done())

    # ---------------------------------------------------------------- drivers

    def start(self, run: Run) -> None:
        if run.id in self._drivers and not self._drivers[run.id].done():
            return
        cancel = self._cancel_flags.setdefault(run.id, asyncio.Event())
        with log_context(run_id=run.id):  # the driver's task, and every task it starts, logs with the run's id
            self._drivers[run.id] = asyncio.create_task(self._drive(run, cancel), name=f"run {run.id}")

    def _review_context(self, run: Run) -> RunContext:
        return self._context(run, self._cancel_flags.setdefault(run.id, asyncio.Event()))

    def _context(self, run: Run, cancel: asyncio.Event) -> RunContext:
        self.compile_pool.start()  # started with the first run: a service that only serves pages needs none
        cache = RunCacheContext(run_id=run.id)
        # Calls whose real usage is unknown (cut off by a stop) count at their worst case.
        budget = RunBudget(run.budget_usd, run.cost_usd + run.reserved_usd, run_id=run.id)
        batches = None
        if run.options.mode == "batch":
            batches = self.gateway.open_batches(run.id, JournalBatchLedger(self.journal), budget=budget, cancel=cancel)
        caller = PhaseCaller(
            run_id=run.id,
            gateway=self.gateway,
            cache_manager=self.cache_manager,
            journal=self.journal,
            settings=self.settings,
            budget=budget,
            cache=cache,
            is_cancelled=cancel.is_set,
            short_prefixes=self.short_prefixes,
            batches=batches,
        )
        workspace = Workspace(
            Path(run.workspace),
            max_file_bytes=self.settings.max_file_bytes,
            max_files=self.settings.max_files_per_task,
            durable=False,
        )
        return RunContext(
            run=run,
            journal=self.journal,
            caller=caller,
            settings=self.settings,
            workspace=workspace,
            cache=cache,
            sandbox=self.sandbox,
            cancel=cancel,
            compile_pool=self.compile_pool,
        )

    async def _drive(self, run: Run, cancel: asyncio.Event) -> None:
        current: Run | None = run
        try:
            while current is not None:
                try:
                    await self.pipeline.drive(self._context(current, cancel))
                    return
                except StoreUnavailable as error:
                    logger.warning("run %s waits for the store: %s", run.id, error)
                    current = await self._wait_for_store(run.id)
        except asyncio.CancelledError:
            logger.info("run %s interrupted; it resumes at the next start", run.id)
            raise
        except Exception as error:  # the supervisor's boundary: record, never lose the run silently
            logger.exception("run %s failed unexpectedly", run.id)
            await self._fail_unexpectedly(run.id, error)

    async def _wait_for_store(self, run_id: str) -> Run | None:
        """Wait, retrying with backoff, until the run's held writes are committed; then the run as stored,
        or None if it needs no driver (it ended, or waits for the user)."""
        delays = self.store_backoff.delays()
        while True:
            await delays.sleep()
            try:
                await self.journal.settle(run_id)
                run = await self.get(run_id)
                if run.status.is_terminal or run.status.is_waiting:
                    return None
                await self.journal.event(
                    run_id, "run.store_recovered", {"status": run.status.value, "waited_s": round(delays.waited_s, 3)}
                )
            except StoreUnavailable as error:
                logger.info("run %s: the store is still unreachable after %.1f s: %s", run_id, delays.waited_s, error)
                continue
            logger.warning("run %s: the store is back after %.1f s; the run goes on", run_id, delays.waited_s)
            return run

    async def _fail_unexpectedly(self, run_id: str, error: Exception) -> None:
        delays = self.store_backoff.delays()
        while True:
            try:
                async with self.journal.write() as tx:
                    await tx.transition_run(
                        run_id, RunStatus.FAILED, error=f"internal error: {type(error).__name__}: {error}"
                    )
                return
            except StoreUnavailable:  # the failure is recorded once the store is back
                await delays.sleep()
            except Exception:
                logger.exception("could not record the failure of run %s", run_id)
                return

    # --------------------------------------------------------------- watchdog

    async def restart_orphans(self) -> list[str]:
        """Start a driver for every unfinished run (not waiting for the user) that has no live one."""
        async with self.journal.read() as tx:
            runs = await tx.list_unfinished_runs()
        restarted = []
        for listed in runs:
            if listed.status.is_waiting or self._has_driver(listed.id):
                continue
            run = await self.get(listed.id)  # as it is now: its driver may have ended it since the list was read
            if run.status.is_terminal or run.status.is_waiting or self._has_driver(run.id):
                continue
            await self.journal.event(run.id, "run.resumed", {"status": run.status.value, "by": "watchdog"})
            self.start(run)
            restarted.append(run.id)
        return restarted

    def _has_driver(self, run_id: str) -> bool:
        driver = self._drivers.get(run_id)
        return driver is not None and not driver.done()

    async def _watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                restarted = await self.restart_orphans()
            except StoreUnavailable as error:
                logger.info("watchdog: the store is unreachable; looking again in %s s: %s", interval_s, error)
                continue
            except Exception:  # the watchdog's boundary: one bad look must not end the watching
                logger.exception("watchdog: looking for runs without a driver failed")
                continue
            if restarted:
                logger.warning("watchdog: started the driver of run(s) without one: %s", ", ".join(restarted))

    async def close(self) -> None:
        """Stop the watchdog and every driver; their runs resume at the next start."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        drivers = [driver for driver in self._drivers.values() if not driver.done()]
        for driver in drivers:
            driver.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
        self._drivers.clear()
        try:
            await self.journal.settle()  # what the stopped drivers left to write
        except Exception:
            logger.exception("writes left by the stopped runs could not be committed")
        if self.journal.held_writes:
            logger.error(
                "%d write(s) not committed (the store is unreachable); their runs redo that work at the next start",
                self.journal.held_writes,
            )
        await self.compile_pool.close()
