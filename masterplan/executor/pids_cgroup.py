"""A pids cgroup per sandboxed command: the process limit that holds when masterplan runs as root.

The kernel does not enforce RLIMIT_NPROC for real uid 0, and a user namespace made by
root does not help (its processes still belong to uid 0 outside). A pids cgroup caps
the number of processes whatever the uid, so as root each command gets one: created
under the pids controller (cgroup v1 ``pids`` hierarchy, or cgroup v2 with ``pids``
enabled), joined by the command's first process before it starts anything, emptied
and removed afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from contextlib import suppress
from pathlib import Path

logger = logging.getLogger(__name__)

EMPTY_WAIT_S = 2.0
_MOUNTS = Path("/proc/self/mounts")
_OWN_CGROUPS = Path("/proc/self/cgroup")


def _own_path(controller: str | None) -> str:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (``None``: the v2 hierarchy)."""
    for line in _OWN_CGROUPS.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller in controllers.split(",")):
            return path.lstrip("/")
    return ""


def _candidates() -> list[Path]:
    """Directories under which a pids cgroup could be made: v1 ``pids`` hierarchies first, then v2."""
    found: list[Path] = []
    for line in _MOUNTS.read_text().splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mount, kind, options = Path(fields[1]), fields[2], fields[3].split(",")
        if kind == "cgroup" and "pids" in options:
            own = mount / _own_path("pids")
            found.append(own if own.is_dir() else mount)
        elif kind == "cgroup2":
            # v2 allows no processes in a cgroup with controllers for its children, except at the root.
            controls = mount / "cgroup.subtree_control"
            if controls.exists() and "pids" in controls.read_text().split():
                found.append(mount)
    return found


class PidsCgroups:
    """Makes, fills and removes the per-command pids cgroups under one parent directory."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent

    @classmethod
    def find(cls) -> tuple[PidsCgroups | None, str]:
        """A usable parent (a test cgroup was made and removed there), or None and why not."""
        try:
            candidates = _candidates()
        except OSError as error:
            return None, f"the cgroup mounts cannot be read ({error})"
        if not candidates:
            return None, "no pids cgroup controller is mounted (/sys/fs/cgroup)"
        problems = []
        for parent in candidates:
            cgroups = cls(parent)
            try:
                probe = cgroups.create(1)
                probe.rmdir()
            except OSError as error:
                problems.append(f"{parent}: {error.strerror or error}")
                continue
            return cgroups, ""
        return None, "no pids cgroup can be created (" + "; ".join(problems) + ")"

    def create(self, max_processes: int) -> Path:
        """A new cgroup allowing ``max_processes`` processes; OSError if it cannot be made."""
        path = self.parent / f"masterplan-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        try:
            (path / "pids.max").write_text(str(max_processes))
        except OSError:
            path.rmdir()
            raise
        return path

    async def remove(self, path: Path) -> None:
        """Kills what is still in ``path`` (the sandbox normally leaves nothing), then removes it."""
        deadline = time.monotonic() + EMPTY_WAIT_S
        while (left := await asyncio.to_thread(_kill_members, path)) is not None:
            if not left:
                await asyncio.to_thread(_remove_empty, path)
                return
            if time.monotonic() > deadline:
                logger.warning("pids cgroup %s still holds processes %s; left in place", path, left)
                return
            await asyncio.sleep(0.01)


def _kill_members(path: Path) -> list[int] | None:
    """SIGKILL to every process in the cgroup ``path``; the pids that were there (None: no such cgroup)."""
    try:
        pids = [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return None
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def _remove_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError as error:  # a process exiting right now; the directory is harmless and empty soon
        logger.warning("pids cgroup %s could not be removed: %s", path, error.strerror or error)
