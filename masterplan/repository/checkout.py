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

import os
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


def inspect_repository(
    path: str | Path, base: str | None, *, allowed_roots: Sequence[Path] | None, look_for_changes: bool = True
) -> RepositorySource:
    """``allowed_roots`` None: any path (the CLI, on the user's own machine); a sequence: the path must lie
    under one of them (HTTP), and an empty one allows nothing. ``look_for_changes`` False leaves ``dirty``
    False without running ``git status`` (a run's later steps, which need only the commit)."""
    given = Path(path).expanduser() if allowed_roots is None else Path(path)
    if allowed_roots is not None:
        _require_allowed(given, allowed_roots)
    try:
        resolved = given.resolve()
        if allowed_roots is not None and not _under(resolved, allowed_roots):
            raise RepositoryForbidden(f"{_shown(given)} leads outside the allowed repository roots (a symbolic link)")
        if not resolved.exists():
            raise RepositoryRefused(f"no such directory: {_shown(given)}")
        if not resolved.is_dir():
            raise RepositoryRefused(f"not a directory: {_shown(given)}")
    except (OSError, RuntimeError) as error:  # a name too long, a symlink loop
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise RepositoryRefused(f"cannot use {_shown(given)}: {reason}") from None
    inside = _git(resolved, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise RepositoryRefused(f"{_shown(given)} is not a git repository (or has no work tree)")
    top = Path(_git(resolved, "rev-parse", "--show-toplevel").stdout.strip())
    common = Path(_git(top, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())
    git_dir = Path(_git(top, "rev-parse", "--absolute-git-dir").stdout.strip())
    if allowed_roots is not None and not all(_under(place, allowed_roots) for place in (top, common, git_dir)):
        # a root inside a larger repository, or a .git file pointing at a repository elsewhere
        raise RepositoryForbidden(f"{_shown(given)} belongs to a repository outside the allowed repository roots")
    ref = base or "HEAD"
    if ref.startswith("-") or "\0" in ref:
        raise RepositoryRefused(f"{ref!r} is not a ref", field="base")
    commit = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if commit.returncode != 0:
        hint = " (the repository has no commit yet)" if ref == "HEAD" else ""
        raise RepositoryRefused(f"unknown ref {ref!r} in {top}{hint}", field="base")
    dirty = look_for_changes and bool(_git(top, "status", "--porcelain", "--untracked-files=normal").stdout.strip())
    return RepositorySource(path=top, base=ref, base_commit=commit.stdout.strip(), dirty=dirty, common_dir=common)


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


def _require_allowed(given: Path, allowed_roots: Sequence[Path]) -> None:
    """Before the disk is looked at: an absolute path that lies, as written, under one of the roots."""
    if not allowed_roots:
        raise RepositoryForbidden(
            "no repository is allowed over HTTP: set MASTERPLAN_REPOSITORY_ROOTS to the directories that hold them"
        )
    if not given.is_absolute():
        raise RepositoryRefused(f"{_shown(given)} is not an absolute path")
    if not _under(Path(os.path.normpath(given)), allowed_roots, resolve=False):
        raise RepositoryForbidden(
            f"{_shown(given)} is not under an allowed repository root (MASTERPLAN_REPOSITORY_ROOTS)"
        )


def _under(path: Path, roots: Sequence[Path], *, resolve: bool = True) -> bool:
    """``resolve``: the roots as the disk has them (links followed), else as configured."""
    return any(path.is_relative_to(Path(root).resolve() if resolve else Path(os.path.normpath(root))) for root in roots)


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
    if (path / ".git").is_file():
        head = _git(path, "rev-parse", "--abbrev-ref", "HEAD", check=False)
        if head.returncode == 0 and head.stdout.strip() == branch:
            return Worktree(path, branch, source.base_commit, source.path)
        if head.returncode == 0:  # someone's work, maybe: never deleted
            raise RepositoryRefused(
                f"the run's worktree {path} is on {head.stdout.strip()!r}, not {branch}: check {branch} out there "
                "again, or remove the worktree (git worktree remove), to let the run go on"
            )
    if path.exists():
        shutil.rmtree(path)  # a half-made worktree of a crash: git would refuse to add over it
    path.parent.mkdir(parents=True, exist_ok=True)
    has_branch = _git(source.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    # --force: the path may still be registered from a worktree that is gone; only this one is replaced (a
    # prune would forget the user's worktrees on a disk not mounted now).
    if has_branch.returncode == 0:  # resumed: the branch keeps the commits of the tasks already done
        _git(source.path, "worktree", "add", "--force", "--quiet", str(path), branch)
    else:
        _git(source.path, "worktree", "add", "--force", "--quiet", "-b", branch, str(path), source.base_commit)
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
