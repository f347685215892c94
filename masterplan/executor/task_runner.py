"""One task, from the model's answer to files that pass the run's checks.

Per attempt: call the developer role until its answer is usable (it parses, and
its files pass validation: paths, sizes, syntax; each problem is fed back, up to
the phase's retries), store it on the task row (so a crash after the call never
pays for it twice), run the checks on it in a view of the workspace of its own
(``landing``). A failed check is fed back to one retry on the strong model; an
optional QA review may send the work back once more. Work that passed lands in the
shared workspace, merged with what other tasks wrote meanwhile (re-checked, or
re-asked on a conflict). A task that still fails is ``failed`` with its cause; the
scheduler skips its dependents.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from masterplan.executor.answer_acceptance import AnswerAcceptance, clip, with_normal_paths
from masterplan.executor.checks import CheckResult
from masterplan.executor.context import CallResult, RunCancelled, RunContext
from masterplan.executor.gitrepo import GitRepo, changed_paths, task_commit_message
from masterplan.executor.journal import JournalTx
from masterplan.executor.landing import Checked, Landing, Refused
from masterplan.executor.ordering import TaskGraph
from masterplan.executor.precheck import SyntaxPrecheck
from masterplan.executor.recovery import CommitLedger
from masterplan.executor.redo import as_committed, base_after_restart
from masterplan.executor.tags import canonical_json, file_tags, tag
from masterplan.llm.budget import BudgetExceeded
from masterplan.llm.errors import LLMCallFailed
from masterplan.models import Learning, QAReport, TaskOutput, TaskState, TaskStatus

MAX_FEEDBACK_CHARS = 6_000
MAX_ERROR_CHARS = 2_000
QA_ROUNDS = 1
CONFLICT_ROUNDS = 2
"""Extra rounds a task may spend answering again because its change overlapped another task's."""


@dataclass
class Attempt:
    """What one attempt learned: the output if it is good, else the feedback for the next."""

    output: TaskOutput | None = None
    feedback: str | None = None
    check: CheckResult | None = None
    checked: Checked | None = None
    """The output's files as checked in a view, ready to land."""
    conflict: bool = False
    """The attempt failed because its change overlapped another task's."""


