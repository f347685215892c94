from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from masterplan.executor.workspace import FileProblem, Workspace, WorkspaceError, human_size
from masterplan.models import GeneratedFile


def gen(path: str, content: str = "x = 1\n") -> GeneratedFile:
    # model_construct: an LLM answer may be built without validation; the workspace must not rely on it.
    return GeneratedFile.model_construct(path=path, content=content)


def tree(directory: Path) -> dict[str, str]:
    """Every entry under ``directory`` (symlinks not followed), with file contents."""
    found: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        key = path.relative_to(directory).as_posix()
        if path.is_symlink():
            found[key] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[key] = path.read_text()
        else:
            found[key] = "<dir>"
    return found


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.ensure()
    return ws


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text("do not touch\n")
    return directory


def messages(problems: Sequence[FileProblem]) -> str:
    return " | ".join(f"{p.path}: {p.message}" for p in problems)


HOSTILE_PATHS = {
    "../x.py": "path leaves the workspace ('..')",
    "a/../../x.py": "path leaves the workspace ('..')",
    "/etc/passwd": "absolute path",
    "C:\\x.py": "absolute path",
    "C:x.py": "absolute path",
    "\\\\server\\share\\x.py": "absolute path",
    "a\\b.py": "backslash",
    "a\0b.py": "control characters (NUL)",
    "a\nb.py": "control characters (U+000A)",
    ".git/config": "inside .git",
    "pkg/.GIT/hooks/pre-commit": "inside .git",
    ".masterplan/state.json": "inside .masterplan",
    "": "empty path",
    "   ": "empty path",
    "./": "path names no file",
    "src/": "names a directory",
    "a/" + "n" * 256 + ".py": "longer than 255 bytes",
}


@pytest.mark.parametrize(("path", "expected"), HOSTILE_PATHS.items(), ids=repr)
def test_a_hostile_path_is_refused_and_nothing_is_written(
    tmp_path: Path, workspace: Workspace, outside: Path, path: str, expected: str
) -> None:
    before = tree(tmp_path)

    problems = workspace.problems([gen("ok.py"), gen(path)])

    assert {p.path for p in problems} == {path}
    assert any(expected in p.message for p in problems), messages(problems)
    with pytest.raises(WorkspaceError) as caught:
        workspace.write([gen("ok.py"), gen(path)])
    assert caught.value.problems == problems
    assert tree(tmp_path) == before


def test_every_problem_of_an_output_is_reported_at_once(workspace: Workspace) -> None:
    files = [gen("../up.py"), gen("/abs.py"), gen(".git/config"), gen("big.txt", "x" * 600_000), gen("fine.py")]

    problems = workspace.problems(files)

    assert [p.path for p in problems] == ["../up.py", "/abs.py", ".git/config", "big.txt"]


def test_a_file_over_the_limit_is_refused_with_its_size(workspace: Workspace) -> None:
    problems = workspace.problems([gen("data.json", "a" * (2 * 1024 * 1024))])

    assert problems == [FileProblem("data.json", "file is 2.1 MB; the limit is 512 KB")]


