"""The run's checks: commands run in the workspace, each in its own process group, with a time limit.

Generated code is untrusted, so a check runs in the sandbox (``sandbox``: no network, the
host read-only, limits on CPU, memory, processes and file size) and gets no shell, a
minimal environment, a throwaway HOME, and a process group of its own: on timeout (or
cancellation) the whole group is killed, grandchildren included. Output is read as it
comes and only its head and tail are kept, so a test that prints gigabytes costs no memory.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from masterplan.executor.sandbox import Sandbox

DEFAULT_CHECKS = ("python -m pytest -q -p no:cacheprovider",)
DEFAULT_MAX_OUTPUT = 8_000
PYTEST_NO_TESTS_COLLECTED = 5
LINGER_S = 1.0
_READ_CHUNK = 65_536
_SEARCH_PATH = (str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True)
class CheckResult:
    command: str
    passed: bool
    exit_code: int | None  # None when the command timed out or could not start
    output: str
    duration_s: float
    timed_out: bool


def truncate_middle(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, keeping its head and tail around a marker."""
    collector = OutputCollector(limit)
    collector.add_text(text)
    return collector.text()


class OutputCollector:
    """Keeps the first and last ``limit`` characters of a byte stream, and how many there were."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"the output limit must be positive, got {limit}")
        self.limit = limit
        self.total = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head = ""
        self._tail: deque[str] = deque()
        self._tail_chars = 0

    def add(self, data: bytes, *, final: bool = False) -> None:
        self.add_text(self._decoder.decode(data, final=final))

    def add_text(self, text: str) -> None:
        self.total += len(text)
        room = self.limit - len(self._head)
        if room > 0:
            self._head += text[:room]
            text = text[room:]
        if not text:
            return
        self._tail.append(text)
        self._tail_chars += len(text)
        while self._tail_chars - len(self._tail[0]) >= self.limit:
            self._tail_chars -= len(self._tail.popleft())

    def text(self) -> str:
        tail = "".join(self._tail)
        if self.total <= self.limit:
            return self._head + tail
        dropped = self.total - len(self._head) - len(tail)
        known_end = self._head + tail if dropped == 0 else tail
        cut = self.total - self.limit
        for _ in range(3):  # the marker's length depends on the number it shows
            marker = f"\n[... {cut} characters cut ...]\n"
            budget = max(self.limit - len(marker), 0)
            head_chars = budget // 2
            tail_chars = budget - head_chars
            cut = self.total - head_chars - tail_chars
        return self._head[:head_chars] + marker + (known_end[-tail_chars:] if tail_chars else "")


def check_environment(home: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """What a check process sees: nothing of masterplan's own environment unless passed in ``extra``."""
    environment = {
        "PATH": os.pathsep.join(dict.fromkeys(_SEARCH_PATH)),
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    environment.update(extra or {})
    return environment


def command_argv(command: str) -> list[str]:
    """shlex-split ``command``; ``python``/``python3`` become this interpreter, ``pytest`` becomes ``-m pytest``."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty command")
    if argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    if argv[0] in ("pytest", "py.test"):
        return [sys.executable, "-m", "pytest", *argv[1:]]
    return argv


def is_pytest(argv: Sequence[str]) -> bool:
    if Path(argv[0]).name in ("pytest", "py.test"):
        return True
    return any(argv[i] == "-m" and argv[i + 1] == "pytest" for i in range(len(argv) - 1))


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _read_all(stream: asyncio.StreamReader, collector: OutputCollector) -> None:
    while chunk := await stream.read(_READ_CHUNK):
        collector.add(chunk)


async def _stop_reading(reader: asyncio.Task[None]) -> None:
    """Lets the reader drain what the killed group left, then stops it (an escaped process may hold the pipe)."""
    done, _ = await asyncio.wait({reader}, timeout=LINGER_S)
    if not done:
        reader.cancel()
    with suppress(asyncio.CancelledError):
        await reader


@dataclass
class _Started:
    process: asyncio.subprocess.Process
    output: asyncio.StreamReader
    transport: asyncio.ReadTransport


async def _start(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> _Started:
    """Starts ``argv`` in a new session, stdout and stderr into one pipe that this side owns.

    Owning the pipe (instead of ``stdout=PIPE``) matters: Python 3.11's ``Process.wait``
    waits for its pipes to close too, which a background child may never do.
    """
    read_fd, write_fd = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    output = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(output), os.fdopen(read_fd, "rb", buffering=0)
    )
    return _Started(process, output, transport)


async def _run_one(
    command: str, cwd: Path, timeout_s: float, max_output: int, env: dict[str, str], *, sandbox: Sandbox
) -> CheckResult:
    started = time.monotonic()

    def failed(message: str, *, timed_out: bool = False) -> CheckResult:
        return CheckResult(command, False, None, message, time.monotonic() - started, timed_out)

    try:
        argv = command_argv(command)
    except ValueError as error:
        return failed(f"the command cannot be parsed: {error}")
    if not _findable(argv[0], cwd, env.get("PATH")):
        return failed(f"could not start {argv[0]!r}: no such program (is it installed and on the check PATH?)")
    async with sandbox.launch(argv, cwd, env) as launch:
        try:
            run = await _start(launch.argv, cwd, launch.env)
        except OSError as error:
            return failed(f"could not start {launch.argv[0]!r}: {error.strerror or error}")
        collector = OutputCollector(max_output)
        reader = asyncio.create_task(_read_all(run.output, collector))
        timed_out = False
        try:
            async with asyncio.timeout(timeout_s):
                await run.process.wait()
                # Output a background child still holds open gets a moment, not the whole time limit.
                await asyncio.wait({reader}, timeout=LINGER_S)
        except TimeoutError:
            timed_out = True
        finally:
            # Kill the group even after a clean exit: background children must not outlive their check.
            _kill_group(run.process)
            await run.process.wait()
            await _stop_reading(reader)
            run.transport.close()
    collector.add(b"", final=True)
    if timed_out:
        collector.add_text(f"\n[timed out after {timeout_s:g} s; the command and its children were killed]")
        return failed(collector.text(), timed_out=True)
    exit_code = run.process.returncode
    passed = exit_code == 0
    if exit_code == PYTEST_NO_TESTS_COLLECTED and is_pytest(argv):
        passed = True
        collector.add_text("\n[pytest collected no tests; counted as passed]")
    if (stopped := _limit_signal(exit_code)) is not None:
        collector.add_text(f"\n[{stopped}]")
    return CheckResult(command, passed, exit_code, collector.text(), time.monotonic() - started, False)


def _findable(program: str, cwd: Path, search_path: str | None) -> bool:
    """Whether ``program`` names an executable: on ``search_path``, or as a path relative to ``cwd``."""
    if "/" in program:
        return shutil.which(str(cwd / program)) is not None
    return shutil.which(program, path=search_path) is not None


def _limit_signal(exit_code: int | None) -> str | None:
    """What a sandbox limit did, when the exit code says a process died of it (-N, or 128+N from a shell)."""
    if exit_code is None:
        return None
    number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    if number == signal.SIGXCPU:
        return "stopped by SIGXCPU: the CPU time limit was reached"
    if number == signal.SIGXFSZ:
        return "stopped by SIGXFSZ: the file size limit was reached"
    return None


async def run_checks(
    commands: Sequence[str],
    cwd: Path,
    *,
    timeout_s: float,
    sandbox: Sandbox,
    max_output: int = DEFAULT_MAX_OUTPUT,
    env: Mapping[str, str] | None = None,
) -> list[CheckResult]:
    """Runs ``commands`` in order in ``cwd``, stopping after the first that fails; one result per command run.

    Each command runs as ``sandbox`` says; SandboxUnavailable when it requires a sandbox that does not work.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if not await asyncio.to_thread(os.path.isdir, cwd):
        raise ValueError(f"checks cannot run in {cwd}: it is not a directory")
    await sandbox.require()
    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="masterplan-home-", ignore_cleanup_errors=True) as home:
        environment = check_environment(home, env)
        for command in commands:
            result = await _run_one(command, cwd, timeout_s, max_output, environment, sandbox=sandbox)
            results.append(result)
            if not result.passed:
                break
    return results
