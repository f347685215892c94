"""The run's workspace: validated, atomic writes of what an LLM produced, never outside the root.

An LLM's file list is untrusted. ``Workspace.problems`` names everything wrong with it at
once (so one retry can fix it all) and only reads the disk. ``Workspace.write`` writes
nothing unless the whole list is clean, then writes each file through directory file
descriptors opened with ``O_NOFOLLOW`` from the root down: a symlink planted between the
check and the write (by the project's own tests, say) is resolved and checked again, never
followed blindly.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from masterplan.executor.file_mirror import FileMirror
from masterplan.models import GeneratedFile

DEFAULT_MAX_FILE_BYTES = 512_000
DEFAULT_MAX_FILES = 50
INTERNAL_DIRS = (".masterplan",)
MAX_NAME_BYTES = 255
MAX_SYMLINK_HOPS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True)
class FileProblem:
    """Why one file of an LLM's output cannot be written (``path`` is "*" for the output as a whole)."""

    path: str
    message: str


class WorkspaceError(ValueError):
    """Files were refused; ``problems`` says why, one entry per problem."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in self.problems))


def human_size(size: int) -> str:
    """Decimal units, as a person reads them: 512000 -> "512 KB", 2097152 -> "2.1 MB"."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.0f} KB"
    return f"{size} bytes"


def path_syntax_problems(path: str, *, internal_dirs: Sequence[str] = INTERNAL_DIRS) -> list[str]:
    """What is wrong with ``path`` as text, before looking at any disk."""
    if not path.strip():
        return ["empty path"]
    problems: list[str] = []
    controls = [char for char in path if unicodedata.category(char) == "Cc"]
    if controls:
        names = ", ".join(dict.fromkeys("NUL" if c == "\0" else f"U+{ord(c):04X}" for c in controls))
        problems.append(f"path contains control characters ({names})")
    if path.startswith(("/", "\\")) or (len(path) >= 2 and path[1] == ":" and path[0].isascii() and path[0].isalpha()):
        problems.append("absolute path; paths are relative to the project root")
    if "\\" in path:
        problems.append("path contains a backslash; use forward slashes")
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        problems.append("path leaves the workspace ('..')")
    if all(part in ("", ".") for part in parts):
        problems.append("path names no file")
    elif path.endswith("/"):
        problems.append("path ends with '/', which names a directory, not a file")
    if any(part.lower() == ".git" for part in parts):
        problems.append("path is inside .git, which belongs to the run's repository")
    elif parts[0] in internal_dirs:
        problems.append(f"path is inside {parts[0]}, which belongs to masterplan")
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in parts):
        problems.append(f"a path component is longer than {MAX_NAME_BYTES} bytes")
    return problems


