"""The workspace as a git repository: one commit per completed task.

Git runs with no system or global configuration (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL
pointing at /dev/null, HOME at the workspace) and without hooks, so the machine's git setup,
a signing requirement or a hook planted by generated code cannot change what happens.
GIT_DIR is always the workspace's own .git: a workspace inside another checkout never
commits into it.
"""

from __future__ import annotations

import asyncio
import enum
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from masterplan.models import TaskOutput

AUTHOR_NAME = "masterplan"
AUTHOR_EMAIL = "masterplan@localhost"
DEFAULT_BRANCH = "main"
GITIGNORE_LINES = ("__pycache__/", "*.py[cod]", ".pytest_cache/")
GIT_TIMEOUT_S = 60.0

# Options given on every command line, so they win over anything in the repository's config (a user's
# repository, in a repository run): nothing runs a program the configuration names (hooks, fsmonitor, a
# credential helper, a pager), nothing signs, and the commits are masterplan's.
FORCED_OPTIONS = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "credential.helper=",
    "-c",
    "core.pager=cat",
    "-c",
    "commit.gpgSign=false",
    "-c",
    f"user.name={AUTHOR_NAME}",
    "-c",
    f"user.email={AUTHOR_EMAIL}",
    "-c",
    "core.autocrlf=false",
)


_PROGRAM_KEY = re.compile(
    r"^(?:filter\..+\.(?:clean|smudge|process)|diff\..+\.(?:textconv|command)|merge\..+\.driver|diff\.external"
    r"|core\.(?:sshcommand|askpass|editor|gitproxy)|sequence\.editor|gpg(?:\..+)?\.program|credential\..+\.helper"
    r"|url\..+\.insteadof)$",
    re.IGNORECASE,
)


def program_overrides(config_names: Iterable[str]) -> list[str]:
    """``-c NAME=`` for each configured key that names a program (a filter, a textconv, a merge driver...).

    A repository's own ``.git/config`` cannot be switched off, and a ``.gitattributes`` in its tree picks the
    filter drivers it defines, so every such key the configuration has is emptied on the command line (an
    empty command is no command), and a required filter is not required any more.
    """
    options: list[str] = []
    for name in dict.fromkeys(config_names):
        if _PROGRAM_KEY.match(name):
            options += ["-c", f"{name}="]
            if name.lower().startswith("filter."):
                options += ["-c", f"{name.rsplit('.', 1)[0]}.required=false"]
    return options


TASK_TRAILER = "Masterplan-Task"
"""The trailer naming the task a commit belongs to, so the history says which tasks have their commit."""


def task_commit_message(task_id: str, title: str) -> str:
    """``T03: title``, with the task's trailer in the body."""
    return f"{task_id}: {title}\n\n{TASK_TRAILER}: {task_id}"


def changed_paths(output: TaskOutput) -> list[str]:
    """What a task's commit holds: the files it wrote and the files it deleted."""
    return [*(file.path for file in output.files), *output.deletes]


@dataclass(frozen=True)
class TaskCommit:
    sha: str
    task_id: str


class _Lookup(enum.Enum):
    """Default of ``git``: look the executable up on PATH when the repository is created."""

    ON_PATH = "on_path"


ON_PATH = _Lookup.ON_PATH


class GitError(RuntimeError):
    """A git command failed; the message holds the command and git's stderr."""


@dataclass(frozen=True)
class _GitResult:
    exit_code: int
    stdout: str
    stderr: str


