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
import re
import shutil
from pathlib import Path

from masterplan.executor.workspace import INTERNAL_DIRS, Workspace

VIEWS_DIR = ".views"
_NOT_COPIED = (".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", *INTERNAL_DIRS)
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
        shutil.rmtree(self.root, ignore_errors=True)
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
            shutil.copytree(self.workspace.root, path, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        else:
            path.mkdir()

    async def close(self, view: Workspace) -> None:
        await asyncio.to_thread(shutil.rmtree, view.root, ignore_errors=True)