def normalize(path: str) -> str:
    """``./a//b.py`` -> ``a/b.py`` (only for paths without syntax problems)."""
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def content_problem(content: str, max_file_bytes: int) -> str | None:
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        return "content is not valid text (it contains a lone UTF-16 surrogate)"
    if size > max_file_bytes:
        return f"file is {human_size(size)}; the limit is {human_size(max_file_bytes)}"
    return None


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Workspace:
    """A directory the run's files live in; nothing is ever read or written outside it."""

    def __init__(
        self,
        root: Path,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_files: int = DEFAULT_MAX_FILES,
        internal_dirs: Sequence[str] = INTERNAL_DIRS,
        durable: bool = True,
    ) -> None:
        """``durable=False`` skips fsync: a rename is still atomic for readers, and a workspace the store can
        rebuild after a crash (every completed output is stored) need not pay a disk flush per file."""
        if max_file_bytes <= 0 or max_files <= 0:
            raise ValueError("max_file_bytes and max_files must be positive")
        self.root = Path(root).absolute()
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.internal_dirs = tuple(internal_dirs)
        self.durable = durable
        self._resolved_root: str | None = None
        self._mirror = FileMirror()

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _real_root(self) -> str:
        """The root with symlinks resolved, looked up once it exists (a lookup is a syscall per component)."""
        if self._resolved_root is None:
            resolved = os.path.realpath(self.root)
            if not os.path.isdir(resolved):
                return resolved
            self._resolved_root = resolved
        return self._resolved_root

    # ------------------------------------------------------------------ checks

    def problems(self, files: Sequence[GeneratedFile]) -> list[FileProblem]:
        """Everything wrong with ``files`` at once; an empty list means ``write`` will accept them."""
        problems: list[FileProblem] = []
        if len(files) > self.max_files:
            problems.append(FileProblem("*", f"{len(files)} files; the limit is {self.max_files}"))
        clean: list[str] = []
        for file in files:
            messages = path_syntax_problems(file.path, internal_dirs=self.internal_dirs)
            if not messages:
                relative = normalize(file.path)
                clean.append(relative)
                messages = self._disk_problems(relative)
            size_message = content_problem(file.content, self.max_file_bytes)
            problems += [FileProblem(file.path, message) for message in messages]
            if size_message:
                problems.append(FileProblem(file.path, size_message))
        problems += self._batch_problems(clean)
        return problems

    @staticmethod
    def _batch_problems(paths: Sequence[str]) -> list[FileProblem]:
        counts = Counter(paths)
        problems = [FileProblem(path, f"path appears {n} times in the output") for path, n in counts.items() if n > 1]
        files = set(paths)
        for path in dict.fromkeys(paths):
            for parent in PurePosixPath(path).parents:
                if str(parent) in files:
                    problems.append(
                        FileProblem(path, f"'{parent}' is also written as a file, so it cannot be a directory")
                    )
        return problems

    def _disk_problems(self, relative: str) -> list[str]:
        """Existing symlinks leading outside the root, files where directories must be, and the reverse."""
        root = self._real_root()
        parts = relative.split("/")
        for depth in range(1, len(parts) + 1):
            current = os.path.join(self.root, *parts[:depth])
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                return []
            except NotADirectoryError:
                return [f"'{'/'.join(parts[: depth - 1])}' is an existing file, so it cannot be a directory"]
            if stat.S_ISLNK(info.st_mode) and not _is_within(os.path.realpath(current), root):
                return [f"'{'/'.join(parts[:depth])}' is a symlink that points outside the workspace"]
        target = os.path.join(self.root, *parts)
        if os.path.isdir(target):
            return ["a directory already exists at this path"]
        return []

    # ------------------------------------------------------------------ writing

    def write(self, files: Sequence[GeneratedFile]) -> list[str]:
        """Writes every file atomically, or nothing if any file has a problem (WorkspaceError)."""
        problems = self.problems(files)
        if problems:
            raise WorkspaceError(problems)
        self.ensure()
        written: list[str] = []
        for file in files:
            relative = normalize(file.path)
            self._write_one(relative, file.content)
            written.append(relative)
        return written

    def _write_one(self, relative: str, text: str) -> None:
        data = text.encode("utf-8")
        *parents, name = relative.split("/")
        with self._open_dir(parents, create=True, display=relative) as dir_fd:
            temp = f".mp-{secrets.token_hex(8)}.tmp"
            fd = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd
            )
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if self.durable:
                        handle.flush()
                        os.fsync(handle.fileno())
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                self._mirror.forget(relative)
                with suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=dir_fd)
                raise
            self._mirror.remember(relative, os.stat(name, dir_fd=dir_fd, follow_symlinks=False), text)
            if self.durable:
                os.fsync(dir_fd)

    @contextmanager
    def _open_dir(self, parts: Sequence[str], *, create: bool, display: str) -> Iterator[int]:
        fd = self._descend(list(parts), create=create, display=display)
        try:
            yield fd
        finally:
            os.close(fd)

    def _descend(self, parts: list[str], *, create: bool, display: str) -> int:
        """A descriptor of root/parts, reached without following any symlink blindly.

        Each component is opened with O_NOFOLLOW relative to its parent's descriptor. A
        component that is a symlink is resolved, checked to stay inside the root, and the
        walk restarts from the root along the resolved path.
        """
        root = self._real_root()
        for _ in range(MAX_SYMLINK_HOPS):
            fd = os.open(root, _DIR_FLAGS)
            link_at: int | None = None
            for index, name in enumerate(parts):
                try:
                    child = _open_child_dir(fd, name, create=create)
                except NotADirectoryError:
                    where = "/".join(parts[: index + 1])
                    raise WorkspaceError(
                        [FileProblem(display, f"'{where}' is an existing file, not a directory")]
                    ) from None
                finally:
                    os.close(fd)
                if child is None:
                    link_at = index
                    break
                fd = child
            if link_at is None:
                return fd
            resolved = os.path.realpath(os.path.join(root, *parts[: link_at + 1]))
            if not _is_within(resolved, root):
                raise WorkspaceError([FileProblem(display, "a symlink on the path points outside the workspace")])
            parts = [*Path(resolved).relative_to(root).parts, *parts[link_at + 1 :]]
        raise WorkspaceError([FileProblem(display, "too many symlinks on the path")])

    def remove(self, paths: Sequence[str]) -> list[str]:
        """Deletes these files (absent ones are fine); returns the relative paths that were deleted.

        For undoing a write: a symlink on the way is followed only while it stays inside the
        root, and a symlink named by a path is removed itself, never its target.
        """
        problems = [
            FileProblem(path, message)
            for path in paths
            for message in path_syntax_problems(path, internal_dirs=self.internal_dirs)
        ]
        if problems:
            raise WorkspaceError(problems)
        removed: list[str] = []
        for path in paths:
            relative = normalize(path)
            self._mirror.forget(relative)
            *parents, name = relative.split("/")
            try:
                with self._open_dir(parents, create=False, display=path) as dir_fd:
                    os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                continue
            except IsADirectoryError:
                raise WorkspaceError([FileProblem(path, "a directory exists at this path")]) from None
            removed.append(relative)
        return removed

    # ------------------------------------------------------------------ reading

    def read(self, paths: Sequence[str]) -> dict[str, str | None]:
        """Current text of each path; None when absent, not UTF-8 text, or not a valid path inside the root."""
        return {path: self._read_one(path) for path in paths}

    def _read_one(self, path: str) -> str | None:
        relative = normalize(path)
        if path_syntax_problems(path, internal_dirs=self.internal_dirs) or not relative:
            return None
        root = self._real_root()
        remembered = self._mirror.recall(root, relative)
        if remembered is not None:
            return remembered
        parts = relative.split("/")
        try:
            if os.path.islink(os.path.join(root, *parts)):
                resolved = os.path.realpath(os.path.join(root, *parts))
                if not _is_within(resolved, root) or resolved == root:
                    return None
                parts = list(Path(resolved).relative_to(root).parts)
            *parents, name = parts
            with self._open_dir(parents, create=False, display=path) as dir_fd:
                # O_NONBLOCK: a FIFO planted by generated code must not hang the reader.
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    return None
                text = handle.read().decode("utf-8")
            if parts == relative.split("/"):  # not reached through a symlink: the path names this very file
                self._mirror.remember(relative, info, text)
            return text
        except (OSError, WorkspaceError, UnicodeDecodeError):
            return None

    def snapshot(self) -> dict[str, str]:
        """Every UTF-8 text file under the root (symlinks, .git and internal dirs left out), sorted by path."""
        result: dict[str, str] = {}
        skipped = {".git", *self.internal_dirs}
        for directory, dirnames, filenames in os.walk(self.root):
            relative_dir = Path(directory).relative_to(self.root)
            if relative_dir == Path("."):
                dirnames[:] = [d for d in dirnames if d not in skipped]
            else:
                dirnames[:] = [d for d in dirnames if d != ".git"]
            dirnames.sort()
            for filename in sorted(filenames):
                full = Path(directory, filename)
                if full.is_symlink() or not full.is_file():
                    continue
                try:
                    result[(relative_dir / filename).as_posix()] = full.read_bytes().decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
        return dict(sorted(result.items()))


def _open_child_dir(parent_fd: int, name: str, *, create: bool) -> int | None:
    """Descriptor of directory ``name`` in ``parent_fd``; None when ``name`` is a symlink."""
    if create:
        with suppress(FileExistsError):
            os.mkdir(name, dir_fd=parent_fd)
    try:
        return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
            return None
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", name) from None