class TaskRunner:
    def __init__(self, ctx: RunContext, git: GitRepo | None, *, max_attempts: int = 2) -> None:
        self.ctx = ctx
        self.git = git
        self.max_attempts = max_attempts
        self.commits = CommitLedger()
        """The task commits the history already holds, as recovery found them after a restart."""
        self.landing = Landing(ctx, git=shutil.which("git"))
        self.answers = AnswerAcceptance(ctx, self.landing)
        self.graph: TaskGraph | None = None
        """The plan's dependencies, set by the execution (to tell concurrent tasks from dependencies)."""
        self._show_next: dict[str, list[str]] = {}
        """Task id -> paths another task changed under it (a conflict, a merge whose check failed): the next
        prompt shows their current content."""

    async def skip(self, state: TaskState, reason: str) -> TaskState:
        async with self.ctx.journal.write() as tx:
            state = await tx.update_task(state.model_copy(update={"status": TaskStatus.SKIPPED, "error": reason}))
            await tx.append_event(state.run_id, "task.skipped", {"task_id": state.task_id, "reason": reason})
        return state

    async def execute(self, state: TaskState) -> TaskState:
        state = state.model_copy(update={"status": TaskStatus.RUNNING})
        started = {"task_id": state.task_id, "title": state.definition.title, "complexity": state.definition.complexity}
        self._defer_update(state, "task.started", started)
        try:
            return await self._attempts(state)
        except (BudgetExceeded, RunCancelled, LLMCallFailed) as error:
            await self._interrupted(state, error)
            raise

    async def _interrupted(self, state: TaskState, error: Exception) -> None:
        """The run ends with this task unfinished: it goes back to pending, with what stopped it."""
        async with self.ctx.journal.write() as tx:
            current = await tx.get_task(state.run_id, state.task_id)
            if current.status is TaskStatus.COMPLETED:
                return  # its work passed its checks before the run stopped (a review that could not be made)
            await tx.update_task(current.model_copy(update={"status": TaskStatus.PENDING, "output": None}))
            await tx.append_event(
                state.run_id,
                "task.interrupted",
                {"task_id": state.task_id, "cause": f"{type(error).__name__}: {clip(str(error), 300)}"},
            )

    async def _attempts(self, state: TaskState) -> TaskState:
        """Rounds of answer, checks and review; ``state.attempts`` counts every answer asked for on the way.

        A round's re-asks (unparsable answers, invalid files) are attempts too, so the limit is on rounds.
        """
        feedback: str | None = None
        qa_rounds = conflict_rounds = 0
        rounds = 0
        limit = self.max_attempts
        while rounds < limit:
            rounds += 1
            state, attempt = await self._attempt(state, feedback)
            if attempt.output is not None:
                report = await self._reviewed(state, attempt) if qa_rounds < QA_ROUNDS else None
                if report is not None and not accepted(report):
                    qa_rounds += 1
                    limit += 1
                    attempt.feedback = qa_feedback(report)
                else:
                    attempt = await self._land(state, attempt)
                    if attempt.output is not None:
                        return await self._complete(state, attempt)
            if attempt.conflict and conflict_rounds < CONFLICT_ROUNDS:
                conflict_rounds += 1
                limit += 1
            feedback = attempt.feedback
            await self.ctx.journal.event(
                state.run_id,
                "task.retry" if rounds < limit else "task.attempt_failed",
                {"task_id": state.task_id, "attempt": state.attempts, "cause": clip(feedback or "", 500)},
            )
        return await self._fail(state, feedback or "no usable answer")

    async def _reviewed(self, state: TaskState, attempt: Attempt) -> QAReport | None:
        """The QA review of work that passed its checks. If the review cannot be made (the call refused, the
        budget spent, the run cancelled), the work is kept: the task completes unreviewed, then the run stops."""
        try:
            return await self._review(state, attempt)
        except (BudgetExceeded, RunCancelled, LLMCallFailed) as error:
            attempt = await self._land(state, attempt)
            if attempt.output is None:
                raise  # it could not land (a conflict): the task goes back to pending
            await self._complete(state, attempt)
            await self.ctx.journal.event(
                state.run_id,
                "qa.unreviewed",
                {"task_id": state.task_id, "cause": f"{type(error).__name__}: {clip(str(error), 300)}"},
            )
            raise

    async def rework(self, state: TaskState, feedback: str) -> TaskState:
        """One more developer round for a completed task that QA sent back; a failed round changes nothing."""
        state, attempt = await self._attempt(state, feedback, rework=True)
        if attempt.output is not None:
            attempt = await self._land(state, attempt, rework=True)
        if attempt.output is None:
            await self.ctx.journal.event(
                state.run_id,
                "qa.rework_failed",
                {"task_id": state.task_id, "cause": clip(attempt.feedback or "", 500)},
            )
            async with self.ctx.journal.write() as tx:
                return await tx.update_task(state)
        async with self.ctx.journal.write() as tx:
            state = await tx.update_task(state.model_copy(update={"output": attempt.output}))
            await tx.append_event(
                state.run_id,
                "qa.reworked",
                {"task_id": state.task_id, "attempts": state.attempts, "files": [f.path for f in attempt.output.files]},
            )
        self.ctx.outputs[state.task_id] = attempt.output
        return state

    # ------------------------------------------------------------- attempts

    async def _attempt(
        self, state: TaskState, feedback: str | None, *, rework: bool = False
    ) -> tuple[TaskState, Attempt]:
        """One try; ``rework`` revises a completed task, whose stored output stays until the new one passes."""
        output = state.output if state.status is TaskStatus.RUNNING and feedback is None else None
        since: int | None = None
        known_base: dict[str, str | None] = {}
        if output is None:
            state, output, feedback, since = await self._call(state, feedback, persist=not rework)
            if output is None:
                return state, Attempt(feedback=feedback)
            output = with_normal_paths(output)
        else:
            # A stored answer from before a restart: it was valid then; the workspace may have changed since.
            if state.attempts == 0:
                state = state.model_copy(update={"attempts": 1})
            problems = await self.answers.file_problems(output)
            if problems is not None:
                await self._clear_output(state)
                return state, Attempt(feedback=problems)
            output = with_normal_paths(output)
            if state.task_id in self.commits.latest:
                output = as_committed(self.ctx.workspace, output)
            elif self.git is not None and self.git.available and self.graph is not None:
                known_base = await base_after_restart(self.git, self.graph, state.task_id, output)
        if self.ctx.check_commands:
            await self.ctx.journal.settle(state.run_id)  # the answer is durable before checks that may take minutes
        checked = await self.landing.check(state.task_id, output.files, since, known_base, output.deletes)
        if isinstance(checked, Refused):
            return state, await self._refused(state, checked, clear=not rework)
        if checked.files != output.files:  # merged with what landed since the prompt: review what will land
            output = output.model_copy(update={"files": checked.files})
        return state, Attempt(output=output, check=checked.check, checked=checked)

    async def _land(self, state: TaskState, attempt: Attempt, *, rework: bool = False) -> Attempt:
        """Write the attempt's checked files into the workspace and commit them; a refusal becomes feedback.

        ``rework``: a completed task's revision, whose stored output stays when the revision cannot land.
        """
        output, checked = attempt.output, attempt.checked
        assert output is not None
        assert checked is not None
        git = self.git if self.git is not None and self.git.available else None

        def commit() -> None:
            assert git is not None
            # Released when the commit is made, or when its task ends without running (cancelled first).
            release = _once(self.ctx.workspace_lock.release)
            self.ctx.spawn(self._commit(git, state, output, release)).add_done_callback(lambda _: release())

        landed = await self.landing.land(state.task_id, checked, commit if git is not None else None)
        if isinstance(landed, Refused):
            return await self._refused(state, landed, clear=not rework)
        # Stored as landed (merged with other tasks' changes where there were some): a rebuild after a crash
        # writes the completed outputs in completion order and gets the same workspace.
        landed_output = output.model_copy(update={"files": landed.files})
        return Attempt(output=landed_output, check=landed.check or attempt.check, checked=landed)

    async def _refused(self, state: TaskState, refused: Refused, *, clear: bool) -> Attempt:
        """A failed check or a conflict: the stored answer is forgotten, the cause fed back."""
        if clear:
            await self._clear_output(state)
        if refused.shown:
            self._show_next[state.task_id] = refused.shown
        if refused.conflicts:
            return Attempt(feedback=refused.feedback, conflict=True)
        failed = refused.check
        if failed is not None:
            await self.ctx.journal.event(
                state.run_id,
                "task.check_failed",
                {
                    "task_id": state.task_id,
                    "command": failed.command,
                    "exit_code": failed.exit_code,
                    "timed_out": failed.timed_out,
                },
            )
        return Attempt(feedback=refused.feedback, check=failed)

    async def _call(
        self, state: TaskState, feedback: str | None, *, persist: bool = True
    ) -> tuple[TaskState, TaskOutput | None, str | None, int]:
        """Ask the developer role; with ``persist`` the answer is stored on the task row before it is checked.

        Also returns the workspace's landing generation the prompt saw: the answer's changes are merged from it.
        """
        escalate = state.attempts > 0
        precheck = SyntaxPrecheck(self.ctx.compile_pool) if self.ctx.compile_pool is not None else None

        # A new answer replaces the stored one (a rework keeps the completed output until its answer passes).
        asked = state.model_copy(update={"output": None}) if persist else state

        def count(answer: CallResult[TaskOutput]) -> None:
            # Every answer is an attempt, stored before the next call leaves: a crash never loses the count.
            nonlocal asked
            asked = asked.model_copy(
                update={
                    "attempts": asked.attempts + 1,
                    "model": answer.model,
                    "cost_usd": asked.cost_usd + answer.cost_usd,
                }
            )
            self._defer_update(asked, None, None)

        resolved: TaskOutput | None = None
        since = self.landing.generation

        async def accept(output: TaskOutput) -> str | None:
            nonlocal resolved
            problems, resolved = await self.answers.accepted(state, output, precheck, since)
            return problems

        # An unusable answer (unparsable, or files that fail validation) is re-asked within the attempt with
        # its problem fed back; the attempt's one escalated retry is for answers that fail the run's checks.
        # No await between the generation and the tail: the prompt shows the workspace exactly as of it.
        tail = self._tail(state, feedback)
        try:
            result = await self.ctx.caller.call_until_valid(
                "task_execution",
                TaskOutput,
                tail=tail,
                task_id=state.task_id,
                task_type=state.definition.task_type,
                complexity=state.definition.complexity,
                escalate=escalate,
                model=self.ctx.pins.get(state.task_id),
                accept=accept,
                watcher=precheck,
                on_answer=count,
            )
        finally:
            if precheck is not None:
                precheck.discard()
        state = asked
        value = resolved if result.value is not None else None  # the answer with its edits applied
        if persist:
            state = state.model_copy(update={"output": value})
        invalid = (
            None
            if result.value is not None
            else {"task_id": state.task_id, "outcome": result.outcome, "cause": clip(result.feedback or "", 500)}
        )
        # Committed before the next call is sent (the journal's barrier): a crash after it never pays twice.
        self._defer_update(state, "task.invalid_output" if invalid else None, invalid)
        return state, value, result.feedback, since

    def _tail(self, state: TaskState, feedback: str | None) -> str:
        task = state.definition
        dependency_files = self._dependency_files(state)
        shown = [*task.files, *self._show_next.pop(state.task_id, [])]
        current = self.ctx.workspace.read([path for path in dict.fromkeys(shown) if path not in dependency_files])
        parts = [tag("task", canonical_json(task))]
        if dependency_files:
            parts.append(tag("dependency_outputs", file_tags(dependency_files)))
        if any(content is not None for content in current.values()):
            parts.append(tag("current_files", file_tags(current)))
        if feedback:
            parts.append(tag("feedback", clip(feedback, MAX_FEEDBACK_CHARS)))
        return "\n".join(parts)

    def _dependency_files(self, state: TaskState) -> dict[str, str | None]:
        paths = [
            file.path for output in self.ctx.dependency_outputs(state.definition.depends_on) for file in output.files
        ]
        return self.ctx.workspace.read(list(dict.fromkeys(paths)))

    # --------------------------------------------------------------- review

    async def _review(self, state: TaskState, attempt: Attempt) -> QAReport | None:
        if self.ctx.run.options.qa != "task" or attempt.output is None:
            return None
        check = attempt.check
        check_text = "no checks configured" if check is None else f"{check.command}: passed\n{check.output}"
        tail = "\n".join(
            [
                tag("task", canonical_json(state.definition)),
                tag("task_output", canonical_json(attempt.output)),
                tag("check_result", clip(check_text, MAX_FEEDBACK_CHARS)),
            ]
        )
        result = await self.ctx.caller.call("qa_review", QAReport, tail=tail, task_id=state.task_id)
        if result.value is None:
            await self.ctx.journal.event(
                state.run_id, "qa.unparsed", {"task_id": state.task_id, "cause": clip(result.feedback or "", 500)}
            )
            return None
        report = result.value
        await self.ctx.journal.event(
            state.run_id,
            "qa.passed" if accepted(report) else "qa.rejected",
            {"task_id": state.task_id, "issues": [issue.model_dump() for issue in report.issues]},
        )
        return report

    # -------------------------------------------------------------- endings

    async def _complete(self, state: TaskState, attempt: Attempt) -> TaskState:
        output = attempt.output
        assert output is not None
        files = [file.path for file in output.files]
        summary = output.summary or state.definition.title
        state = state.model_copy(
            update={
                "status": TaskStatus.COMPLETED,
                "output": output,
                "check_passed": attempt.check.passed if attempt.check else None,
                "error": None,
            }
        )
        learning = Learning(
            run_id=state.run_id,
            task_id=state.task_id,
            text=f"{state.definition.title} ({state.definition.task_type}): {summary}",
            files=files,
        )
        completed = {
            "task_id": state.task_id,
            "model": state.model,
            "attempts": state.attempts,
            "cost_usd": str(state.cost_usd),
            "files": files,
            "check_passed": state.check_passed,
        }

        async def record(tx: JournalTx) -> None:
            await tx.update_task(state)
            await tx.add_learning(learning)
            await tx.append_event(state.run_id, "task.completed", completed)

        self.ctx.journal.defer(state.run_id, record)
        self.ctx.log_completed(state.task_id, summary, output)
        return state

    def _defer_update(self, state: TaskState, event: str | None, data: dict[str, Any] | None) -> None:
        """The task's row as ``state`` says, with its event, committed before the run's next call."""

        async def record(tx: JournalTx) -> None:
            await tx.update_task(state)
            if event is not None:
                await tx.append_event(state.run_id, event, data)

        self.ctx.journal.defer(state.run_id, record)

    async def _commit(self, git: GitRepo, state: TaskState, output: TaskOutput, release: Callable[[], None]) -> None:
        """Commit the task's own files while the next call is already under way (``release`` frees the lock).

        A task committed before a crash whose completion was not stored yet is done again from its stored
        answer; its files are then as committed, and its earlier commit stands instead of an empty one.
        """
        earlier = self.commits.latest.pop(state.task_id, None)
        try:
            sha = await git.commit_all(
                task_commit_message(state.task_id, state.definition.title),
                changed_paths(output),
                allow_empty=earlier is None,
            )
        finally:
            release()
        sha = sha or earlier
        if sha is not None and sha not in self.commits.recorded:
            self.commits.recorded.add(sha)
            await self.ctx.journal.event(state.run_id, "task.committed", {"task_id": state.task_id, "commit": sha})

    async def _fail(self, state: TaskState, cause: str) -> TaskState:
        async with self.ctx.journal.write() as tx:
            state = await tx.update_task(
                state.model_copy(update={"status": TaskStatus.FAILED, "error": clip(cause, MAX_ERROR_CHARS)})
            )
            await tx.append_event(
                state.run_id,
                "task.failed",
                {"task_id": state.task_id, "attempts": state.attempts, "cause": clip(cause, 500)},
            )
        return state

    async def _clear_output(self, state: TaskState) -> None:
        """Forget a stored answer that failed, so a resume asks again instead of reusing it."""
        async with self.ctx.journal.write() as tx:
            await tx.update_task(state.model_copy(update={"output": None}))


def _once(action: Callable[[], None]) -> Callable[[], None]:
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            action()

    return run


def accepted(report: QAReport) -> bool:
    return report.passed or not any(issue.fix_required for issue in report.issues)


def qa_feedback(report: QAReport) -> str:
    lines = "\n".join(
        f"- [{issue.severity}/{issue.category}] {issue.location}: {issue.description}"
        for issue in report.issues
        if issue.fix_required
    )
    return f"QA review rejected the work. Fix these issues:\n{lines}"
