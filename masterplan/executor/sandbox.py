"""The sandbox every command masterplan runs in a workspace runs in (checks, ``node --check``).

Generated code is untrusted. Each command runs under bubblewrap (``bwrap``) with its own
namespaces: no network, the host file system read-only, a private /tmp, fresh /dev and
/proc, only its workspace writable; masterplan's database directory, the workspace root
(other runs), HOME and /run (database sockets) are hidden under empty read-only tmpfs
mounts, with the interpreter prefixes the checks need bound back read-only. Inside,
``prlimit`` sets the CPU time, address space, file size and process limits before the
command starts. The process limit (RLIMIT_NPROC) counts per user namespace, so it holds
for a normal user; for root the kernel ignores it, and a pids cgroup per command takes
its place (``pids_cgroup``).

Whether all this works here is probed once (the same flags around the interpreter) and
remembered. ``auto`` runs commands unconfined when it does not, ``required`` refuses to,
``off`` never confines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import site
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from masterplan.config import SandboxMode, Settings
from masterplan.executor.pids_cgroup import PidsCgroups
from masterplan.store.url import parse_database_url

logger = logging.getLogger(__name__)

ProcessLimit = Literal["rlimit", "cgroup"]

PROBE_TIMEOUT_S = 20.0
SANDBOX_HOME = "/tmp/home"
"""An empty directory of the private /tmp: HOME inside, apart from anything bound back into /tmp."""
MB = 1024 * 1024
_ALWAYS_HIDDEN = (Path("/run"), Path("/var/run"))


class SandboxUnavailable(Exception):
    """``sandbox: required`` and the sandbox does not work here; the message says why."""


@dataclass(frozen=True)
class SandboxLimits:
    memory_mb: int = 2048
    cpu_s: int = 300
    processes: int = 256
    file_mb: int = 256

    def prlimit_options(self) -> list[str]:
        # The CPU soft limit sends SIGXCPU (the process learns why); the hard one a second later kills.
        return [
            f"--as={self.memory_mb * MB}",
            f"--cpu={self.cpu_s}:{self.cpu_s + 1}",
            f"--fsize={self.file_mb * MB}",
            f"--nproc={self.processes}",
            "--core=0",
        ]

    def describe(self) -> str:
        return (
            f"{self.memory_mb} MB of memory, {self.cpu_s} s of CPU, {self.processes} processes, "
            f"files up to {self.file_mb} MB"
        )


def _existing(paths: Iterable[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(path for path in paths if path.exists()))


def interpreter_paths() -> tuple[Path, ...]:
    """What the checks' interpreter needs to run: its prefixes (as named and resolved) and the user site."""
    prefixes = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)]
    named = [*prefixes, *(path.resolve() for path in prefixes)]
    if site.ENABLE_USER_SITE and site.USER_SITE:
        named.append(Path(site.USER_SITE).resolve())
    return _existing(named)


def _home() -> list[Path]:
    """The home directory of the user masterplan runs as, from the user database (none for a uid without one)."""
    try:
        return [Path(pwd.getpwuid(os.getuid()).pw_dir)]
    except KeyError:
        return []


@dataclass(frozen=True)
class SandboxPolicy:
    """What to confine and how; built from the settings by ``from_settings``."""

    mode: SandboxMode = "auto"
    bwrap: str = "bwrap"
    prlimit: str = "prlimit"
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    hidden: tuple[Path, ...] = ()
    """Directories the command must not see: the workspace root, the repository roots, the database's directory,
    HOME, /run."""
    readable: tuple[Path, ...] = field(default_factory=interpreter_paths)
    """Directories bound back read-only inside a hidden one (the interpreter)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxPolicy:
        # The repositories the API may change are other people's code and history (remote URLs, stashes): a
        # check sees only its own view of the one its run works on.
        roots = [Path(root).resolve() for root in settings.repository_roots]
        hidden = [Path(settings.workspace_root).resolve(), *roots, *_home(), *_ALWAYS_HIDDEN]
        database = parse_database_url(settings.database_url)
        if database.sqlite_path is not None:
            hidden.append(database.sqlite_path.resolve().parent)
        return cls(
            mode=settings.sandbox,
            bwrap=settings.sandbox_bwrap,
            limits=SandboxLimits(
                memory_mb=settings.sandbox_memory_mb,
                cpu_s=settings.sandbox_cpu_s,
                processes=settings.sandbox_processes,
                file_mb=settings.sandbox_file_mb,
            ),
            hidden=tuple(hidden),
        )


@dataclass(frozen=True)
class SandboxStatus:
    """The probe's verdict: whether commands are confined, and if not, why."""

    mode: SandboxMode
    confined: bool
    reason: str | None = None
    process_limit: ProcessLimit | None = None
    limits: SandboxLimits | None = None

    def describe(self) -> str:
        """One line for REPORT.md and the logs."""
        if self.confined and self.limits is not None:
            via = "a pids cgroup" if self.process_limit == "cgroup" else "RLIMIT_NPROC"
            return (
                "checks ran in the bubblewrap sandbox: no network, host file system read-only, only the "
                f"workspace writable; limits: {self.limits.describe()} (processes through {via})"
            )
        if self.mode == "off":
            return "checks ran WITHOUT a sandbox: it is turned off by the setting sandbox=off"
        return f"checks ran WITHOUT a sandbox: {self.reason}"