def test_the_size_limit_counts_utf8_bytes_not_characters(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws", max_file_bytes=10)

    assert workspace.problems([gen("a.txt", "é" * 5)]) == []
    assert workspace.problems([gen("a.txt", "é" * 6)]) == [
        FileProblem("a.txt", "file is 12 bytes; the limit is 10 bytes")
    ]


def test_too_many_files_are_refused_as_a_whole(tmp_path: Path, workspace: Workspace) -> None:
    files = [gen(f"pkg/module_{i}.py") for i in range(60)]

    problems = workspace.problems(files)

    assert problems == [FileProblem("*", "60 files; the limit is 50")]
    with pytest.raises(WorkspaceError):
        workspace.write(files)
    assert tree(workspace.root) == {}


def test_content_that_is_not_valid_text_is_refused(workspace: Workspace) -> None:
    problems = workspace.problems([gen("a.py", "x = '\ud800'\n")])

    assert [p.message for p in problems] == ["content is not valid text (it contains a lone UTF-16 surrogate)"]


def test_duplicate_paths_and_file_directory_clashes_are_refused(workspace: Workspace) -> None:
    files = [gen("a.py"), gen("./a.py"), gen("pkg"), gen("pkg/mod.py")]

    problems = workspace.problems(files)

    assert messages(problems) == (
        "a.py: path appears 2 times in the output"
        " | pkg/mod.py: 'pkg' is also written as a file, so it cannot be a directory"
    )


def test_a_path_that_needs_an_existing_file_to_be_a_directory_is_refused(workspace: Workspace) -> None:
    (workspace.root / "notes.txt").write_text("hello")
    (workspace.root / "src").mkdir()

    problems = workspace.problems([gen("notes.txt/inner.py"), gen("src")])

    assert messages(problems) == (
        "notes.txt/inner.py: 'notes.txt' is an existing file, so it cannot be a directory"
        " | src: a directory already exists at this path"
    )


def test_a_symlinked_directory_pointing_outside_is_never_written_through(
    tmp_path: Path, workspace: Workspace, outside: Path
) -> None:
    (workspace.root / "link").symlink_to(outside, target_is_directory=True)
    before = tree(tmp_path)

    problems = workspace.problems([gen("link/evil.py"), gen("link/secret.txt", "pwned")])

    assert [p.message for p in problems] == ["'link' is a symlink that points outside the workspace"] * 2
    with pytest.raises(WorkspaceError):
        workspace.write([gen("link/secret.txt", "pwned")])
    assert tree(tmp_path) == before
    assert (outside / "secret.txt").read_text() == "do not touch\n"


def test_a_symlinked_file_pointing_outside_is_refused(tmp_path: Path, workspace: Workspace, outside: Path) -> None:
    (workspace.root / "config.py").symlink_to(outside / "secret.txt")
    before = tree(tmp_path)

    with pytest.raises(WorkspaceError, match="points outside the workspace"):
        workspace.write([gen("config.py", "pwned")])

    assert tree(tmp_path) == before


class UncheckedWorkspace(Workspace):
    """A workspace whose up-front check saw a clean disk, as if a symlink appeared just after it."""

    def problems(self, files: Sequence[GeneratedFile]) -> list[FileProblem]:
        return []


def test_write_itself_refuses_a_symlink_that_appeared_after_the_check(tmp_path: Path, outside: Path) -> None:
    workspace = UncheckedWorkspace(tmp_path / "ws")
    workspace.ensure()
    (workspace.root / "pkg").mkdir()
    (workspace.root / "pkg" / "sub").symlink_to(outside, target_is_directory=True)
    before = tree(tmp_path)

    with pytest.raises(WorkspaceError, match="points outside the workspace"):
        workspace.write([gen("pkg/sub/secret.txt", "pwned")])

    assert tree(tmp_path) == before


def test_write_replaces_a_symlinked_file_instead_of_writing_through_it(tmp_path: Path, outside: Path) -> None:
    workspace = UncheckedWorkspace(tmp_path / "ws")
    workspace.ensure()
    (workspace.root / "config.py").symlink_to(outside / "secret.txt")

    workspace.write([gen("config.py", "SAFE = True\n")])

    assert (outside / "secret.txt").read_text() == "do not touch\n"
    assert tree(workspace.root) == {"config.py": "SAFE = True\n"}


def test_a_symlink_that_stays_inside_the_workspace_is_followed(workspace: Workspace) -> None:
    (workspace.root / "real").mkdir()
    (workspace.root / "alias").symlink_to("real", target_is_directory=True)

    assert workspace.write([gen("alias/deep/mod.py", "A = 1\n")]) == ["alias/deep/mod.py"]

    assert (workspace.root / "real" / "deep" / "mod.py").read_text() == "A = 1\n"
    assert workspace.read(["alias/deep/mod.py"]) == {"alias/deep/mod.py": "A = 1\n"}


def test_files_are_written_with_parent_directories_and_normalized_paths(workspace: Workspace) -> None:
    written = workspace.write([gen("./src/app//main.py", "print('hi')\n"), gen("README.md", "# demo\n")])

    assert written == ["src/app/main.py", "README.md"]
    assert tree(workspace.root) == {
        "README.md": "# demo\n",
        "src": "<dir>",
        "src/app": "<dir>",
        "src/app/main.py": "print('hi')\n",
    }


def test_rewriting_a_file_replaces_it_and_leaves_no_temporary_files(workspace: Workspace) -> None:
    workspace.write([gen("a.py", "old\n")])
    inode_before = (workspace.root / "a.py").stat().st_ino

    workspace.write([gen("a.py", "new\n")])

    assert tree(workspace.root) == {"a.py": "new\n"}
    assert (workspace.root / "a.py").stat().st_ino != inode_before  # a new file renamed over the old one


def test_write_creates_a_missing_root(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "new" / "ws")

    workspace.write([gen("a.py")])

    assert (tmp_path / "new" / "ws" / "a.py").read_text() == "x = 1\n"


def test_read_returns_current_content_and_none_for_absent_or_bad_paths(
    tmp_path: Path, workspace: Workspace, outside: Path
) -> None:
    workspace.write([gen("src/a.py", "A\n")])
    (workspace.root / "escape").symlink_to(outside, target_is_directory=True)
    (workspace.root / "escape.txt").symlink_to(outside / "secret.txt")
    (workspace.root / "blob.bin").write_bytes(b"\xff\xfe\x00")
    os.mkfifo(workspace.root / "pipe")

    contents = workspace.read(
        [
            "src/a.py",
            "src/missing.py",
            "../outside/secret.txt",
            "escape/secret.txt",
            "escape.txt",
            "blob.bin",
            "src",
            "pipe",
        ]
    )

    assert contents == {
        "src/a.py": "A\n",
        "src/missing.py": None,
        "../outside/secret.txt": None,
        "escape/secret.txt": None,
        "escape.txt": None,
        "blob.bin": None,
        "src": None,
        "pipe": None,
    }


def test_remove_deletes_files_and_accepts_absent_ones(workspace: Workspace) -> None:
    workspace.write([gen("src/a.py"), gen("src/b.py")])

    assert workspace.remove(["src/a.py", "src/never.py", "nowhere/x.py"]) == ["src/a.py"]

    assert tree(workspace.root) == {"src": "<dir>", "src/b.py": "x = 1\n"}


def test_remove_never_deletes_outside_the_workspace(tmp_path: Path, workspace: Workspace, outside: Path) -> None:
    (workspace.root / "escape").symlink_to(outside, target_is_directory=True)
    (workspace.root / "secret.txt").symlink_to(outside / "secret.txt")
    (workspace.root / "dir").mkdir()

    with pytest.raises(WorkspaceError, match="points outside the workspace"):
        workspace.remove(["escape/secret.txt"])
    with pytest.raises(WorkspaceError, match="leaves the workspace"):
        workspace.remove(["../outside/secret.txt"])
    with pytest.raises(WorkspaceError, match="a directory exists at this path"):
        workspace.remove(["dir"])
    assert workspace.remove(["secret.txt"]) == ["secret.txt"]  # the link goes, its target stays

    assert (outside / "secret.txt").read_text() == "do not touch\n"
    assert tree(workspace.root) == {"dir": "<dir>", "escape": f"-> {outside}"}


def test_snapshot_holds_every_text_file_except_git_and_internal_ones(workspace: Workspace, outside: Path) -> None:
    workspace.write([gen("b.py", "B\n"), gen("pkg/a.py", "A\n")])
    (workspace.root / ".git").mkdir()
    (workspace.root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (workspace.root / ".masterplan").mkdir()
    (workspace.root / ".masterplan" / "state").write_text("internal")
    (workspace.root / "image.png").write_bytes(b"\x89PNG\xff")
    (workspace.root / "link").symlink_to(outside, target_is_directory=True)

    assert workspace.snapshot() == {"b.py": "B\n", "pkg/a.py": "A\n"}


def test_sizes_read_as_a_person_writes_them() -> None:
    assert [human_size(n) for n in (999, 512_000, 2_097_152)] == ["999 bytes", "512 KB", "2.1 MB"]
