"""A task answer's edits and deletes, resolved against a real workspace: edited files become whole files, and
every problem (a search that misses or matches twice, an edit of a missing file, contradictions) is reported
at once, so one re-ask can fix them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from masterplan.executor.task_changes import resolve_changes
from masterplan.executor.workspace import Workspace
from masterplan.models import FileEdit, GeneratedFile, TaskOutput

STOCK = "def level(item):\n    return 1\n\n\ndef reorder(item):\n    return 2\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / "ws", durable=False)
    workspace.ensure()
    workspace.write(
        [GeneratedFile(path="pkg/stock.py", content=STOCK), GeneratedFile(path="old.py", content="X = 1\n")]
    )
    return workspace


def test_edits_become_whole_files_and_deletes_are_kept(workspace: Workspace) -> None:
    output = TaskOutput(
        files=[GeneratedFile(path="tests/test_new.py", content="def test_x():\n    pass\n")],
        edits=[
            FileEdit(path="./pkg//stock.py", search="    return 2\n", replace="    return 3\n"),
            FileEdit(path="pkg/stock.py", search="def level(item):", replace="def level(item: str):"),
        ],
        deletes=["old.py"],
    )
    resolved = resolve_changes(output, workspace)
    assert resolved.feedback is None
    assert resolved.output is not None
    assert resolved.edited == ["pkg/stock.py"]
    assert resolved.output.edits == []
    assert resolved.output.deletes == ["old.py"]
    contents = {file.path: file.content for file in resolved.output.files}
    assert contents["pkg/stock.py"] == STOCK.replace("return 2", "return 3").replace("(item):", "(item: str):", 1)
    assert set(contents) == {"tests/test_new.py", "pkg/stock.py"}
    assert workspace.read(["pkg/stock.py"])["pkg/stock.py"] == STOCK  # nothing is written here


def test_an_answer_without_edits_or_deletes_is_left_as_it_is(workspace: Workspace) -> None:
    output = TaskOutput(files=[GeneratedFile(path="a.py", content="A = 1\n")])
    assert resolve_changes(output, workspace).output is output


def test_every_problem_is_reported_at_once_with_the_nearest_lines(workspace: Workspace) -> None:
    output = TaskOutput(
        files=[GeneratedFile(path="old.py", content="X = 2\n")],
        edits=[
            FileEdit(path="pkg/stock.py", search="def levle(item):", replace="def level(thing):"),
            FileEdit(path="missing.py", search="x", replace="y"),
            FileEdit(path="../escape.py", search="x", replace="y"),
        ],
        deletes=["old.py", "nowhere.py"],
    )
    resolved = resolve_changes(output, workspace)
    assert resolved.output is None
    assert [(m.path, m.index, m.cause) for m in resolved.mismatches] == [("pkg/stock.py", 1, "absent")]
    feedback = resolved.feedback or ""
    assert "edit 1 of pkg/stock.py: the search text is not in the file" in feedback
    assert "    1| def level(item):" in feedback
    assert "missing.py: edits need an existing text file" in feedback
    assert "../escape.py: path leaves the workspace" in feedback
    assert "old.py: the file is both deleted and written" in feedback
    assert "nowhere.py: there is no such file to delete" in feedback


def test_a_search_text_found_twice_is_ambiguous(workspace: Workspace) -> None:
    output = TaskOutput(edits=[FileEdit(path="pkg/stock.py", search="    return", replace="    yield")])
    resolved = resolve_changes(output, workspace)
    assert [m.cause for m in resolved.mismatches] == ["ambiguous"]
    assert "2 times (starting on lines 2, 6)" in (resolved.feedback or "")


def test_an_answer_must_change_something() -> None:
    with pytest.raises(ValueError, match="the answer changes nothing"):
        TaskOutput(summary="nothing")
