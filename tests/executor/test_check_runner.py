from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest

from masterplan.executor.checks import DEFAULT_CHECKS, OutputCollector, run_checks, truncate_middle
from masterplan.executor.sandbox import Sandbox

# These tests look at the check's processes from outside (their pids), so they run unconfined;
# tests/executor/test_sandbox.py runs checks in the sandbox.
UNCONFINED = Sandbox.off()


def python_command(code: str) -> str:
    return f"python -c {shlex.quote(code)}"


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def written_pid(project: Path) -> int | None:
    pid_file = project / "child.pid"
    text = pid_file.read_text() if pid_file.exists() else ""
    return int(text) if text else None


def cache_dirs(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.name in ("__pycache__", ".pytest_cache")]


async def wait_until_gone(pid: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        await asyncio.sleep(0.02)
    return False


# A parent that starts a child writing its pid to child.pid, then both sleep.
SPAWN_SLEEPING_CHILD = """
import subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", "import os, time; open('child.pid', 'w').write(str(os.getpid())); time.sleep(60)"],
    stdout=subprocess.DEVNULL,
)
while True:
    time.sleep(0.05)
    try:
        if open("child.pid").read():
            break
    except FileNotFoundError:
        pass
print("parent ready", flush=True)
if sys.argv[1] == "wait":
    time.sleep(60)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


async def test_a_passing_test_suite_passes(project: Path) -> None:
    (project / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_calc.py").write_text(
        "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )

    [result] = await run_checks(DEFAULT_CHECKS, project, timeout_s=60, sandbox=UNCONFINED)

    assert result.passed
    assert result.exit_code == 0
    assert "1 passed" in result.output
    assert not result.timed_out
    assert result.command == DEFAULT_CHECKS[0]
    assert cache_dirs(project) == []


async def test_a_failing_test_fails_with_its_output(project: Path) -> None:
    (project / "test_wrong.py").write_text("def test_wrong():\n    assert 1 + 1 == 3\n")

    [result] = await run_checks(DEFAULT_CHECKS, project, timeout_s=60, sandbox=UNCONFINED)

    assert not result.passed
    assert result.exit_code == 1
    assert "1 failed" in result.output
    assert "assert (1 + 1) == 3" in result.output


async def test_pytest_collecting_no_tests_counts_as_passed(project: Path) -> None:
    (project / "app.py").write_text("X = 1\n")

    [result] = await run_checks(DEFAULT_CHECKS, project, timeout_s=60, sandbox=UNCONFINED)

    assert result.passed
    assert result.exit_code == 5
    assert "[pytest collected no tests; counted as passed]" in result.output


async def test_another_command_exiting_with_5_fails(project: Path) -> None:
    [result] = await run_checks([python_command("raise SystemExit(5)")], project, timeout_s=10, sandbox=UNCONFINED)

    assert not result.passed
    assert result.exit_code == 5


async def test_checks_stop_at_the_first_failure(project: Path) -> None:
    commands = [
        python_command("print('first')"),
        python_command("raise SystemExit(3)"),
        python_command("open('third-ran', 'w')"),
    ]

    results = await run_checks(commands, project, timeout_s=10, sandbox=UNCONFINED)

    assert [(r.passed, r.exit_code) for r in results] == [(True, 0), (False, 3)]
    assert results[0].output == "first\n"
    assert not (project / "third-ran").exists()


async def test_a_check_past_its_timeout_is_killed_with_its_children(project: Path) -> None:
    [result] = await run_checks(
        [f"{python_command(SPAWN_SLEEPING_CHILD)} wait"], project, timeout_s=1.5, sandbox=UNCONFINED
    )

    assert result.timed_out
    assert not result.passed
    assert result.exit_code is None
    assert "parent ready" in result.output
    assert "timed out after 1.5 s" in result.output
    pid = written_pid(project)
    assert pid is not None
    assert await wait_until_gone(pid)


async def test_a_background_child_does_not_outlive_a_check_that_finished(project: Path) -> None:
    [result] = await run_checks(
        [f"{python_command(SPAWN_SLEEPING_CHILD)} exit"], project, timeout_s=20, sandbox=UNCONFINED
    )

    assert result.passed  # the open pipe held by the child did not make the check wait for its time limit
    assert not result.timed_out
    pid = written_pid(project)
    assert pid is not None
    assert await wait_until_gone(pid)


ESCAPING_CHILD = """
import subprocess, sys
subprocess.Popen(
    [sys.executable, "-c", "import os, time; open('child.pid', 'w').write(str(os.getpid())); time.sleep(30)"],
    start_new_session=True,
)
print("leader done", flush=True)
"""


async def test_a_child_that_left_the_process_group_cannot_hold_the_check_open(project: Path) -> None:
    [result] = await run_checks([python_command(ESCAPING_CHILD)], project, timeout_s=20, sandbox=UNCONFINED)

    for _ in range(100):
        if written_pid(project) is not None:
            break
        await asyncio.sleep(0.05)
    pid = written_pid(project)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # out of the check's reach by design; this test cleans up what it started
    assert result.passed
    assert not result.timed_out
    assert result.output.startswith("leader done")


async def test_cancelling_the_checks_kills_the_running_command(project: Path) -> None:
    checks = asyncio.create_task(
        run_checks([f"{python_command(SPAWN_SLEEPING_CHILD)} wait"], project, timeout_s=60, sandbox=UNCONFINED)
    )
    for _ in range(200):
        if written_pid(project) is not None:
            break
        await asyncio.sleep(0.05)

    checks.cancel()
    with pytest.raises(asyncio.CancelledError):
        await checks

    pid = written_pid(project)
    assert pid is not None
    assert await wait_until_gone(pid)


async def test_a_command_that_does_not_exist_is_a_failed_check(project: Path) -> None:
    [result] = await run_checks(["no-such-program-xyz --flag"], project, timeout_s=10, sandbox=UNCONFINED)

    assert not result.passed
    assert result.exit_code is None
    assert not result.timed_out
    assert "could not start 'no-such-program-xyz'" in result.output


async def test_a_command_that_cannot_be_parsed_is_a_failed_check(project: Path) -> None:
    results = await run_checks(["python -c 'unclosed", "   "], project, timeout_s=10, sandbox=UNCONFINED)

    assert [(r.passed, r.output) for r in results] == [(False, "the command cannot be parsed: No closing quotation")]


async def test_python_is_the_interpreter_masterplan_runs_on(project: Path) -> None:
    [result] = await run_checks(
        [python_command("import sys; print(sys.executable)")], project, timeout_s=10, sandbox=UNCONFINED
    )

    assert result.output.strip() == sys.executable


async def test_checks_see_a_minimal_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTERPLAN_SECRET_FOR_TEST", "must not leak")
    show = "import json, os; print(json.dumps(dict(os.environ), sort_keys=True))"

    [result] = await run_checks([python_command(show)], project, timeout_s=10, sandbox=UNCONFINED, env={"EXTRA": "yes"})

    environment = __import__("json").loads(result.output)
    assert set(environment) == {"PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "EXTRA"}
    assert environment["PYTHONHASHSEED"] == "0"
    assert "masterplan-home-" in environment["HOME"]
    assert not await asyncio.to_thread(os.path.exists, environment["HOME"])  # the throwaway home is removed


async def test_long_output_keeps_its_head_and_tail(project: Path) -> None:
    noisy = "print('HEAD-MARK'); [print(f'line {i:06d}') for i in range(50_000)]; print('TAIL-MARK')"

    [result] = await run_checks([python_command(noisy)], project, timeout_s=30, sandbox=UNCONFINED, max_output=1_000)

    assert result.passed
    assert len(result.output) <= 1_000
    assert result.output.startswith("HEAD-MARK\nline 000000")
    assert result.output.endswith("line 049999\nTAIL-MARK\n")
    assert "characters cut ...]" in result.output


@pytest.mark.parametrize("size", [101, 130, 12_000])
def test_truncation_keeps_head_and_tail_and_counts_what_it_cut(size: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(size))

    truncated = truncate_middle(text, 100)

    head, rest = truncated.split("\n[... ", 1)
    count, tail = rest.split(" characters cut ...]\n", 1)
    assert len(truncated) <= 100
    assert text.startswith(head)
    assert text.endswith(tail)
    assert len(head) + int(count) + len(tail) == size
    assert len(tail) >= len(head) > 0


def test_short_output_is_kept_whole() -> None:
    assert truncate_middle("all of it", 9) == "all of it"


def test_characters_split_across_chunks_are_decoded_whole() -> None:
    collector = OutputCollector(100)
    for byte in "héllo wörld ✓".encode():
        collector.add(bytes([byte]))
    collector.add(b"", final=True)

    assert collector.text() == "héllo wörld ✓"
