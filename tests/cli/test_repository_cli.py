"""``masterplan run --repo``: a bad repository is a one-line error before anything is created; a dirty tree is
worked on from its last commit, and the CLI says that its uncommitted changes are not part of the run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from repository.test_checkout import user_state
from repository.test_repository_map import SAMPLE, committed, git

from .test_commands import MASTERPLAN, clean_env


def masterplan(tmp_path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with its database in tmp_path; with ``cwd``, its workspace root is the default ``./.masterplan``."""
    environment = clean_env(tmp_path)
    if cwd is not None:
        del environment["MASTERPLAN_WORKSPACE_ROOT"]
    return subprocess.run(
        [*MASTERPLAN, *args],
        env=environment,
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return committed(Path(shutil.copytree(SAMPLE, tmp_path / "inventory")))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--repo", "{tmp}/nowhere"], "no such directory: {tmp}/nowhere"),
        (["--repo", "{tmp}/plain"], "{tmp}/plain is not a git repository (or has no work tree)"),
        (["--repo", "{repo}", "--base", "v9"], "unknown ref 'v9' in {repo}"),
        (["--base", "main"], "--base names where to start in a repository: give the repository with --repo"),
    ],
)
def test_a_repository_that_cannot_be_used_is_a_one_line_error_and_nothing_is_created(
    tmp_path: Path, sample: Path, arguments: list[str], message: str
) -> None:
    (tmp_path / "plain").mkdir()
    filled = [argument.format(tmp=tmp_path, repo=sample) for argument in arguments]
    result = masterplan(tmp_path, "run", "Add a CSV export", "--sim", "--auto-answer", "--yes", *filled)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [f"masterplan: error: {message.format(tmp=tmp_path, repo=sample)}"]
    assert not (tmp_path / "masterplan.db").exists()
    assert not (tmp_path / "workspaces").exists()
    assert git(sample, "branch", "--list", "masterplan/*") == ""


def test_a_dirty_tree_is_run_from_its_commit_and_the_cli_says_so(tmp_path: Path, sample: Path) -> None:
    (sample / "inventory" / "stock.py").write_text("# the user's work in progress\n", encoding="utf-8")
    before = user_state(sample)
    result = masterplan(
        tmp_path, "run", "Add a CSV export of the stock", "--repo", ".", "--sim", "--auto-answer", "--yes",
        "--tasks", "2", cwd=sample,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"note: {sample} has uncommitted changes; they are not part of the run" in result.stdout
    assert user_state(sample) == before
    (branch,) = git(sample, "branch", "--list", "--format=%(refname:short)", "masterplan/*").split()
    assert f"branch {branch} in {sample}; review it with: git -C {sample} log --stat" in result.stdout
    assert f"report: {(sample / '.git' / 'masterplan' / 'worktrees').resolve()}" in result.stdout
    assert "class Stock" in git(sample, "show", f"{branch}:inventory/stock.py")
    # run from inside the repository: the worktree is not in the user's tree, but under its .git
    assert not (sample / ".masterplan").exists()
    worktrees = git(sample, "worktree", "list", "--porcelain")
    assert str((sample / ".git" / "masterplan" / "worktrees").resolve()) in worktrees
