"""The plan review on the command line: in a pseudo-terminal (edit in $EDITOR, refused then accepted, approve),
and without one (the run stops at the gate and ``masterplan approve`` runs it)."""

from __future__ import annotations

import os
import re
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from .test_commands import MASTERPLAN, clean_env

EDITOR = """\
import json, pathlib, sys
path = pathlib.Path(sys.argv[-1])
plan = json.loads(path.read_text())
count = pathlib.Path(sys.argv[1])
calls = int(count.read_text()) if count.exists() else 0
count.write_text(str(calls + 1))
first, last = plan["tasks"][0], plan["tasks"][-1]
if calls == 0:
    first["depends_on"] = [last["task_id"]]  # a cycle: refused
else:  # the text comes back as the user left it: the cycle is taken out again
    first["depends_on"] = []
    first["title"] = "Edited in the editor"
path.write_text(json.dumps(plan))
"""


class Terminal:
    """A process on a pseudo-terminal: what it printed so far, and lines typed into it."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.output = ""

    def expect(self, pattern: str, timeout_s: float = 120.0) -> str:
        deadline = time.monotonic() + timeout_s
        while not re.search(pattern, _plain(self.output)):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {pattern!r} in:\n{_plain(self.output)[-3000:]}"
            ready, _, _ = select.select([self.master], [], [], min(remaining, 1.0))
            if ready:
                try:
                    self.output += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the process ended and closed the terminal
                    assert re.search(pattern, _plain(self.output)), _plain(self.output)[-3000:]
        return _plain(self.output)

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> int:
        try:
            code = self.process.wait(timeout=120)
        finally:
            os.close(self.master)
        return code


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_on_a_terminal_the_plan_is_shown_edited_in_the_editor_and_approved(tmp_path: Path) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    env = clean_env(tmp_path, EDITOR=f"{sys.executable} {editor} {tmp_path / 'editor-calls'}", COLUMNS="160")
    command = [*MASTERPLAN, "run", "A todo API", "--sim", "--tasks", "3", "--auto-answer", "--no-checks"]
    terminal = Terminal(command, env)
    try:
        shown = terminal.expect(r"\[a\]pprove")
        assert "expected cost" in shown
        assert "range $" in shown
        assert "time: about" in shown
        terminal.type("e")
        refused = terminal.expect(r"edit again\?")
        assert "cycle" in refused
        terminal.type("y")
        edited = terminal.expect(r"Edited in the editor[\s\S]*\[a\]pprove")
        assert "Edited in the editor" in edited
        terminal.type("a")
        terminal.expect(r"run [0-9a-f]{16} completed")
    finally:
        code = terminal.close()
    assert code == 0
    with sqlite3.connect(tmp_path / "masterplan.db") as db:
        types = [row[0] for row in db.execute("SELECT type FROM events ORDER BY seq")]
        approved_by = db.execute("SELECT data FROM events WHERE type = 'plan.approved'").fetchone()[0]
    assert types.count("plan.edited") == 1
    assert '"cli"' in approved_by


def test_without_a_terminal_the_run_stops_at_the_gate_and_approve_runs_it(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    run = [*MASTERPLAN, "run", "A todo API", "--sim", "--tasks", "2", "--auto-answer", "--no-checks"]
    stopped = subprocess.run(
        run, env=env, capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL
    )
    assert stopped.returncode == 0, stopped.stderr
    assert "awaiting_approval" in stopped.stdout
    match = re.search(r"masterplan approve ([0-9a-f]{16})", stopped.stdout)
    assert match, stopped.stdout
    assert "expected cost" in stopped.stdout  # the priced plan is printed for the log

    approve = [*MASTERPLAN, "approve", match.group(1), "--sim"]
    approved = subprocess.run(approve, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert approved.returncode == 0, approved.stderr
    assert f"run {match.group(1)} completed" in approved.stdout
    again = subprocess.run(approve, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 1
    assert "not awaiting approval" in again.stderr


def test_a_plan_over_budget_is_flagged_on_the_command_line(tmp_path: Path) -> None:
    run = [*MASTERPLAN, "run", "A todo API", "--sim", "--tasks", "8", "--budget", "0.3", "--auto-answer", "--no-checks"]
    stopped = subprocess.run(
        run, env=clean_env(tmp_path), capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL
    )
    assert stopped.returncode == 0, stopped.stderr
    flagged = " ".join(_plain(stopped.stdout).split())
    assert "over budget:" in flagged
    assert "over the run's budget ($0.3) by $" in flagged
