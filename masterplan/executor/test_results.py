"""A repository's own test suite, run in the sandbox, read per test id, and compared with its baseline.

A task on an existing repository passes when it introduces no new failing test compared with the suite's
result on the base, so a repository whose suite already fails somewhere can still be worked on. pytest's
results are read from its ``-rA`` short summary (one ``PASSED|FAILED|ERROR|XFAIL|XPASS <id>`` line a test,
at the end of the output, which the output collector keeps); any other test command (``make test``,
``npm test``) is judged by its exit code alone.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from masterplan.executor.checks import is_pytest, run_checks
from masterplan.executor.sandbox import Sandbox

SUITE_OUTPUT_CHARS = 1_000_000
"""Kept of a suite's output (its head and tail): the summary of a few thousand tests fits."""
PYTEST_REPORT_ARGS = ("-rA", "--color=no", "-p", "no:cacheprovider")
SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+?(?:\[[^\]\n]*\])?)(?: - .*)?$", re.MULTILINE)
FAILING = frozenset({"failed", "error"})

Outcome = Literal["passed", "failed", "error", "xfail", "xpass"]


@dataclass(frozen=True)
class SuiteResult:
    command: str
    passed: bool
    """The command's own verdict (exit code 0, or pytest collecting nothing)."""
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)
    """Test id -> outcome; empty when the command does not report tests one by one."""
    output: str = ""
    duration_s: float = 0.0
    exit_code: int | None = None
    timed_out: bool = False

    @property
    def per_test(self) -> bool:
        return bool(self.outcomes)

    @property
    def failing(self) -> set[str]:
        return {test for test, outcome in self.outcomes.items() if outcome in FAILING}

    def describe(self) -> str:
        """``4 passed, 1 failed`` (per test) or ``passed`` / ``failed`` (by exit code)."""
        if not self.per_test:
            return "passed" if self.passed else "failed"
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        return ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))


@dataclass(frozen=True)
class SuiteComparison:
    new_failures: list[str]
    """Tests failing now that passed (or did not exist) on the base."""
    fixed: list[str]
    """Tests that failed on the base and pass now."""
    regressed: bool
    """New failures; a suite that reported its tests on the base and none now; or, for a command that does
    not report tests one by one, a suite that passed on the base and fails now."""


def suite_command(argv: Sequence[str]) -> str:
    """The command line to run: pytest gets its per-test summary asked for."""
    arguments = list(argv)
    if is_pytest(arguments):
        arguments += [arg for arg in PYTEST_REPORT_ARGS if arg not in arguments]
    return shlex.join(arguments)


def parse_pytest_summary(output: str) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for match in SUMMARY_LINE.finditer(output):
        outcome: Outcome = match.group(1).lower()  # type: ignore[assignment]
        outcomes[match.group(2)] = outcome
    return outcomes


async def run_suite(argv: Sequence[str], cwd: Path, *, sandbox: Sandbox, timeout_s: float) -> SuiteResult:
    command = suite_command(argv)
    (result,) = await run_checks([command], cwd, timeout_s=timeout_s, sandbox=sandbox, max_output=SUITE_OUTPUT_CHARS)
    outcomes = parse_pytest_summary(result.output) if is_pytest(argv) else {}
    return SuiteResult(
        command, result.passed, outcomes, result.output, result.duration_s, result.exit_code, result.timed_out
    )


def compare_suites(baseline: SuiteResult, final: SuiteResult) -> SuiteComparison:
    if baseline.per_test and final.per_test:
        before = baseline.failing
        new = sorted(test for test in final.failing if test not in before)
        fixed = sorted(test for test in before if final.outcomes.get(test) == "passed")
        return SuiteComparison(new_failures=new, fixed=fixed, regressed=bool(new))
    if baseline.per_test:  # tests were reported on the base and none now: the suite broke (collection, crash)
        return SuiteComparison(new_failures=[], fixed=[], regressed=True)
    return SuiteComparison(new_failures=[], fixed=[], regressed=baseline.passed and not final.passed)
