"""The three-way merge of a task's files (real ``git merge-file``) and the views its checks run in."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masterplan.config import Settings
from masterplan.executor.checks import run_checks
from masterplan.executor.merging import merge_changes
from masterplan.executor.sandbox import Sandbox, SandboxPolicy
from masterplan.executor.views import WorkspaceViews
from masterplan.executor.workspace import Workspace
from masterplan.models import GeneratedFile

GIT = shutil.which("git")
BASE = "one\ntwo\nthree\nfour\nfive\n"


def file(content: str, path: str = "notes.txt") -> GeneratedFile:
    return GeneratedFile(path=path, content=content)


async def test_changes_to_different_lines_merge() -> None:
    ours = BASE.replace("five", "FIVE")
    merge = await merge_changes({"notes.txt": BASE}, {"notes.txt": BASE.replace("one", "ONE")}, [file(ours)], git=GIT)
    assert merge.conflicts == []
    assert merge.merged == ["notes.txt"]
    assert merge.files == [file("ONE\ntwo\nthree\nfour\nFIVE\n")]


async def test_an_unchanged_or_identically_changed_file_is_written_as_it_is() -> None:
    ours = file(BASE + "six\n")
    unchanged = await merge_changes({"notes.txt": BASE}, {"notes.txt": BASE}, [ours], git=GIT)
    same = await merge_changes({"notes.txt": None}, {"notes.txt": ours.content}, [ours], git=GIT)
    assert unchanged.files == same.files == [ours]
    assert unchanged.merged == same.merged == []


@pytest.mark.parametrize(
    ("base", "current"),
    [
        (BASE, BASE.replace("three", "3")),  # the same line changed two ways
        (None, "theirs\n"),  # both created the file
        (BASE, None),  # the other task removed it
    ],
    ids=["same-lines", "both-created", "removed"],
)
async def test_overlapping_changes_are_conflicts(base: str | None, current: str | None) -> None:
    ours = file(BASE.replace("three", "THREE"))
    merge = await merge_changes({"notes.txt": base}, {"notes.txt": current}, [ours], git=GIT)
    assert merge.conflicts == ["notes.txt"]
    assert merge.merged == []


async def test_without_git_any_change_by_another_task_is_a_conflict() -> None:
    ours = file(BASE.replace("five", "FIVE"))
    merge = await merge_changes({"notes.txt": BASE}, {"notes.txt": BASE.replace("one", "ONE")}, [ours], git=None)
    assert merge.conflicts == ["notes.txt"]


async def test_a_view_holds_the_project_without_git_or_documents_and_what_a_check_does_there_is_thrown_away(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    workspace = Workspace(tmp_path / "ws" / "run-1")
    workspace.write([file("print('hi')\n", "app.py")])
    for internal in (".git/HEAD", ".masterplan/PLAN.md"):
        (workspace.root / internal).parent.mkdir()
        (workspace.root / internal).write_text("masterplan's own\n")
    views = WorkspaceViews(workspace)

    view = await views.open("T01/../x")
    assert view.root.parent == tmp_path / "ws" / ".views" / "run-1"
    assert view.read(["app.py"]) == {"app.py": "print('hi')\n"}
    assert sorted(path.name for path in view.root.iterdir()) == ["app.py"]
    (result,) = await run_checks(
        ["python -c \"open('app.py', 'w').write('broken(')\""], view.root, timeout_s=30, sandbox=sandbox
    )
    assert result.passed, result.output
    await views.close(view)

    assert workspace.read(["app.py"]) == {"app.py": "print('hi')\n"}
    assert not view.root.exists()
    await views.clear()
    assert not (tmp_path / "ws" / ".views").exists()


_LINE = st.text(alphabet="abcxyz =()", min_size=1, max_size=12)


@st.composite
def two_separate_edits(draw: st.DrawFn) -> tuple[list[str], list[str], list[str], list[str]]:
    """A file and two edits of different regions with at least one unchanged line between them.

    The lines are all different, as lines of code mostly are: with repeated lines a line diff may align
    them either way, and a conflict (never a silent loss) is then a fair answer too.
    """
    lines = draw(st.lists(_LINE, min_size=5, max_size=40, unique=True))
    size = draw(st.integers(3, len(lines) - 2))
    base, fresh = lines[:size], lines[size:]
    cut = draw(st.integers(1, len(base) - 2))
    split = draw(st.integers(1, len(fresh) - 1))
    first, second = fresh[:split], fresh[split:]
    current = [*first, *base[cut:]]  # the first region (lines before ``cut``) replaced
    theirs = [*base[: cut + 1], *second]  # everything after line ``cut`` replaced
    return base, current, theirs, [*first, base[cut], *second]


@given(two_separate_edits())
@settings(deadline=None)
async def test_edits_of_separate_regions_always_merge_to_both(edits: tuple[list[str], ...]) -> None:
    base, current, theirs, both = ("".join(f"{line}\n" for line in lines) for lines in edits)
    merge = await merge_changes({"f.py": base}, {"f.py": current}, [file(theirs, "f.py")], git=GIT)
    if current in (base, theirs):
        assert merge.files == [file(theirs, "f.py")]
    else:
        assert merge.conflicts == []
        assert merge.files == [file(both, "f.py")]


@given(st.lists(_LINE, min_size=1, max_size=8), st.lists(_LINE, min_size=1, max_size=8), st.data())
@settings(deadline=None)
async def test_a_merge_never_drops_the_other_change_silently(
    base_lines: list[str], edit: list[str], data: st.DataObject
) -> None:
    """Whatever two tasks wrote over the same base: it merges with the other's change in it, or conflicts."""
    base = "".join(f"{line}\n" for line in base_lines)
    others = data.draw(_edited(base_lines), label="other task")
    ours = data.draw(_edited(base_lines), label="this task")
    current, theirs = ("".join(f"{line}\n" for line in lines) for lines in (others, ours))
    merge = await merge_changes({"f.py": base}, {"f.py": current}, [file(theirs, "f.py")], git=GIT)
    if merge.conflicts:
        assert merge.files == []
        return
    (merged,) = merge.files
    if current != base:
        # every line the other task added is in what lands
        added = [line for line in others if line not in base_lines]
        assert all(line in merged.content.splitlines() for line in added)


