from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from masterplan.executor.gitrepo import GitError, GitRepo

GIT = shutil.which("git") or "git"


def git_output(root: Path, *args: str) -> str:
    """A plain git command, as a user inspecting the workspace would run it."""
    return subprocess.run(
        [GIT, "-C", str(root), *args], check=True, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    ).stdout.strip()


def write(root: Path, relative: str, content: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


@pytest.fixture
async def repo(tmp_path: Path) -> GitRepo:
    git_repo = GitRepo(tmp_path / "ws")
    await git_repo.init()
    return git_repo


async def test_init_creates_a_repository_on_main_with_a_gitignore(repo: GitRepo) -> None:
    assert repo.available
    assert await repo.head() is None
    assert git_output(repo.root, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert (repo.root / ".gitignore").read_text().splitlines() == ["__pycache__/", "*.py[cod]", ".pytest_cache/"]
    assert git_output(repo.root, "config", "user.name") == "masterplan"


async def test_init_twice_changes_nothing(repo: GitRepo) -> None:
    await asyncio.to_thread(write, repo.root, "a.py", "A = 1\n")
    sha = await repo.commit_all("task t1")

    await repo.init()

    assert await repo.head() == sha
    assert (repo.root / ".gitignore").read_text().count("__pycache__/") == 1


async def test_init_completes_a_gitignore_the_project_already_has(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write(root, ".gitignore", "node_modules/\n__pycache__/")

    await GitRepo(root).init()

    assert (root / ".gitignore").read_text() == "node_modules/\n__pycache__/\n*.py[cod]\n.pytest_cache/\n"


async def test_each_commit_returns_its_sha_and_nothing_new_returns_none(repo: GitRepo) -> None:
    await asyncio.to_thread(write, repo.root, "app/main.py", "print('hi')\n")
    first = await repo.commit_all("t1: entry point")

    assert first is not None
    assert len(first) == 40
    assert await repo.head() == first
    assert await repo.commit_all("t1: again") is None

    await asyncio.to_thread(write, repo.root, "app/main.py", "print('hello')\n")
    second = await repo.commit_all("t2: greet\n\nlonger body")

    assert second not in (None, first)
    assert git_output(repo.root, "log", "--format=%s", "-n", "2").splitlines() == ["t2: greet", "t1: entry point"]
    assert git_output(repo.root, "log", "-1", "--format=%an <%ae>") == "masterplan <masterplan@localhost>"


async def test_caches_are_not_committed(repo: GitRepo) -> None:
    await asyncio.to_thread(write, repo.root, "a.py", "A = 1\n")
    await repo.commit_all("t1")
    await asyncio.to_thread(write, repo.root, "__pycache__/a.cpython-311.pyc", "junk")
    await asyncio.to_thread(write, repo.root, ".pytest_cache/v/cache/lastfailed", "{}")

    assert await repo.commit_all("caches only") is None


async def test_the_users_git_configuration_and_planted_hooks_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    write(home, ".gitconfig", "[user]\n\tname = Someone Else\n[commit]\n\tgpgSign = true\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    repo = GitRepo(tmp_path / "ws")
    await repo.init()
    write(repo.root, ".git/hooks/pre-commit", "#!/bin/sh\nexit 1\n")
    (repo.root / ".git" / "hooks" / "pre-commit").chmod(0o755)
    write(repo.root, "a.py", "A = 1\n")

    sha = await repo.commit_all("t1")

    assert sha is not None
    assert git_output(repo.root, "log", "-1", "--format=%an") == "masterplan"


async def test_a_workspace_inside_another_repository_never_commits_into_it(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    git_output(outer, "init", "-q")
    workspace = outer / "workspaces" / "run1"
    write(workspace, "a.py", "A = 1\n")
    repo = GitRepo(workspace)

    with pytest.raises(GitError, match="not a git repository"):
        await repo.commit_all("t1")

    assert git_output(outer, "ls-files") == ""  # nothing staged in the outer repository
    await repo.init()
    assert await repo.commit_all("t1") is not None
    assert git_output(workspace, "rev-parse", "--show-toplevel") == str(workspace.resolve())


async def test_concurrent_commits_do_not_collide(repo: GitRepo) -> None:
    await asyncio.to_thread(write, repo.root, "a.py", "A = 1\n")
    await asyncio.to_thread(write, repo.root, "b.py", "B = 1\n")

    results = await asyncio.gather(repo.commit_all("first"), repo.commit_all("second"))

    assert sorted(result is None for result in results) == [False, True]
    assert git_output(repo.root, "ls-files").splitlines() == [".gitignore", "a.py", "b.py"]


async def test_without_git_the_repository_is_unavailable(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "ws", git=None)

    assert not repo.available
    with pytest.raises(GitError, match="git is not installed"):
        await repo.init()


async def test_a_git_failure_carries_gits_message(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    repo = GitRepo(tmp_path / "ws")

    with pytest.raises(GitError, match="not a git repository"):
        await repo.head()


async def test_a_blank_commit_message_is_refused(repo: GitRepo) -> None:
    with pytest.raises(ValueError, match="blank"):
        await repo.commit_all("   ")


async def test_a_task_commit_is_made_even_when_its_files_did_not_change(repo: GitRepo) -> None:
    await asyncio.to_thread(write, repo.root, "app/a.py", "A = 1\n")
    first = await repo.commit_all("t1: write a", ["app/a.py"], allow_empty=True)
    await asyncio.to_thread(write, repo.root, "app/a.py", "A = 1\n")  # rewritten as it was

    second = await repo.commit_all("t2: rewrite a", ["app/a.py"], allow_empty=True)

    assert first is not None
    assert second not in (None, first)
    assert second == git_output(repo.root, "rev-parse", "HEAD")
    assert git_output(repo.root, "log", "--format=%s") == "t2: rewrite a\nt1: write a"
    assert git_output(repo.root, "show", "--name-only", "--format=", "HEAD") == ""


async def test_head_is_read_from_a_packed_ref_too(repo: GitRepo) -> None:
    await asyncio.to_thread(write, repo.root, "a.py", "A = 1\n")
    sha = await repo.commit_all("t1")
    git_output(repo.root, "pack-refs", "--all", "--prune")  # no loose ref file left

    assert not (repo.root / ".git" / "refs" / "heads" / "main").exists()
    assert await repo.head() == sha


async def test_a_deletion_committed_already_commits_again_as_an_empty_commit(repo: GitRepo) -> None:
    """A task done again after a restart names the file it deleted, which git no longer knows."""
    write(repo.root, "old.py", "X = 1\n")
    await repo.commit_all("T01: old", ["old.py"])
    (repo.root / "old.py").unlink()
    write(repo.root, "new.py", "Y = 2\n")
    first = await repo.commit_all("T02: replace", ["new.py", "old.py"])
    assert first is not None
    again = await repo.commit_all("T02: replace", ["new.py", "old.py"], allow_empty=True)
    assert again not in (None, first)
    assert git_output(repo.root, "ls-files").splitlines() == ["new.py"]
    assert await repo.commit_all("T02: replace", ["old.py"]) is None


async def test_a_file_a_task_names_is_committed_even_where_a_gitignore_ignores_it(repo: GitRepo) -> None:
    write(repo.root, ".gitignore", "*.csv\n")
    await repo.commit_all("ignore csv", [".gitignore"])
    write(repo.root, "fixtures/stock.csv", "a,b\n")
    write(repo.root, "other.csv", "not named\n")
    assert await repo.commit_all("T01: fixture", ["fixtures/stock.csv"]) is not None
    assert "fixtures/stock.csv" in git_output(repo.root, "ls-files")
    assert "other.csv" not in git_output(repo.root, "ls-files")