class GitRepo:
    """The git repository at ``root``. ``available`` is False when git is not installed.

    ``worktree``: ``root`` is a worktree of the user's repository (a repository run), made beforehand: it is
    never initialised, configured or given masterplan's .gitignore, whose lines would become part of the
    repository's history; its ``.git`` file is what GIT_DIR names, and git follows it.
    """

    def __init__(
        self,
        root: Path,
        *,
        git: str | _Lookup | None = ON_PATH,
        timeout_s: float = GIT_TIMEOUT_S,
        worktree: bool = False,
        base_commit: str | None = None,
    ) -> None:
        """``base_commit``: where the run's history starts (a repository run's base); the commits before it are
        the repository's, whatever trailers they carry."""
        self.root = Path(root).absolute()
        self.worktree = worktree
        self.base_commit = base_commit
        self.git = shutil.which("git") if git is ON_PATH else git
        self.available = isinstance(self.git, str)
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._overrides: list[str] | None = None
        """``program_overrides`` of the repository's configuration, read once (nothing sandboxed can write it)."""

    def _environment(self) -> dict[str, str]:
        search_path = [str(Path(self.git).parent)] if isinstance(self.git, str) else []
        return {
            "PATH": os.pathsep.join([*search_path, "/usr/bin", "/bin"]),
            "HOME": str(self.root),
            "LANG": "C",
            # Never the repository of a directory above (masterplan's own checkout, say), even before init.
            "GIT_DIR": str(self.root / ".git"),
            "GIT_WORK_TREE": str(self.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
        }

    async def _run(self, *args: str, check: bool = True) -> _GitResult:
        if not isinstance(self.git, str):
            raise GitError("git is not installed")
        if self._overrides is None and (self.root / ".git").exists():
            self._overrides = []  # the listing itself runs nothing
            listed = await self._run("config", "--name-only", "--list", check=False)
            self._overrides = program_overrides(listed.stdout.splitlines())
        process = await asyncio.create_subprocess_exec(
            self.git,
            *FORCED_OPTIONS,
            *(self._overrides or []),
            *args,
            cwd=self.root,
            env=self._environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self.timeout_s):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            raise GitError(f"git {' '.join(args)} took more than {self.timeout_s:g} s") from None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        result = _GitResult(
            process.returncode or 0, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")
        )
        if check and result.exit_code != 0:
            raise GitError(f"git {' '.join(args)} failed ({result.exit_code}): {result.stderr.strip()}")
        return result

    async def init(self) -> None:
        """Creates the repository (again harmlessly if it exists) with masterplan's identity and .gitignore."""
        if self.worktree:
            await self._run("rev-parse", "--verify", "-q", "HEAD^{commit}")  # GitError when it is not one
            return
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        await self._run("init", "-q", f"--initial-branch={DEFAULT_BRANCH}")
        await self._run("config", "user.name", AUTHOR_NAME)
        await self._run("config", "user.email", AUTHOR_EMAIL)
        await self._run("config", "commit.gpgSign", "false")
        await asyncio.to_thread(self._ensure_gitignore)

    def _ensure_gitignore(self) -> None:
        path = self.root / ".gitignore"
        if self.worktree or path.is_symlink():
            return  # generated content put it there; never write through a link
        existing = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        missing = [line for line in GITIGNORE_LINES if line not in existing.splitlines()]
        if missing:
            separator = "" if not existing or existing.endswith("\n") else "\n"
            path.write_text(existing + separator + "\n".join(missing) + "\n", encoding="utf-8")

    async def commit_all(
        self, message: str, paths: Sequence[str] | None = None, *, allow_empty: bool = False
    ) -> str | None:
        """Stages everything (or only ``paths``) and commits it; the new commit's sha, or None when nothing changed.

        With ``paths`` the commit holds those paths only, whatever else changed in the work tree: a task's
        commit never takes in files another task wrote meanwhile. ``allow_empty`` commits even when nothing
        changed (a task that rewrote its files as they were still gets its commit), with two git processes
        instead of four.
        """
        if not message.strip():
            raise ValueError("a commit message must not be blank")
        async with self._lock:
            if paths:
                paths = await self._committable(paths)
                if not paths:  # all of them committed already; nothing else is ever staged between commits
                    if not allow_empty:
                        return None
                    await self._run("commit", "-q", "--no-verify", "--allow-empty", "-m", message)
                    return await self.head()
            limit = ["--", *paths] if paths else []
            # A path named is added even where a .gitignore ignores it: the task wrote it on purpose.
            await self._run("add", "--all", *(["--force"] if paths else []), *limit)
            if allow_empty:
                await self._run("commit", "-q", "--no-verify", "--allow-empty", "-m", message, *limit)
                return await self.head()
            staged = await self._run("diff", "--cached", "--quiet", *limit, check=False)
            if staged.exit_code == 0:
                return None
            if staged.exit_code != 1:
                raise GitError(f"git diff --cached failed ({staged.exit_code}): {staged.stderr.strip()}")
            await self._run("commit", "-q", "--no-verify", "-m", message, *limit)
            return await self.head()

    async def _committable(self, paths: Sequence[str]) -> list[str]:
        """``paths`` without those that are neither on disk nor known to git: a deletion committed already (a
        task done again after a restart), which git would refuse as a pathspec matching nothing."""
        present = await asyncio.to_thread(lambda: [os.path.lexists(self.root / path) for path in paths])
        gone = [path for path, there in zip(paths, present, strict=True) if not there]
        if not gone:
            return list(paths)
        known = set((await self._run("ls-files", "-z", "--", *gone)).stdout.split("\0"))
        return [path for path in paths if path not in gone or path in known]

    async def task_commits(self, path: str | None = None) -> list[TaskCommit]:
        """The commits of HEAD's history that carry a task trailer, oldest first (none before the first commit).

        With ``path``: only those that changed it.
        """
        if await self.head() is None:
            return []
        limit = ["--", path] if path is not None else []
        revisions = f"{self.base_commit}..HEAD" if self.base_commit else "HEAD"
        log = await self._run("log", "--reverse", "--format=%x1e%H%x1f%B", revisions, *limit)
        commits: list[TaskCommit] = []
        for entry in log.stdout.split("\x1e")[1:]:
            sha, _, body = entry.partition("\x1f")
            prefix = f"{TASK_TRAILER}: "
            task_ids = [line.removeprefix(prefix).strip() for line in body.splitlines() if line.startswith(prefix)]
            commits += [TaskCommit(sha.strip(), task_id) for task_id in task_ids[-1:]]
        return commits

    async def file_before(self, sha: str, path: str) -> str | None:
        """What ``path`` held just before commit ``sha`` (None when it did not exist then)."""
        result = await self._run("show", f"{sha}^:{path}", check=False)
        return result.stdout if result.exit_code == 0 else None

    async def discard_uncommitted(self, keep: Sequence[str] = ()) -> None:
        """Puts the work tree back to HEAD: changes undone, untracked files removed (ignored ones and ``keep``
        stay). What a crash left half-written belongs to no commit and goes."""
        async with self._lock:
            if await self.head() is not None:
                await self._run("reset", "-q", "--hard", "HEAD")
            await self._run("clean", "-q", "-f", "-d", *(f"--exclude={pattern}" for pattern in keep))
        await asyncio.to_thread(self._ensure_gitignore)

    def _loose_head(self) -> str | None:
        """HEAD read from .git's files when it is a branch with a loose ref (as right after a commit); else None."""
        git_dir = self.root / ".git"
        try:
            head = (git_dir / "HEAD").read_text(encoding="ascii").strip()
            if not head.startswith("ref: refs/heads/"):
                return None
            sha = (git_dir / head.removeprefix("ref: ")).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return sha if len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha) else None

    async def head(self) -> str | None:
        """The sha of HEAD, or None before the first commit."""
        loose = await asyncio.to_thread(self._loose_head)
        if loose is not None:
            return loose
        result = await self._run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        if result.exit_code == 0:
            return result.stdout.strip()
        if "not a git repository" in result.stderr:
            raise GitError(f"{self.root} is not a git repository: {result.stderr.strip()}")
        return None
