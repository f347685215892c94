"""The sandbox seen from inside a check: real bwrap, real processes, a service-like layout on disk.

The layout lives under /var/tmp, not /tmp: the sandbox gives every command a private /tmp,
which would hide a layout there whatever the sandbox's own hiding rules did.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from masterplan.config import Settings
from masterplan.executor.checks import DEFAULT_CHECKS, CheckResult, run_checks
from masterplan.executor.sandbox import Sandbox, SandboxLimits, SandboxPolicy, SandboxUnavailable
from masterplan.executor.syntax import javascript_problem
from masterplan.models import GeneratedFile

SECRET = "s3cret-row-value"
NOBODY = 65534


@dataclass(frozen=True)
class Layout:
    """A service's files: its database, its workspace root with this run's workspace and another run's."""

    base: Path
    database: Path
    workspace: Path
    other_run: Path
    settings: Settings

    def sandbox(self, **limits: int) -> Sandbox:
        policy = SandboxPolicy.from_settings(self.settings)
        return Sandbox(replace(policy, limits=replace(policy.limits, **limits)))


@pytest.fixture
def layout() -> Iterator[Layout]:
    base = Path(tempfile.mkdtemp(prefix="masterplan-sandbox-test-", dir="/var/tmp"))
    try:
        home = base / ".masterplan"
        database = home / "masterplan.db"
        workspace = home / "workspaces" / "run-a"
        other_run = home / "workspaces" / "run-b"
        for directory in (workspace, other_run):
            directory.mkdir(parents=True)
        (other_run / "notes.txt").write_text("the other run's code\n")
        with sqlite3.connect(database) as connection:
            connection.execute("CREATE TABLE secrets (value TEXT)")
            connection.execute("INSERT INTO secrets VALUES (?)", (SECRET,))
        connection.close()
        settings = Settings(database_url=f"sqlite://{database}", workspace_root=home / "workspaces", sandbox="required")
        yield Layout(base, database, workspace, other_run, settings)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def inside(sandbox: Sandbox, workspace: Path, code: str, *, timeout_s: float = 30) -> CheckResult:
    [result] = await run_checks([f"python -c {shlex.quote(code)}"], workspace, timeout_s=timeout_s, sandbox=sandbox)
    return result


def reported(result: CheckResult) -> dict[str, str]:
    """The JSON object the command printed last."""
    return dict(json.loads(result.output.strip().splitlines()[-1]))


def can_still_start_processes() -> bool:
    return subprocess.run(["true"], check=False).returncode == 0


