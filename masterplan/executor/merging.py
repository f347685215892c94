"""Three-way merge of a task's files with what other tasks wrote meanwhile.

A task's answer was written against the files as its prompt showed them (the *base*). When the
workspace has changed since (another task completed first), the two changes are merged line by line
with ``git merge-file``, as git merges branches: changes to different regions both survive; changes
to the same lines, a file both created or a file the other removed are a conflict, which the task
resolves by answering again. Nothing is ever overwritten silently.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from masterplan.models import GeneratedFile

MERGE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FileMerge:
    files: list[GeneratedFile]
    """What to write: the task's files, merged where the workspace changed meanwhile."""
    merged: list[str] = field(default_factory=list)
    """Paths another task changed meanwhile whose changes merged cleanly with this task's."""
    conflicts: list[str] = field(default_factory=list)
    """Paths where the two changes overlap: nothing of this merge may be written."""


async def merge_changes(
    base: Mapping[str, str | None],
    current: Mapping[str, str | None],
    files: Sequence[GeneratedFile],
    *,
    git: str | None,
) -> FileMerge:
    """``files`` (written against ``base``) merged with ``current``; without ``git`` any overlap is a conflict."""
    written: list[GeneratedFile] = []
    merged: list[str] = []
    conflicts: list[str] = []
    for file in files:
        before, now = base.get(file.path), current.get(file.path)
        if now in (before, file.content):
            written.append(file)
            continue
        result = None
        if before is not None and now is not None and git is not None:
            result = await merge_text(before, now, file.content, git=git)
        if result is None:
            conflicts.append(file.path)
        else:
            merged.append(file.path)
            written.append(GeneratedFile(path=file.path, content=result))
    return FileMerge(written, merged, conflicts)


async def merge_text(base: str, current: str, theirs: str, *, git: str) -> str | None:
    """The clean merge of ``current`` and ``theirs`` (both changed from ``base``), or None on a conflict."""
    with tempfile.TemporaryDirectory(prefix="masterplan-merge-") as directory:
        paths = [Path(directory, name) for name in ("current", "base", "theirs")]
        for path, text in zip(paths, (current, base, theirs), strict=True):
            path.write_text(text, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            git,
            "merge-file",
            "-p",
            *[str(path) for path in paths],
            cwd=directory,
            env={"PATH": os.defpath, "HOME": directory, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(MERGE_TIMEOUT_S):
                stdout, _ = await process.communicate()
        except TimeoutError:
            return None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    # exit 0: merged cleanly; > 0: that many conflicts; < 0 (255): an error, e.g. a binary file.
    return stdout.decode("utf-8") if process.returncode == 0 else None
