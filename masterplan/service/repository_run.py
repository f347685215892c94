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

import orjson

from masterplan.executor.context import RunContext
from masterplan.executor.gitrepo import GitRepo
from masterplan.executor.landing import in_a_view
from masterplan.executor.suite_check import SuiteCheck, suite_from_json, suite_to_json
from masterplan.executor.tags import json_artifact
from masterplan.executor.test_results import SuiteComparison, SuiteResult, compare_suites, run_suite, suite_command
from masterplan.models import Artifact, RepositoryRef, TaskStatus
from masterplan.repository.checkout import (
    RepositoryRefused,
    Worktree,
    branch_commits,
    branch_name,
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
    baseline: SuiteResult | None
    final: SuiteResult | None
    checks_off: bool
    """The run's checks were turned off (``checks: []``): no suite ran, whatever the repository has."""
    comparison: SuiteComparison | None = None
    """The final suite against the baseline, when both ran."""

    @property
    def new_failures(self) -> list[str]:
        return self.comparison.new_failures if self.comparison is not None else []

    @property
    def fixed(self) -> list[str]:
        return self.comparison.fixed if self.comparison is not None else []


def run_branch(run_id: str) -> str:
    """The branch a repository run commits to."""
    return branch_name(run_id)


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
        source = await asyncio.to_thread(
            inspect_repository, reference.path, reference.base_commit, allowed_roots=None, look_for_changes=False
        )
        existed = (Path(ctx.run.workspace) / ".git").is_file()
        worktree = await asyncio.to_thread(
            open_worktree,
            dataclasses.replace(source, base=reference.base or "HEAD"),
            ctx.run.id,
            Path(ctx.run.workspace),
        )
    except RepositoryRefused as error:
        raise PhaseFailed(f"the repository cannot be worked on: {error}") from None
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

    The suite is the run's one ``checks`` command when it names one, else the test command detected on the
    base; a repository without either keeps only the syntax checks of every answer, and that is stored too,
    so a resume after the tasks added tests still runs none. ``checks: []`` turns them off.
    """
    if reference_of(ctx) is None:
        return
    if ctx.run.options.checks == []:
        ctx.default_checks = ()
        return
    async with ctx.journal.read() as tx:
        stored = await tx.get_artifact(ctx.run.id, TEST_BASELINE)
    if stored is not None:
        baseline = stored_baseline(stored.content)
        if baseline is None:
            ctx.default_checks = ()
        else:
            ctx.suite = SuiteCheck(baseline)
        return
    async with ctx.journal.read() as tx:
        started = any(task.status is not TaskStatus.PENDING for task in await tx.list_tasks(ctx.run.id))
    if started:  # the baseline is taken on the base only: its loss after the first task cannot be made good
        raise PhaseFailed("the repository's test baseline is missing though tasks have run")
    argv = await _suite_argv(ctx)
    if argv is None:
        ctx.default_checks = ()
        reason = "the repository has no test command masterplan found"
        async with ctx.journal.write() as tx:
            await tx.put_artifact(json_artifact(ctx.run.id, TEST_BASELINE, {"command": None, "reason": reason}))
            await tx.append_event(ctx.run.id, "tests.none", {"reason": reason})
        return
    await ctx.journal.event(ctx.run.id, "tests.baseline_started", {"command": suite_command(argv)})
    baseline = await in_a_view(
        ctx, "baseline", lambda view: run_suite(argv, view, sandbox=ctx.sandbox, timeout_s=ctx.settings.check_timeout_s)
    )
    async with ctx.journal.write() as tx:
        await tx.put_artifact(json_artifact(ctx.run.id, TEST_BASELINE, suite_to_json(baseline)))
        await tx.append_event(ctx.run.id, "tests.baseline", suite_event(baseline))
    ctx.suite = SuiteCheck(baseline)


def stored_baseline(text: str) -> SuiteResult | None:
    """TEST_BASELINE.json's suite; None when the repository had no tests."""
    return None if orjson.loads(text).get("command") is None else suite_from_json(text)


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
    worktree = Worktree(ctx.workspace.root, branch_name(ctx.run.id), reference.base_commit, Path(reference.path))
    try:
        commits = await asyncio.to_thread(branch_commits, worktree)
        stat = await asyncio.to_thread(diff_stat, worktree)
    except RepositoryRefused:
        commits, stat = [], ""
    async with ctx.journal.read() as tx:
        baseline = await tx.get_artifact(ctx.run.id, TEST_BASELINE)
        final = await tx.get_artifact(ctx.run.id, TEST_FINAL)
    baseline_suite = stored_baseline(baseline.content) if baseline is not None else None
    final_suite = suite_from_json(final.content) if final is not None else None
    return RepositoryOutcome(
        repository=reference.path,
        branch=worktree.branch,
        base=reference.base or "HEAD",
        base_commit=reference.base_commit,
        commits=commits,
        diff_stat=stat,
        baseline=baseline_suite,
        final=final_suite,
        checks_off=ctx.run.options.checks == [],
        comparison=compare_suites(baseline_suite, final_suite) if baseline_suite and final_suite else None,
    )


def suite_event(suite: SuiteResult) -> dict[str, object]:
    return {
        "command": suite.command,
        "summary": suite.describe(),
        "failing": sorted(suite.failing),
        "passed": suite.passed,
        "duration_s": round(suite.duration_s, 3),
    }