async def test_a_small_projects_pytest_passes_inside(layout: Layout) -> None:
    (layout.workspace / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (layout.workspace / "test_calc.py").write_text(
        "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    sandbox = layout.sandbox()

    [result] = await run_checks(DEFAULT_CHECKS, layout.workspace, timeout_s=60, sandbox=sandbox)

    assert (await sandbox.status()).confined
    assert result.passed, result.output
    assert "1 passed" in result.output


async def test_the_network_is_unreachable(layout: Layout) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = f"""
import json, socket
outcome = {{}}
for name, address in (("loopback", ("127.0.0.1", {port})), ("internet", ("1.1.1.1", 53))):
    try:
        socket.create_connection(address, timeout=3).close()
        outcome[name] = "connected"
    except OSError as error:
        outcome[name] = type(error).__name__
print(json.dumps(outcome))
"""
        result = await inside(layout.sandbox(), layout.workspace, code)

        outcome = reported(result)
        assert outcome["loopback"] == "ConnectionRefusedError"  # the sandbox's own loopback: nobody listens
        assert outcome["internet"] == "OSError"  # no route at all: "Network is unreachable"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's listener


async def test_only_the_workspace_is_writable(layout: Layout) -> None:
    host_tmp = Path(tempfile.gettempdir()) / f"masterplan-escape-{uuid.uuid4().hex}"
    targets = {
        "workspace": layout.workspace / "written.txt",
        "workspace_root": layout.workspace.parent / "escape.txt",
        "other_run": layout.other_run / "escape.txt",
        "beside_the_service": layout.base / "escape.txt",
        "host_tmp": host_tmp,
        "usr": Path("/usr/local/escape.txt"),
    }
    code = f"""
import json
outcome = {{}}
for name, path in {json.dumps({name: str(path) for name, path in targets.items()})}.items():
    try:
        with open(path, "w") as handle:
            handle.write("x")
        outcome[name] = "written"
    except OSError as error:
        outcome[name] = type(error).__name__
print(json.dumps(outcome))
"""
    result = await inside(layout.sandbox(), layout.workspace, code)

    outcome = reported(result)
    assert outcome.pop("workspace") == "written"
    assert (layout.workspace / "written.txt").read_text() == "x"
    assert outcome.pop("host_tmp") == "written"  # into the sandbox's private /tmp, gone with it
    assert set(outcome.values()) <= {"OSError", "FileNotFoundError", "PermissionError"}
    assert not any(path.exists() for name, path in targets.items() if name != "workspace")


async def test_the_services_database_cannot_be_read(layout: Layout) -> None:
    code = f"""
import json, sqlite3
outcome = {{}}
try:
    outcome["bytes"] = open({str(layout.database)!r}, "rb").read().hex()
except OSError as error:
    outcome["bytes"] = type(error).__name__
try:
    uri = "file:{layout.database}?mode=ro"
    outcome["rows"] = str(sqlite3.connect(uri, uri=True).execute("SELECT value FROM secrets").fetchall())
except sqlite3.Error as error:
    outcome["rows"] = type(error).__name__
print(json.dumps(outcome))
"""
    result = await inside(layout.sandbox(), layout.workspace, code)

    assert reported(result) == {"bytes": "FileNotFoundError", "rows": "OperationalError"}
    assert SECRET.encode() in layout.database.read_bytes()  # it is there, outside


async def test_another_runs_workspace_is_not_visible(layout: Layout) -> None:
    code = f"""
import json, os
print(json.dumps({{
    "root": sorted(os.listdir({str(layout.workspace.parent)!r})),
    "other": os.path.exists({str(layout.other_run)!r}),
    "home": sorted(os.listdir(os.path.expanduser("~"))),
}}))
"""
    result = await inside(layout.sandbox(), layout.workspace, code)

    assert reported(result) == {"root": ["run-a"], "other": False, "home": []}


async def test_the_repositories_the_api_may_change_are_not_visible(layout: Layout) -> None:
    """Other people's code and history (a remote URL with a token in .git/config) under the repository roots."""
    repository = layout.base / "repos" / "inventory"
    (repository / ".git").mkdir(parents=True)
    (repository / ".git" / "config").write_text('[remote "origin"]\n\turl = https://token@example.com/x\n')
    settings = layout.settings.model_copy(update={"repository_roots": (layout.base / "repos",)})
    code = f"import json, os; print(json.dumps({{'repos': os.listdir({str(layout.base / 'repos')!r})}}))"
    result = await inside(Sandbox(SandboxPolicy.from_settings(settings)), layout.workspace, code)
    assert reported(result) == {"repos": []}
    seen = await inside(layout.sandbox(), layout.workspace, code)  # without the setting it is the host's file
    assert reported(seen) == {"repos": ["inventory"]}


async def test_the_environment_holds_no_secrets(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-key")
    monkeypatch.setenv("MASTERPLAN_API_TOKEN", "secret-token")
    code = "import json, os; print(json.dumps(dict(os.environ)))"

    result = await inside(layout.sandbox(), layout.workspace, code)

    environment = reported(result)
    assert "secret" not in result.output
    assert set(environment) <= {"PATH", "HOME", "LANG", "PWD", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "LC_CTYPE"}


FORK_BOMB = """
import os, time
started = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        started += 1
except OSError as error:
    print(f"stopped after {started} processes: {error}", flush=True)
"""


async def test_a_fork_bomb_is_stopped_by_the_process_limit(layout: Layout) -> None:
    result = await inside(layout.sandbox(processes=32), layout.workspace, FORK_BOMB)

    assert "stopped after" in result.output, result.output
    started = int(result.output.split("stopped after ")[1].split()[0])
    assert started < 32
    assert can_still_start_processes()


async def test_a_shell_fork_bomb_is_stopped_and_everything_it_started_ends_with_the_check(layout: Layout) -> None:
    bomb = "sh -c 'b() { b | b & }; b; sleep 1; echo the-service-side-survived'"

    [result] = await run_checks([bomb], layout.workspace, timeout_s=30, sandbox=layout.sandbox(processes=32))

    assert "Cannot fork" in result.output
    assert "the-service-side-survived" in result.output
    assert not result.timed_out
    assert can_still_start_processes()


def test_a_fork_bomb_is_stopped_for_a_normal_user_too(layout: Layout) -> None:
    """The process limit without root's pids cgroup: RLIMIT_NPROC, counted in bwrap's user namespace.

    As root, the sandbox's command line runs as uid 65534 (what a normal user's service runs);
    as a normal user it runs as is. Either way it is the non-root path.
    """
    layout.base.chmod(0o755)
    for directory in (layout.workspace.parent.parent, layout.workspace.parent, layout.workspace):
        directory.chmod(0o777)
    policy = SandboxPolicy(mode="required", limits=SandboxLimits(processes=32), readable=())
    # After the bomb, builtins only (a busy loop instead of sleep): dash exits when one of its own forks fails.
    bomb = "b() { b | b & }; b; i=0; while [ $i -lt 200000 ]; do i=$((i + 1)); done; echo bomb-over"
    argv = Sandbox(policy).confined_argv(["/bin/sh", "-c", bomb], layout.workspace, {"PATH": "/usr/bin:/bin"})
    if os.getuid() == 0:
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv]

    finished = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    assert "Cannot fork" in finished.stderr
    assert "bomb-over" in finished.stdout
    assert can_still_start_processes()


LEAVES_A_DETACHED_CHILD = """
import subprocess, sys
code = "import time; time.sleep(1.5); open('late.txt', 'w').write('still alive')"
subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
print("leader done", flush=True)
"""


async def test_nothing_a_check_started_outlives_it(layout: Layout) -> None:
    result = await inside(layout.sandbox(), layout.workspace, LEAVES_A_DETACHED_CHILD)
    await asyncio.sleep(2.5)

    assert result.passed
    assert result.output.startswith("leader done")
    assert not (layout.workspace / "late.txt").exists()


async def test_a_memory_hog_is_stopped_by_the_memory_limit(layout: Layout) -> None:
    code = "big = bytearray(4 * 1024**3); print('allocated 4 GB')"

    result = await inside(layout.sandbox(memory_mb=512), layout.workspace, code)

    assert not result.passed
    assert "MemoryError" in result.output
    assert "allocated" not in result.output


async def test_a_cpu_spinner_is_stopped_by_the_cpu_limit(layout: Layout) -> None:
    result = await inside(layout.sandbox(cpu_s=1), layout.workspace, "while True: pass", timeout_s=30)

    assert not result.passed
    assert not result.timed_out
    assert "the CPU time limit was reached" in result.output
    assert result.duration_s < 10


async def test_a_file_past_the_size_limit_stops_its_writer(layout: Layout) -> None:
    code = "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_DFL); open('big', 'wb').write(bytes(3 * 1024**2))"

    result = await inside(layout.sandbox(file_mb=1), layout.workspace, code)

    assert not result.passed
    assert "the file size limit was reached" in result.output
    assert (layout.workspace / "big").stat().st_size <= 1024**2


async def test_node_installed_in_a_hidden_directory_still_runs(layout: Layout) -> None:
    """Like node under ~/.nvm with HOME hidden: its installation is bound back read-only for ``node --check``."""
    node = layout.base / ".masterplan" / "tools" / "node-v20" / "bin" / "node"
    node.parent.mkdir(parents=True)
    node.write_text('#!/bin/sh\n[ "$1" = --check ] && [ -r "$2" ]\n')  # passes when it can read the file
    node.chmod(0o755)
    sandbox = layout.sandbox()
    script = GeneratedFile(path="web/app.js", content="const a = 1;\n")

    assert await javascript_problem(str(node), script, sandbox=sandbox) is None
    assert (await sandbox.status()).confined


async def test_an_interpreter_installed_under_tmp_is_bound_back_into_the_private_tmp(layout: Layout) -> None:
    """A checkout under /tmp (CI clones there) keeps its virtual environment visible inside the sandbox."""
    with tempfile.TemporaryDirectory(prefix="masterplan-venv-", dir="/tmp") as directory:
        tool = Path(directory) / "bin" / "node"
        tool.parent.mkdir()
        tool.write_text('#!/bin/sh\n[ "$1" = --check ] && [ -r "$2" ]\n')
        tool.chmod(0o755)
        (Path(directory) / "secret-beside-it").write_text("x")
        sandbox = layout.sandbox()
        script = GeneratedFile(path="web/app.js", content="const a = 1;\n")

        assert await javascript_problem(str(tool), script, sandbox=sandbox) is None
        probe = f"import os; print(sorted(os.listdir({str(Path(directory))!r})))"
        policy = replace(sandbox.policy, readable=(*sandbox.policy.readable, Path(directory)))
        result = await inside(Sandbox(policy), layout.workspace, probe)
        assert "secret-beside-it" in result.output  # bound back read-only, as it is outside /tmp


async def test_required_refuses_when_bwrap_does_not_work(layout: Layout) -> None:
    settings = layout.settings.model_copy(update={"sandbox_bwrap": "/nonexistent/bwrap"})
    sandbox = Sandbox(SandboxPolicy.from_settings(settings))

    with pytest.raises(SandboxUnavailable) as refused:
        await run_checks(["python -c 'print(1)'"], layout.workspace, timeout_s=10, sandbox=sandbox)

    assert "required" in str(refused.value)
    assert "'/nonexistent/bwrap' was not found" in str(refused.value)
    assert "apt-get install bubblewrap" in str(refused.value)


async def test_auto_runs_unconfined_when_bwrap_does_not_work(layout: Layout, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="masterplan.executor.sandbox")
    settings = layout.settings.model_copy(update={"sandbox_bwrap": "/nonexistent/bwrap", "sandbox": "auto"})
    sandbox = Sandbox(SandboxPolicy.from_settings(settings))

    result = await inside(sandbox, layout.workspace, f"print(open({str(layout.other_run / 'notes.txt')!r}).read())")

    status = await sandbox.status()
    assert not status.confined
    assert "/nonexistent/bwrap" in (status.reason or "")
    assert "WITHOUT a sandbox" in status.describe()
    assert "the other run's code" in result.output  # unconfined, as the warning says
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "checks run UNCONFINED" in w and "/nonexistent/bwrap" in w]) == 1, warnings