@dataclass(frozen=True)
class Launch:
    """How to start one command: the argv (the sandbox around the command, or the command) and its env."""

    argv: list[str]
    env: dict[str, str]


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without those inside another, parents first."""
    ordered = sorted(set(paths), key=lambda path: len(path.parts))
    kept: list[Path] = []
    for path in ordered:
        if not any(_is_within(path, outer) for outer in kept):
            kept.append(path)
    return kept


class Sandbox:
    """Confines commands as its policy says; ``status`` probes once whether it can."""

    def __init__(self, policy: SandboxPolicy) -> None:
        self.policy = policy
        self._status: SandboxStatus | None = None
        self._cgroups: PidsCgroups | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def off(cls) -> Sandbox:
        """Runs commands as they are (``sandbox: off``)."""
        return cls(SandboxPolicy(mode="off", readable=()))

    async def status(self) -> SandboxStatus:
        """The probe's verdict, computed once and logged once."""
        async with self._lock:
            if self._status is None:
                self._status = await self._probe()
                self._log(self._status)
            return self._status

    async def require(self) -> SandboxStatus:
        """The status; SandboxUnavailable when the policy requires a sandbox that does not work."""
        status = await self.status()
        if self.policy.mode == "required" and not status.confined:
            raise SandboxUnavailable(
                f"the sandbox is required (MASTERPLAN_SANDBOX=required) but does not work here: {status.reason}"
            )
        return status

    @asynccontextmanager
    async def launch(
        self, argv: Sequence[str], workspace: Path, env: Mapping[str, str], *, readable: Sequence[Path] = ()
    ) -> AsyncIterator[Launch]:
        """The way to start ``argv`` in ``workspace`` for as long as the block runs (its cgroup lives that long).

        ``readable``: directories the command needs besides the interpreter (e.g. node's), bound back read-only
        if they lie in a hidden one.
        """
        status = await self.require()
        async with self._launch(status, argv, workspace, env, readable) as launch:
            yield launch

    @asynccontextmanager
    async def _launch(
        self,
        status: SandboxStatus,
        argv: Sequence[str],
        workspace: Path,
        env: Mapping[str, str],
        readable: Sequence[Path] = (),
    ) -> AsyncIterator[Launch]:
        if not status.confined:
            yield Launch(list(argv), dict(env))
            return
        inside = {**env, "HOME": SANDBOX_HOME}
        if status.process_limit != "cgroup" or self._cgroups is None:
            yield Launch(self.confined_argv(argv, workspace, inside, readable), inside)
            return
        cgroup = await asyncio.to_thread(self._cgroups.create, self.policy.limits.processes)
        try:
            # The first process joins the cgroup, then becomes bwrap: everything it starts is counted.
            join = ["/bin/sh", "-c", 'echo 0 > "$0" && exec "$@"', str(cgroup / "cgroup.procs")]
            yield Launch([*join, *self.confined_argv(argv, workspace, inside, readable)], inside)
        finally:
            await self._cgroups.remove(cgroup)

    def confined_argv(
        self, argv: Sequence[str], workspace: Path, env: Mapping[str, str], readable: Sequence[Path] = ()
    ) -> list[str]:
        """``argv`` under bwrap and prlimit (see the module docstring for what each part does)."""
        workspace = workspace.resolve()
        tmp = Path("/tmp")
        every_hidden = [
            path
            for path in dict.fromkeys(path.resolve() for path in self.policy.hidden if path.exists())
            if path != Path("/")
        ]
        hidden = [path for path in every_hidden if not _is_within(path, tmp)]  # the private /tmp hides the rest
        outer = _outermost(hidden)
        args = [self._bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session"]
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        args += ["--size", str(self.policy.limits.file_mb * MB), "--tmpfs", str(tmp), "--dir", SANDBOX_HOME]
        for path in outer:
            args += ["--tmpfs", str(path)]
        # Bound back on top, parents first: the interpreter read-only, the workspace read-write.
        wanted = [*self.policy.readable, *(path.resolve() for path in readable if path.exists())]
        # The private /tmp hides too: an interpreter installed under /tmp (a checkout there) is bound back.
        binds = {path: "--ro-bind" for path in wanted if any(_is_within(path, hide) for hide in [*outer, tmp])}
        binds[workspace] = "--bind"
        for path in sorted(binds, key=lambda path: len(path.parts)):
            args += [binds[path], str(path), str(path)]
        # A hidden directory inside something bound back is hidden again.
        again = [
            path for path in every_hidden if path not in outer and any(path != b and _is_within(path, b) for b in binds)
        ]
        for path in again:
            args += ["--tmpfs", str(path)]
        for path in [*outer, *again]:
            if path not in binds:
                args += ["--remount-ro", str(path)]
        args += ["--chdir", str(workspace), "--clearenv"]
        for name, value in env.items():
            args += ["--setenv", name, value]
        prlimit = shutil.which(self.policy.prlimit) or self.policy.prlimit
        return [*args, "--", prlimit, *self.policy.limits.prlimit_options(), "--", *argv]

    def _bwrap_path(self) -> str:
        return shutil.which(self.policy.bwrap) or self.policy.bwrap

    # ------------------------------------------------------------------ probe

    async def _probe(self) -> SandboxStatus:
        policy = self.policy
        if policy.mode == "off":
            return SandboxStatus("off", confined=False, reason="turned off by the setting sandbox=off")

        def unavailable(reason: str) -> SandboxStatus:
            return SandboxStatus(policy.mode, confined=False, reason=reason)

        if shutil.which(policy.bwrap) is None:
            return unavailable(
                f"bubblewrap is not installed: {policy.bwrap!r} was not found "
                "(Debian/Ubuntu: apt-get install bubblewrap)"
            )
        if shutil.which(policy.prlimit) is None:
            return unavailable(f"{policy.prlimit!r} (util-linux) was not found; it sets the sandbox's limits")
        process_limit: ProcessLimit = "rlimit"
        if os.getuid() == 0:
            self._cgroups, why = await asyncio.to_thread(PidsCgroups.find)
            if self._cgroups is None:
                return unavailable(
                    "masterplan runs as root, for which the kernel does not enforce a process limit (RLIMIT_NPROC), "
                    f"and {why}; run masterplan as a normal user, or give it a writable pids cgroup"
                )
            process_limit = "cgroup"
        failure = await self._probe_run(process_limit)
        if failure is not None:
            return unavailable(f"bwrap does not work here: {failure}")
        return SandboxStatus(policy.mode, confined=True, process_limit=process_limit, limits=policy.limits)

    async def _probe_run(self, process_limit: ProcessLimit) -> str | None:
        """Runs the interpreter in the sandbox as a check would; None if it worked, else what went wrong."""
        trial = SandboxStatus(self.policy.mode, True, process_limit=process_limit, limits=self.policy.limits)
        try:
            with tempfile.TemporaryDirectory(prefix="masterplan-sandbox-probe-") as directory:
                workspace = Path(directory)
                argv = [sys.executable, "-c", "open('probe', 'w').write('ok')"]
                async with self._launch(trial, argv, workspace, {"PATH": "/usr/bin:/bin"}) as launch:
                    process = await asyncio.create_subprocess_exec(
                        *launch.argv,
                        env=launch.env,
                        cwd=workspace,
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.STDOUT,
                    )
                    try:
                        async with asyncio.timeout(PROBE_TIMEOUT_S):
                            output, _ = await process.communicate()
                    except TimeoutError:
                        process.kill()
                        await process.wait()
                        return f"a trial command did not finish within {PROBE_TIMEOUT_S:g} s"
                text = output.decode("utf-8", "replace").strip()
                if process.returncode != 0:
                    return f"exit code {process.returncode}: {text[:500] or 'no output'}"
                if (workspace / "probe").read_text() != "ok":
                    return "a trial command could not write to its workspace"
        except OSError as error:
            return f"{error.strerror or error}"
        return None

    def _log(self, status: SandboxStatus) -> None:
        if status.confined:
            logger.info("sandbox: %s", status.describe().removeprefix("checks ran in "))
        elif status.mode == "required":
            logger.error("sandbox required but unavailable: %s; checks will be refused", status.reason)
        elif status.mode == "auto":
            logger.warning("sandbox unavailable, checks run UNCONFINED: %s", status.reason)
        else:
            logger.warning("sandbox off (sandbox=off): checks run unconfined")