def _edited(lines: list[str]) -> st.SearchStrategy[list[str]]:
    """``lines`` with one slice replaced by new lines (possibly none), or left alone."""

    @st.composite
    def edit(draw: st.DrawFn) -> list[str]:
        start = draw(st.integers(0, len(lines)))
        end = draw(st.integers(start, len(lines)))
        new = draw(st.lists(_LINE, max_size=3))
        return [*lines[:start], *new, *lines[end:]]

    return edit()


async def test_a_check_in_a_view_sees_neither_the_workspace_nor_another_view(tmp_path: Path) -> None:
    """The policy masterplan runs with hides the workspace root; only the view being checked is bound back."""
    settings = Settings(workspace_root=tmp_path / "ws", database_url=f"sqlite://{tmp_path / 'db' / 'm.db'}")
    sandbox = Sandbox(dataclasses.replace(SandboxPolicy.from_settings(settings), mode="required"))
    workspace = Workspace(tmp_path / "ws" / "run-1")
    workspace.write([file("print('hi')\n", "app.py")])
    views = WorkspaceViews(workspace)
    mine, other = await views.open("T01"), await views.open("T02")
    other.write([file("other's\n", "secret.txt")])
    workspace.write([file("the run's\n", "secret.txt")])
    probe = (
        "import pathlib, sys; "
        f"paths = [{str(workspace.root / 'secret.txt')!r}, {str(other.root / 'secret.txt')!r}, '../T02-2/secret.txt']; "
        "seen = [p for p in paths if pathlib.Path(p).exists()]; "
        "print('seen', seen); sys.exit(1 if seen else 0)"
    )
    (result,) = await run_checks([f'python -c "{probe}"'], mine.root, timeout_s=30, sandbox=sandbox)
    assert result.passed, result.output


async def test_views_skip_special_files_and_are_removed_whatever_a_check_did_to_them(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    workspace = Workspace(tmp_path / "ws" / "run-1")
    workspace.write([file("x = 1\n", "src/.masterplan/notes.py")])
    os.mkfifo(workspace.root / "left-by-a-check")
    views = WorkspaceViews(workspace)

    view = await views.open("T01")
    assert view.read(["src/.masterplan/notes.py"]) == {"src/.masterplan/notes.py": "x = 1\n"}
    assert not (view.root / "left-by-a-check").exists()
    lock_up = "import os; os.makedirs('locked/inner'); os.chmod('locked/inner', 0); os.chmod('locked', 0o500)"
    (result,) = await run_checks([f'python -c "{lock_up}"'], view.root, timeout_s=30, sandbox=sandbox)
    assert result.passed, result.output
    await views.close(view)
    assert not view.root.exists()
