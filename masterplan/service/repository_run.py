"""What a repository run adds to a run: its worktree, the map of the code, and the suite's baseline.

Each piece is made once and stored, so a resume finds it instead of making it again: the worktree is
found (or rebuilt on the same branch, with the commits of the tasks already done), the map is the stored
artifact (the cached project block sends the same bytes), and the baseline is the suite's result on the
base as it ran before the first task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
from pathlib import Path

from masterplan.executor.context import RunContext
from masterplan.executor.gitrepo import GitRepo
from masterplan.executor.suite_check import SuiteCheck, suite_from_json, suite_to_json
from masterplan.executor.tags import json_artifact
from masterplan.executor.test_results import SuiteResult, compare_suites, run_suite, suite_command
from masterplan.models import Artifact, RepositoryRef, TaskStatus
from masterplan.repository.checkout import (
    RepositoryRefused,
    Worktree,
    branch_commits,
    diff_stat,
    inspect_repository,
    open_worktree,
)
from masterplan.repository.map import build_repository_map, repository_test_command
from masterplan.service.errors import PhaseFailed

REPOSITORY_MAP = "REPOSITORY_MAP.txt"
TEST_BASELINE = "TEST_BASELINE.json"
TEST_FINAL = "TEST_FINAL.json"
DOCUMENTS_DIR = ".masterplan"
"""Where a repository run's documents go on its branch."""


@dataclasses.dataclass(frozen=True)
class RepositoryOutcome:
    """What REPORT.md says of a repository run: its branch, what it changed, and the tests before and after."""

    repository: str
    branch: str
    base: str
    base_commit: str
    commits: list[str]
    diff_stat: str
    test_command: str | None
    baseline: SuiteResult | None
    final: SuiteResult | None

    @property
    def new_failures(self) -> list[str]:
        if self.baseline is None or self.final is None:
            return []
        return compare_suites(self.baseline, self.final).new_failures

    @property
    def fixed(self) -> list[str]:
        if self.baseline is None or self.final is None:
            return []
        return compare_suites(self.baseline, self.final).fixed


def reference_of(ctx: RunContext) -> RepositoryRef | None:
    return ctx.run.options.repository


async def open_run_worktree(ctx: RunContext) -> Worktree | None:
    """The run's worktree, made on its first step, found or rebuilt on every later one; None for a new project.

    The documents go to ``.masterplan/`` on the branch. A repository that is gone or changed under the run
    fails it with the reason (PhaseFailed).
    """
    reference = reference_of(ctx)
    if reference is None:
        return None
    assert reference.base_commit is not None, "the service resolves the base when it creates the run"
    ctx.documents_dir = DOCUMENTS_DIR
    try:
        source = await asyncio.to_thread(inspect_repository, reference.path, reference.base_commit, allowed_roots=None)
        existed = (Path(ctx.run.workspace) / ".git").is_file()
        worktree = await asyncio.to_thread(
            open_worktree,
            dataclasses.replace(source, base=reference.base or "HEAD"),
            ctx.run.id,
            Path(ctx.run.workspace),
        )
    except RepositoryRefused as error:
        raise PhaseFailed(f"the repository cannot be worked on: {error}") from None
    if source.common_dir is not None:
        ctx.readable = (source.common_dir,)
    if not existed:
        await ctx.journal.event(
            ctx.run.id,
            "repository.worktree",
            {"path": str(worktree.path), "branch": worktree.branch, "base_commit": worktree.base_commit},
        )
    return worktree


def run_git(ctx: RunContext) -> GitRepo | None:
    """The run's git: a repository run's worktree (never initialised over), or the new project's repository."""
    reference = reference_of(ctx)
    if reference is not None:
        return GitRepo(ctx.workspace.root, worktree=True, base_commit=reference.base_commit)
    return GitRepo(ctx.workspace.root) if ctx.run.options.git else None


