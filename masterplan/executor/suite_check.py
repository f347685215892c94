"""A repository run's checks: its own test suite, judged against the suite's result on the base.

Where a new project's checks pass when every command exits 0, a repository's suite may already fail
somewhere before masterplan touches it. So a repository run records its suite once on the base (the
baseline) and a task's check passes when the suite, run on the task's view, has no failing test that did
not fail on the base (``compare_suites``). The check's output, fed back to the model when it fails, names
the new failures before the suite's own output.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from masterplan.executor.checks import CheckResult, run_checks, truncate_middle
from masterplan.executor.sandbox import Sandbox
from masterplan.executor.test_results import SuiteComparison, SuiteResult, compare_suites, run_suite

STORED_OUTPUT_CHARS = 20_000
"""Of the baseline's output, kept in its stored artifact (the per-test outcomes are kept whole)."""
MAX_LISTED_TESTS = 30


@dataclasses.dataclass(frozen=True)
class SuiteCheck:
    """The suite and its baseline; ``run`` checks a directory against it."""

    baseline: SuiteResult

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.baseline.command)

    async def run(self, cwd: Path, *, sandbox: Sandbox, timeout_s: float) -> tuple[CheckResult, SuiteResult]:
        suite = await run_suite(self.argv, cwd, sandbox=sandbox, timeout_s=timeout_s)
        comparison = compare_suites(self.baseline, suite)
        result = CheckResult(
            command=suite.command,
            passed=not comparison.regressed,
            exit_code=suite.exit_code,
            output=_report(self.baseline, suite, comparison),
            duration_s=suite.duration_s,
            timed_out=suite.timed_out,
        )
        return result, suite


async def run_task_checks(
    commands: Sequence[str],
    suite: SuiteCheck | None,
    cwd: Path,
    *,
    sandbox: Sandbox,
    timeout_s: float,
) -> list[CheckResult]:
    """The run's checks in ``cwd``: against the baseline when the run has one, else ``commands`` as they are."""
    if suite is None:
        return await run_checks(commands, cwd, timeout_s=timeout_s, sandbox=sandbox)
    result, _ = await suite.run(cwd, sandbox=sandbox, timeout_s=timeout_s)
    return [result]


def _report(baseline: SuiteResult, suite: SuiteResult, comparison: SuiteComparison) -> str:
    lines = [f"On the base: {baseline.describe()}. Now: {suite.describe()}."]
    if comparison.new_failures:
        shown = comparison.new_failures[:MAX_LISTED_TESTS]
        more = len(comparison.new_failures) - len(shown)
        lines.append("Tests that fail now and did not fail on the base (fix these; the others failed before):")
        lines += [f"- {test}" for test in shown] + ([f"- … and {more} more"] if more > 0 else [])
    elif comparison.regressed:
        lines.append("The suite no longer runs as it did on the base (it reports no tests, or fails where it passed).")
    if comparison.fixed:
        lines.append(f"Fixed since the base: {', '.join(comparison.fixed[:MAX_LISTED_TESTS])}")
    return "\n".join(lines) + "\n\n" + suite.output


def suite_to_json(suite: SuiteResult) -> dict[str, Any]:
    return {
        "command": suite.command,
        "passed": suite.passed,
        "summary": suite.describe(),
        "outcomes": dict(suite.outcomes),
        "exit_code": suite.exit_code,
        "timed_out": suite.timed_out,
        "duration_s": round(suite.duration_s, 3),
        "output": truncate_middle(suite.output, STORED_OUTPUT_CHARS),
    }


def suite_from_json(text: str) -> SuiteResult:
    value = orjson.loads(text)
    return SuiteResult(
        command=str(value["command"]),
        passed=bool(value["passed"]),
        outcomes=dict(value.get("outcomes") or {}),
        output=str(value.get("output") or ""),
        duration_s=float(value.get("duration_s") or 0.0),
        exit_code=value.get("exit_code"),
        timed_out=bool(value.get("timed_out")),
    )
