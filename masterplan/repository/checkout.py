"""An existing repository as a run's input: checked before anything is created, then worked on in a worktree.

``inspect_repository`` refuses, with one line naming the problem, a path that is missing, not a directory,
outside the allowed roots, not a git work tree, or a base ref git does not know; it also says whether the
user's tree has uncommitted changes (they are not part of the run). ``open_worktree`` gives the run a git
worktree of its own on a new branch ``masterplan/<run-id>`` made from the base commit, outside the user's
work tree: the user's working tree, index, stash and other branches are never touched. Opening it again
(a resume) finds the same worktree, or rebuilds it on the same branch when it is gone.

git runs as ``repository.git`` runs it: no hooks, no fsmonitor, no signing, masterplan's identity.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from masterplan.repository.git import GitUnavailable, first_error_line, run_git

BRANCH_PREFIX = "masterplan/"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class RepositoryRefused(ValueError):
    """The repository cannot be a run's input; the message names the problem in one line.

    ``field`` is the input at fault: ``path`` or ``base``.
    """

    def __init__(self, message: str, *, field: str = "path") -> None:
        super().__init__(message)
        self.field = field


class RepositoryForbidden(RepositoryRefused):
    """The path lies outside the roots a caller over HTTP may name (``MASTERPLAN_REPOSITORY_ROOTS``)."""


@dataclass(frozen=True)
class RepositorySource:
    path: Path
    """The work tree's top level, resolved."""
    base: str
    """The ref as the user gave it (``HEAD`` by default)."""
    base_commit: str
    dirty: bool
    """The user's tree has uncommitted changes or untracked files; the run starts from ``base_commit``."""
    common_dir: Path | None = None
    """The repository's git directory (shared by its worktrees)."""


@dataclass(frozen=True)
class Worktree:
    path: Path
    branch: str
    base_commit: str
    source: Path


def inspect_repository(path: str | Path, base: str | None, *, allowed_roots: Sequence[Path] | None) -> RepositorySource:
    """``allowed_roots`` None: any path (the CLI, on the user's own machine); a sequence: the path must lie
    under one of them (HTTP), and an empty one allows nothing."""
    given = Path(path).expanduser() if allowed_roots is None else Path(path)
    try:
        resolved = given.resolve()
        # Over HTTP the roots come first: a path outside them is refused before the disk is looked at, so the
        # answers say nothing about what exists elsewhere on the server.
        if allowed_roots is not None:
            _require_under(resolved, allowed_roots)
        if not resolved.exists():
            raise RepositoryRefused(f"no such directory: {_shown(given)}")
        if not resolved.is_dir():
            raise RepositoryRefused(f"not a directory: {_shown(given)}")
    except (OSError, RuntimeError) as error:  # a name too long, a symlink loop
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise RepositoryRefused(f"cannot use {_shown(given)}: {reason}") from None
    inside = _git(resolved, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise RepositoryRefused(f"{resolved} is not a git repository (or has no work tree)")
    top = Path(_git(resolved, "rev-parse", "--show-toplevel").stdout.strip())
    if allowed_roots is not None:  # a directory under a root, of a repository that is not
        _require_under(top, allowed_roots)
    ref = base or "HEAD"
    if ref.startswith("-") or "\0" in ref:
        raise RepositoryRefused(f"{ref!r} is not a ref", field="base")
    commit = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if commit.returncode != 0:
        hint = " (the repository has no commit yet)" if ref == "HEAD" else ""
        raise RepositoryRefused(f"unknown ref {ref!r} in {top}{hint}", field="base")
    status = _git(top, "status", "--porcelain", "--untracked-files=normal")
    common = Path(_git(top, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())
    return RepositorySource(
        path=top, base=ref, base_commit=commit.stdout.strip(), dirty=bool(status.stdout.strip()), common_dir=common
    )


def worktree_path(source: RepositorySource, run_id: str, workspace_root: Path) -> Path:
    """Where the run's worktree goes: ``workspace_root/run_id``, unless that lies in the user's work tree (the
    default workspace root ``./.masterplan`` of a CLI started in the repository), where it would show in the
    user's ``git status``; then under the repository's git directory, which no status lists."""
    path = (workspace_root / run_id).resolve()
    if not path.is_relative_to(source.path):
        return path
    if source.common_dir is None:
        raise RepositoryRefused(f"the worktree {path} would lie inside the repository {source.path}")
    return source.common_dir / "masterplan" / "worktrees" / run_id


def _require_under(resolved: Path, allowed_roots: Sequence[Path]) -> None:
    roots = [Path(root).resolve() for root in allowed_roots]
    if not roots:
        raise RepositoryForbidden(
            "no repository is allowed over HTTP: set MASTERPLAN_REPOSITORY_ROOTS to the directories that hold them"
        )
    if not any(resolved.is_relative_to(root) for root in roots):
        raise RepositoryForbidden(
            f"{_shown(resolved)} is not under an allowed repository root (MASTERPLAN_REPOSITORY_ROOTS)"
        )


def _shown(path: Path, limit: int = 200) -> str:
    """A path as an error message shows it: on one line, and clipped (a hostile one may be megabytes long)."""
    text = repr(str(path))[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def branch_name(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise ValueError(f"{run_id!r} is not a run id")
    return BRANCH_PREFIX + run_id


def open_worktree(source: RepositorySource, run_id: str, path: Path) -> Worktree:
    """The run's worktree at ``path`` on ``masterplan/<run_id>``: made, found, or rebuilt."""
    branch = branch_name(run_id)
    path = path.resolve()
    inside_git_dir = source.common_dir is not None and path.is_relative_to(source.common_dir)
    if path.is_relative_to(source.path) and not inside_git_dir:
        raise RepositoryRefused(f"the worktree {path} would lie inside the repository {source.path}")
    if (path / ".git").is_file() and _git(
        path, "rev-parse", "--abbrev-ref", "HEAD", check=False
    ).stdout.strip() == branch:
        return Worktree(path, branch, source.base_commit, source.path)
    _git(source.path, "worktree", "prune")
    if path.exists():
        shutil.rmtree(path)  # a half-made worktree of a crash: git would refuse to add over it
    path.parent.mkdir(parents=True, exist_ok=True)
    has_branch = _git(source.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    if has_branch.returncode == 0:  # resumed: the branch keeps the commits of the tasks already done
        _git(source.path, "worktree", "add", "--quiet", str(path), branch)
    else:
        _git(source.path, "worktree", "add", "--quiet", "-b", branch, str(path), source.base_commit)
    return Worktree(path, branch, source.base_commit, source.path)


def branch_commits(worktree: Worktree) -> list[str]:
    """``<short sha> <subject>`` of each commit on the branch since the base, oldest first."""
    log = _git(worktree.path, "log", "--reverse", "--format=%h %s", f"{worktree.base_commit}..HEAD")
    return [line for line in log.stdout.splitlines() if line.strip()]


def diff_stat(worktree: Worktree) -> str:
    return _git(worktree.path, "diff", "--stat", f"{worktree.base_commit}..HEAD").stdout.rstrip()


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = run_git(cwd, *args)
    except (OSError, GitUnavailable) as error:
        raise RepositoryRefused(f"git could not run in {cwd}: {error}") from None
    if check and done.returncode != 0:
        raise RepositoryRefused(f"git {args[0]} failed in {cwd}: {first_error_line(done)}")
    return done