async def repository_map(ctx: RunContext) -> str | None:
    """The stored map of the code; built (in a thread: it parses every Python file) and stored the first time."""
    reference = reference_of(ctx)
    if reference is None:
        return None
    async with ctx.journal.read() as tx:
        stored = await tx.get_artifact(ctx.run.id, REPOSITORY_MAP)
    if stored is not None:
        return stored.content
    built = await asyncio.to_thread(
        build_repository_map,
        ctx.workspace.root,
        ctx.run.request,
        budget_tokens=ctx.settings.repository_map_tokens,
        name=Path(reference.path).name,
    )
    test_command = built.test_command
    async with ctx.journal.write() as tx:
        await tx.put_artifact(
            Artifact(run_id=ctx.run.id, name=REPOSITORY_MAP, content_type="text/plain", content=built.text)
        )
        await tx.append_event(
            ctx.run.id,
            "repository.mapped",
            {
                "tokens": built.tokens,
                "tracked": built.tracked,
                "detailed": built.detailed,
                "summarised": built.summarised,
                "left_out": built.left_out,
                "test_command": None if test_command is None else test_command.text,
                "test_command_source": None if test_command is None else test_command.source,
            },
        )
    return built.text


async def prepare_checks(ctx: RunContext) -> None:
    """A repository run's checks: the suite with its baseline, run on the base before the first task.

    The suite is the run's one ``checks`` command when it names one, else the detected test command; a
    repository without either keeps only the syntax checks of every answer.
    """
    if reference_of(ctx) is None:
        return
    async with ctx.journal.read() as tx:
        stored = await tx.get_artifact(ctx.run.id, TEST_BASELINE)
    if stored is not None:
        ctx.suite = SuiteCheck(suite_from_json(stored.content), ctx.readable)
        return
    argv = await _suite_argv(ctx)
    if argv is None:
        ctx.default_checks = ()
        await ctx.journal.event(
            ctx.run.id, "tests.none", {"reason": "the repository has no test command masterplan found"}
        )
        return
    async with ctx.journal.read() as tx:
        started = any(task.status is not TaskStatus.PENDING for task in await tx.list_tasks(ctx.run.id))
    if started:  # a baseline is taken on the base only: its loss after the first task cannot be made good
        raise PhaseFailed("the repository's test baseline is missing though tasks have run")
    await ctx.journal.event(ctx.run.id, "tests.baseline_started", {"command": suite_command(argv)})
    baseline = await run_suite(
        argv, ctx.workspace.root, sandbox=ctx.sandbox, timeout_s=ctx.settings.check_timeout_s, readable=ctx.readable
    )
    async with ctx.journal.write() as tx:
        await tx.put_artifact(json_artifact(ctx.run.id, TEST_BASELINE, suite_to_json(baseline)))
        await tx.append_event(ctx.run.id, "tests.baseline", suite_event(baseline))
    ctx.suite = SuiteCheck(baseline, ctx.readable)


async def _suite_argv(ctx: RunContext) -> list[str] | None:
    configured = ctx.run.options.checks
    if configured is not None:
        return shlex.split(configured[0]) if configured else None
    detected = await asyncio.to_thread(repository_test_command, ctx.workspace.root)
    return None if detected is None else list(detected.argv)


async def record_final_suite(ctx: RunContext, final: SuiteResult) -> None:
    async with ctx.journal.write() as tx:
        await tx.put_artifact(json_artifact(ctx.run.id, TEST_FINAL, suite_to_json(final)))


async def repository_outcome(ctx: RunContext) -> RepositoryOutcome | None:
    """The branch, its commits and diff stat, and the tests before and after; None for a new project."""
    reference = reference_of(ctx)
    if reference is None or reference.base_commit is None:
        return None
    worktree = Worktree(ctx.workspace.root, f"masterplan/{ctx.run.id}", reference.base_commit, Path(reference.path))
    try:
        commits = await asyncio.to_thread(branch_commits, worktree)
        stat = await asyncio.to_thread(diff_stat, worktree)
    except RepositoryRefused:
        commits, stat = [], ""
    async with ctx.journal.read() as tx:
        baseline = await tx.get_artifact(ctx.run.id, TEST_BASELINE)
        final = await tx.get_artifact(ctx.run.id, TEST_FINAL)
    baseline_suite = suite_from_json(baseline.content) if baseline is not None else None
    return RepositoryOutcome(
        repository=reference.path,
        branch=worktree.branch,
        base=reference.base or "HEAD",
        base_commit=reference.base_commit,
        commits=commits,
        diff_stat=stat,
        test_command=baseline_suite.command if baseline_suite is not None else None,
        baseline=baseline_suite,
        final=suite_from_json(final.content) if final is not None else None,
    )


def suite_event(suite: SuiteResult) -> dict[str, object]:
    return {
        "command": suite.command,
        "summary": suite.describe(),
        "failing": sorted(suite.failing),
        "passed": suite.passed,
        "duration_s": round(suite.duration_s, 3),
    }
