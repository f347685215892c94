"""Per-attempt views of the workspace: where a task's checks run while other tasks go on.

A view is a copy of the run's workspace as the completed tasks left it (without ``.git``, masterplan's
own documents or caches) with the task's files written on top. It lives beside the workspace, under
``<workspace root>/.views/<workspace name>/``, which the sandbox hides like the workspace root itself;
only the view a check runs in is bound back, read-write. Whatever a check changes in its view is
thrown away with the view, and a run's views are gone when its execution ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import stat
from pathlib import Path

from masterplan.executor.workspace import Workspace

VIEWS_DIR = ".views"
_NOT_COPIED_ANYWHERE = frozenset({".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


class WorkspaceViews:
    """Makes and removes the views of one run's workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.root.parent / VIEWS_DIR / workspace.root.name
        self._numbers = itertools.count(1)

    async def clear(self) -> None:
        """Remove every view of the run (those a killed process left behind included)."""
        await asyncio.to_thread(self._remove_all)

    def _remove_all(self) -> None:
        _remove_tree(self.root)
        with contextlib.suppress(OSError):  # other runs' views are still there
            self.root.parent.rmdir()

    async def open(self, label: str) -> Workspace:
        """A new view of the workspace as it is now; the caller holds the workspace lock while it is copied."""
        name = f"{_UNSAFE_LABEL.sub('_', label)[:60]}-{next(self._numbers)}"
        path = self.root / name
        await asyncio.to_thread(self._copy, path)
        return Workspace(
            path,
            max_file_bytes=self.workspace.max_file_bytes,
            max_files=self.workspace.max_files,
            internal_dirs=self.workspace.internal_dirs,
            durable=False,
        )

    def _copy(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.workspace.root.is_dir():
            shutil.copytree(self.workspace.root, path, symlinks=True, ignore=self._not_copied)
        else:
            path.mkdir()

    def _not_copied(self, directory: str, names: list[str]) -> set[str]:
        """Caches and ``.git`` anywhere, masterplan's own directories at the root, and anything that is not a
        file, a directory or a link (a FIFO a check left behind would block the copy)."""
        skipped = {name for name in names if name in _NOT_COPIED_ANYWHERE}
        if Path(directory) == self.workspace.root:
            skipped |= {name for name in names if name in self.workspace.internal_dirs}
        for name in set(names) - skipped:
            try:
                mode = os.lstat(os.path.join(directory, name)).st_mode
            except OSError:
                skipped.add(name)
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                skipped.add(name)
        return skipped

    async def close(self, view: Workspace) -> None:
        await asyncio.to_thread(_remove_tree, view.root)


def _remove_tree(path: Path) -> None:
    """``rmtree`` that also removes what a check made unremovable (``chmod 000`` on a directory in its view).

    Each directory is made accessible before it is listed; links are never followed.
    """
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    with contextlib.suppress(OSError):
        os.chmod(path, stat.S_IRWXU)
    for directory, dirnames, _ in os.walk(path):
        for name in dirnames:
            child = os.path.join(directory, name)
            if not os.path.islink(child):
                with contextlib.suppress(OSError):
                    os.chmod(child, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)
