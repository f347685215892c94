"""Reads answered from memory only while the file on disk is the one they came from."""

from __future__ import annotations

import os
from pathlib import Path

from masterplan.executor.file_mirror import FileMirror
from masterplan.executor.workspace import Workspace
from masterplan.models import GeneratedFile


def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws", durable=False)


def test_a_file_written_then_changed_behind_the_workspaces_back_is_read_again(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    ws.write([GeneratedFile(path="app/main.py", content="x = 1\n")])
    assert ws.read(["app/main.py"]) == {"app/main.py": "x = 1\n"}

    (ws.root / "app" / "main.py").write_text("x = 2  # edited by a person\n", encoding="utf-8")

    assert ws.read(["app/main.py"]) == {"app/main.py": "x = 2  # edited by a person\n"}


def test_a_directory_swapped_for_a_symlink_to_the_outside_is_not_read_from_memory(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    ws.write([GeneratedFile(path="app/main.py", content="x = 1\n")])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "main.py").write_text("x = 1\n", encoding="utf-8")  # same text, another file
    os.rename(ws.root / "app", tmp_path / "moved")
    os.symlink(outside, ws.root / "app")

    assert ws.read(["app/main.py"]) == {"app/main.py": None}


def test_a_directory_moved_out_and_linked_back_is_not_read_from_memory(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    ws.write([GeneratedFile(path="pkg/a.py", content="A = 1\n")])
    ws.read(["pkg/a.py"])
    os.rename(ws.root / "pkg", tmp_path / "pkg")  # the very same file, now outside the root
    os.symlink(tmp_path / "pkg", ws.root / "pkg")

    assert ws.read(["pkg/a.py"]) == {"pkg/a.py": None}


def test_removed_and_rewritten_files_are_read_as_they_are_now(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    ws.write([GeneratedFile(path="a.py", content="one\n")])
    ws.remove(["a.py"])
    assert ws.read(["a.py"]) == {"a.py": None}
    ws.write([GeneratedFile(path="a.py", content="two\n")])
    assert ws.read(["a.py"]) == {"a.py": "two\n"}


def test_the_mirror_keeps_at_most_its_size_dropping_the_least_recently_used(tmp_path: Path) -> None:
    mirror = FileMirror(max_bytes=10)
    files = {name: tmp_path / name for name in ("a", "b", "c")}
    for name, path in files.items():
        path.write_text(name * 4, encoding="utf-8")
    mirror.remember("a", os.stat(files["a"]), "aaaa")
    mirror.remember("b", os.stat(files["b"]), "bbbb")
    assert mirror.recall(str(tmp_path), "a") == "aaaa"  # a is now the most recently used
    mirror.remember("c", os.stat(files["c"]), "cccc")

    assert mirror.recall(str(tmp_path), "b") is None
    assert mirror.recall(str(tmp_path), "a") == "aaaa"
    assert mirror.recall(str(tmp_path), "c") == "cccc"
