"""A repository as a run's input: refused with the problem named, or worked on in a worktree of its own
while the user's branch, index, working tree and stash stay byte for byte as they were."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from masterplan.repository.checkout import (
    RepositoryRefused,
    branch_commits,
    diff_stat,
    inspect_repository,
    open_worktree,
    worktree_path,
)

from .test_repository_map import SAMPLE, committed, git


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return committed(Path(shutil.copytree(SAMPLE, tmp_path / "repos" / "inventory")))


def user_state(root: Path) -> tuple[str, str, str, str, str, str]:
    """Everything of the user's that a run must leave alone."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if ".git" not in p.relative_to(root).parts):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return (
        git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"),
        git(root, "rev-parse", "HEAD"),
        git(root, "symbolic-ref", "HEAD"),
        git(root, "stash", "list"),
        (root / ".git" / "index").read_bytes().hex(),
        digest.hexdigest(),
    )


def test_a_run_works_on_its_own_branch_and_leaves_the_users_tree_alone(repository: Path, tmp_path: Path) -> None:
    (repository / "README.md").write_text("uncommitted edit\n", encoding="utf-8")
    (repository / "scratch.txt").write_text("untracked\n", encoding="utf-8")
    git(repository, "stash", "push", "-q", "--include-untracked", "-m", "mine")
    (repository / "inventory" / "items.py").write_text("# half-done work\n", encoding="utf-8")
    git(repository, "add", "inventory/items.py")
    before = user_state(repository)

    source = inspect_repository(repository, None, allowed_roots=None)
    assert source.dirty
    assert source.base == "HEAD"
    worktree = open_worktree(source, "run1", tmp_path / "worktrees" / "run1")
    assert worktree.branch == "masterplan/run1"
    # The run starts from the base commit: the staged change is not part of it.
    assert "def parse_item" in (worktree.path / "inventory" / "items.py").read_text(encoding="utf-8")
    (worktree.path / "inventory" / "report.py").write_text("def report() -> str:\n    return ''\n", encoding="utf-8")
    git(worktree.path, "add", "-A")
    git(worktree.path, "commit", "-q", "-m", "T01: a report")

    assert user_state(repository) == before
    assert [line.split(" ", 1)[1] for line in branch_commits(worktree)] == ["T01: a report"]
    assert "inventory/report.py | 2 ++" in diff_stat(worktree)
    assert git(repository, "rev-parse", "masterplan/run1") == git(worktree.path, "rev-parse", "HEAD")


def test_opening_again_finds_the_worktree_or_rebuilds_it_on_the_same_branch(repository: Path, tmp_path: Path) -> None:
    source = inspect_repository(repository, "main", allowed_roots=None)
    first = open_worktree(source, "run2", tmp_path / "worktrees" / "run2")
    (first.path / "new.py").write_text("X = 1\n", encoding="utf-8")
    git(first.path, "add", "-A")
    git(first.path, "commit", "-q", "-m", "T01: new")
    assert open_worktree(source, "run2", tmp_path / "worktrees" / "run2") == first

    shutil.rmtree(first.path)  # the worktree is gone (another machine, a cleaned disk)
    again = open_worktree(source, "run2", tmp_path / "worktrees" / "run2")
    assert again.path == first.path
    assert (again.path / "new.py").read_text(encoding="utf-8") == "X = 1\n"
    assert len(branch_commits(again)) == 1


def test_a_worktree_inside_the_repository_is_refused(repository: Path) -> None:
    source = inspect_repository(repository, None, allowed_roots=None)
    with pytest.raises(RepositoryRefused, match="inside the repository"):
        open_worktree(source, "run3", repository / "worktrees" / "run3")


def test_a_workspace_root_inside_the_repository_puts_the_worktree_in_its_git_directory(repository: Path) -> None:
    """``masterplan run --repo .`` from the repository: the default workspace root lies in the user's tree."""
    source = inspect_repository(repository, None, allowed_roots=None)
    before = user_state(repository)
    path = worktree_path(source, "run4", repository / ".masterplan" / "workspaces")
    assert path == (repository / ".git" / "masterplan" / "worktrees" / "run4").resolve()
    worktree = open_worktree(source, "run4", path)
    (worktree.path / "extra.py").write_text("Y = 2\n", encoding="utf-8")
    git(worktree.path, "add", "-A")
    git(worktree.path, "commit", "-q", "-m", "T01: extra")
    assert user_state(repository) == before
    assert worktree_path(source, "run5", repository.parent / "elsewhere") == (repository.parent / "elsewhere" / "run5")


