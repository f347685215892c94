"""A repository's own suite run in the real sandbox, read per test, and compared with its baseline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from masterplan.executor.sandbox import Sandbox
from masterplan.executor.test_results import (
    SuiteResult,
    compare_suites,
    parse_pytest_summary,
    run_suite,
    suite_command,
)

SAMPLE = Path(__file__).parents[1] / "repository" / "sample_repo"
PYTEST = ("python", "-m", "pytest")
KNOWN_FAILURE = "tests/test_stock.py::test_removing_more_than_is_held_is_refused"


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE, tmp_path / "inventory"))


async def test_a_task_passes_with_the_failure_the_base_already_had(repository: Path, sandbox: Sandbox) -> None:
    baseline = await run_suite(PYTEST, repository, sandbox=sandbox, timeout_s=60)
    assert not baseline.passed
    assert baseline.per_test
    assert baseline.failing == {KNOWN_FAILURE}
    assert baseline.describe() == "1 failed, 4 passed"

    stock = repository / "inventory" / "stock.py"
    stock.write_text(stock.read_text(encoding="utf-8") + "\n\ndef unused() -> int:\n    return 1\n", encoding="utf-8")
    unchanged = compare_suites(baseline, await run_suite(PYTEST, repository, sandbox=sandbox, timeout_s=60))
    assert (unchanged.new_failures, unchanged.fixed, unchanged.regressed) == ([], [], False)

    items = repository / "inventory" / "items.py"
    items.write_text(items.read_text(encoding="utf-8").replace("if not name:", "if False:"), encoding="utf-8")
    fixed_text = stock.read_text(encoding="utf-8").replace(
        "self._quantities[name] = max(0, self._quantities.get(name, 0) - quantity)",
        "held = self._quantities.get(name, 0)\n        if quantity > held:\n            raise ValueError(name)\n"
        "        self._quantities[name] = held - quantity",
    )
    stock.write_text(fixed_text, encoding="utf-8")
    changed = compare_suites(baseline, await run_suite(PYTEST, repository, sandbox=sandbox, timeout_s=60))
    assert changed.new_failures == ["tests/test_items.py::test_an_item_without_a_name_is_refused"]
    assert changed.fixed == [KNOWN_FAILURE]
    assert changed.regressed


async def test_a_suite_that_no_longer_collects_is_a_regression(repository: Path, sandbox: Sandbox) -> None:
    baseline = await run_suite(PYTEST, repository, sandbox=sandbox, timeout_s=60)
    (repository / "inventory" / "items.py").write_text("def broken(:\n", encoding="utf-8")
    final = await run_suite(PYTEST, repository, sandbox=sandbox, timeout_s=60)
    comparison = compare_suites(baseline, final)
    assert comparison.regressed
    assert "tests/test_items.py" in comparison.new_failures  # the collection error is reported as its file


def test_the_summary_is_read_per_test_id() -> None:
    output = """
=========================== short test summary info ============================
PASSED tests/test_a.py::test_one
PASSED tests/test_a.py::test_param[a b - c]
FAILED tests/test_a.py::test_two - AssertionError: assert 1 == 2 - really
ERROR tests/test_b.py - ModuleNotFoundError: No module named 'x'
XFAIL tests/test_a.py::test_three - known
some other line PASSED not/this
"""
    assert parse_pytest_summary(output) == {
        "tests/test_a.py::test_one": "passed",
        "tests/test_a.py::test_param[a b - c]": "passed",
        "tests/test_a.py::test_two": "failed",
        "tests/test_b.py": "error",
        "tests/test_a.py::test_three": "xfail",
    }


def test_only_pytest_is_asked_for_its_summary() -> None:
    assert suite_command(["python", "-m", "pytest", "-x"]) == "python -m pytest -x -rA --color=no -p no:cacheprovider"
    assert suite_command(["make", "test"]) == "make test"


def test_a_command_without_per_test_results_is_judged_by_its_exit_code() -> None:
    passed, failed = SuiteResult("make test", True), SuiteResult("make test", False)
    assert compare_suites(passed, failed).regressed
    assert not compare_suites(failed, failed).regressed
    assert not compare_suites(passed, passed).regressed
    assert failed.describe() == "failed"
