"""git on a user's repository: masterplan's forced options, none of the machine's configuration, no hooks.

A hook, ``core.fsmonitor``, a credential helper or a filter driver would run a program from the repository's
or the machine's configuration; code runs only in the sandbox, so they are forced off on every command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from masterplan.executor.gitrepo import FORCED_OPTIONS, program_overrides

GIT_TIMEOUT_S = 60.0


class GitUnavailable(RuntimeError):
    """git is not installed, or it did not answer in time."""


def run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``git args`` in ``cwd``, its output as text; the caller reads the exit code.

    Every program the repository's configuration names is emptied first (``program_overrides``), and
    nothing is written that git would only write to save time later (``GIT_OPTIONAL_LOCKS=0``: a status
    does not rewrite the user's index).
    """
    listed = _git(cwd, "config", "--name-only", "--list")
    overrides = program_overrides(listed.stdout.splitlines()) if listed.returncode == 0 else []
    return _git(cwd, *overrides, *args)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise GitUnavailable("git is not installed")
    environment = {
        "PATH": os.pathsep.join([str(Path(git).parent), "/usr/bin", "/bin"]),
        "HOME": str(cwd),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
    }
    try:
        return subprocess.run(
            [git, *FORCED_OPTIONS, *args],
            cwd=cwd,
            env=environment,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitUnavailable(f"git {args[0]} took more than {GIT_TIMEOUT_S:g} s in {cwd}") from None


def first_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"git exited with {done.returncode}"