@pytest.mark.parametrize(
    ("where", "base", "roots", "message"),
    [
        ("missing", None, None, "no such directory"),
        ("file", None, None, "not a directory"),
        ("plain", None, None, "is not a git repository"),
        ("repo", "no-such-branch", None, "unknown ref 'no-such-branch'"),
        ("repo", "--output=/tmp/x", None, "is not a ref"),
        ("repo", None, [], "no repository is allowed over HTTP"),
        ("repo", None, ["elsewhere"], "is not under an allowed repository root"),
        ("empty", None, None, "has no commit yet"),
    ],
)
def test_bad_input_is_refused_with_the_problem_named(
    repository: Path, tmp_path: Path, *, where: str, base: str | None, roots: list[str] | None, message: str
) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "empty").mkdir()
    git(tmp_path / "empty", "init", "-q")
    paths = {"missing": tmp_path / "nope", "file": tmp_path / "file", "plain": tmp_path / "plain"}
    path = {**paths, "empty": tmp_path / "empty", "repo": repository}[where]
    allowed = None if roots is None else [tmp_path / root for root in roots]
    with pytest.raises(RepositoryRefused, match=message):
        inspect_repository(path, base, allowed_roots=allowed)


def test_a_path_under_an_allowed_root_is_accepted_and_a_link_out_of_it_is_not(repository: Path, tmp_path: Path) -> None:
    assert inspect_repository(repository, None, allowed_roots=[tmp_path / "repos"]).path == repository.resolve()
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "sneaky").symlink_to(repository)
    with pytest.raises(RepositoryRefused, match="leads outside the allowed repository roots"):
        inspect_repository(allowed / "sneaky", None, allowed_roots=[allowed])


def test_looking_at_the_repository_leaves_its_index_alone(repository: Path) -> None:
    """A status on an index whose stat data is stale would rewrite it: masterplan's never does."""
    items = repository / "inventory" / "items.py"
    items.write_bytes(items.read_bytes())  # same content, new mtime: the index's stat data is stale
    index = (repository / ".git" / "index").read_bytes()
    inspect_repository(repository, None, allowed_roots=None)
    assert (repository / ".git" / "index").read_bytes() == index


def test_the_repositorys_filter_drivers_never_run(repository: Path, tmp_path: Path) -> None:
    """A filter driver in .git/config, chosen by the tree's .gitattributes, is a program: it is never run."""
    marker = tmp_path / "filtered"
    for kind in ("clean", "smudge", "process"):
        git(repository, "config", f"filter.x.{kind}", f"sh -c 'touch {marker}-{kind}; cat'")
    git(repository, "config", "filter.x.required", "true")
    (repository / ".gitattributes").write_text("* filter=x\n", encoding="utf-8")
    off = [
        "-c",
        "filter.x.clean=",
        "-c",
        "filter.x.smudge=",
        "-c",
        "filter.x.process=",
        "-c",
        "filter.x.required=false",
    ]
    git(repository, *off, "add", "-A")
    git(repository, *off, "commit", "-q", "-m", "attributes")
    (repository / "inventory" / "items.py").write_text("# changed\n", encoding="utf-8")
    source = inspect_repository(repository, None, allowed_roots=None)
    assert source.dirty
    worktree = open_worktree(source, "run6", tmp_path / "worktrees" / "run6")
    assert (worktree.path / "inventory" / "stock.py").is_file()
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("filtered")) == []


def test_opening_a_worktree_keeps_the_users_other_worktrees(repository: Path, tmp_path: Path) -> None:
    """No prune: a worktree of the user's on a disk not mounted now stays registered."""
    elsewhere = tmp_path / "usb" / "feature"
    git(repository, "worktree", "add", "-q", "-b", "feature", str(elsewhere))
    shutil.rmtree(elsewhere.parent)  # the disk is unplugged
    source = inspect_repository(repository, None, allowed_roots=None)
    gone = open_worktree(source, "run7", tmp_path / "worktrees" / "run7")
    shutil.rmtree(gone.path)
    open_worktree(source, "run7", tmp_path / "worktrees" / "run7")  # rebuilt over its own registration
    assert str(elsewhere) in git(repository, "worktree", "list", "--porcelain")


def test_a_worktree_someone_moved_to_another_branch_is_refused_not_deleted(repository: Path, tmp_path: Path) -> None:
    source = inspect_repository(repository, None, allowed_roots=None)
    worktree = open_worktree(source, "run8", tmp_path / "worktrees" / "run8")
    git(worktree.path, "switch", "-q", "-c", "mine")
    (worktree.path / "work.txt").write_text("someone's\n", encoding="utf-8")
    with pytest.raises(RepositoryRefused, match="is on 'mine', not masterplan/run8"):
        open_worktree(source, "run8", worktree.path)
    assert (worktree.path / "work.txt").read_text(encoding="utf-8") == "someone's\n"
