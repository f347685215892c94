"""The git history as recovery reads it: which commits belong to which task, and a work tree put back to HEAD."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from masterplan.executor.gitrepo import GitRepo, task_commit_message

GIT = shutil.which("git") or "git"


def git_output(root: Path, *args: str) -> str:
    return subprocess.run(
        [GIT, "-C", str(root), *args], check=True, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    ).stdout.strip()


def write(root: Path, relative: str, content: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


async def test_task_commits_are_read_back_from_their_trailers_oldest_first(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "ws")
    await repo.init()
    assert await repo.task_commits() == []
    write(repo.root, "a.py", "a = 1\n")
    first = await repo.commit_all(task_commit_message("T01", "First: with a colon"), ["a.py"])
    write(repo.root, "notes.md", "not a task\n")
    await repo.commit_all("masterplan: discovery, plan and report", ["notes.md"])
    write(repo.root, "b.py", "b = 2\n")
    second = await repo.commit_all(task_commit_message("T02", "Second"), ["b.py"])

    commits = await repo.task_commits()
    assert [(commit.task_id, commit.sha) for commit in commits] == [("T01", first), ("T02", second)]
    assert git_output(repo.root, "log", "-1", "--format=%s") == "T02: Second"
    assert git_output(repo.root, "log", "-1", "--format=%(trailers:key=Masterplan-Task,valueonly)") == "T02"


async def test_discard_uncommitted_puts_the_work_tree_back_to_head(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "ws")
    await repo.init()
    write(repo.root, "a.py", "a = 1\n")
    await repo.commit_all(task_commit_message("T01", "First"), ["a.py"])
    write(repo.root, "a.py", "a = 'half written'\n")
    write(repo.root, "pkg/b.py", "b = 2\n")
    write(repo.root, "__pycache__/a.cpython-311.pyc", "ignored\n")
    write(repo.root, ".masterplan/state", "kept\n")

    await repo.discard_uncommitted(keep=[".masterplan/"])

    assert (repo.root / "a.py").read_text() == "a = 1\n"
    assert not (repo.root / "pkg").exists()
    assert (repo.root / "__pycache__/a.cpython-311.pyc").exists()
    assert (repo.root / ".masterplan/state").read_text() == "kept\n"
    assert (repo.root / ".gitignore").exists()
    assert git_output(repo.root, "status", "--porcelain", "--untracked-files=no") == ""


async def test_discard_uncommitted_before_the_first_commit_removes_untracked_files(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "ws")
    await repo.init()
    write(repo.root, "left.py", "x = 1\n")
    await repo.discard_uncommitted()
    assert not (repo.root / "left.py").exists()
    assert (repo.root / ".gitignore").exists()
    assert await repo.head() is None
