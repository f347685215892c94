"""The workspace's files as last written or read, kept in memory to answer reads without walking the disk.

A safe read walks every directory of the path with O_NOFOLLOW, about ten system
calls a file; a task's prompt tail reads a dozen files. A remembered text is
given back only while the file is still the very one it was taken from (same
inode, device, size and modification time, by ``lstat``) and is reached through
no symlink, so a file changed behind masterplan's back (a check that formats
code, a person editing) is read from disk again, and a path that now leads
elsewhere is not answered from memory. One case is left to chance: an in-place
edit that keeps the size, within the file system's timestamp granularity of the
write it replaces (nanoseconds here; a few milliseconds on kernels before 6.13).
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict

DEFAULT_MAX_BYTES = 32 * 1024 * 1024

Identity = tuple[int, int, int, int]


def identity(info: os.stat_result) -> Identity:
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns)


class FileMirror:
    """Texts by relative path, least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._texts: OrderedDict[str, tuple[Identity, str]] = OrderedDict()
        self._bytes = 0

    def remember(self, relative: str, info: os.stat_result, text: str) -> None:
        self.forget(relative)
        if len(text) > self.max_bytes:
            return
        self._texts[relative] = (identity(info), text)
        self._bytes += len(text)
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._texts.popitem(last=False)
            self._bytes -= len(dropped)

    def recall(self, root: str, relative: str) -> str | None:
        """The remembered text if ``root/relative`` is still the file it came from, reached without a symlink."""
        entry = self._texts.get(relative)
        if entry is None:
            return None
        try:
            current = os.lstat(os.path.join(root, relative))
            parent = root
            for name in relative.split("/")[:-1]:  # lstat of the file follows symlinked directories: none allowed
                parent = os.path.join(parent, name)
                if stat.S_ISLNK(os.lstat(parent).st_mode):
                    return None
        except OSError:
            return None
        if identity(current) != entry[0]:
            return None
        self._texts.move_to_end(relative)
        return entry[1]

    def forget(self, relative: str) -> None:
        entry = self._texts.pop(relative, None)
        if entry is not None:
            self._bytes -= len(entry[1])
