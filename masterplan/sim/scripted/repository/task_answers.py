"""A repository task's answer: new files whole, existing files changed by edits built from their real content.

Derived from the task's ``files`` and the change the map and request decide (``change``), so an answer does
not depend on the order tasks run in. The content of an existing file comes from ``<current_files>`` (or
``<dependency_outputs>``, where masterplan puts a file a dependency wrote); a file the map names but the
prompt does not show is never rewritten blind: its addition goes into a new module of its own instead.
A re-ask with ``<feedback>`` gets the same answer, whose edits were built from the real content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from masterplan.sim.scripted.repository.change import Appended, Change, appended_for, dotted_name
from masterplan.sim.scripted.repository.edit_blocks import append_edit
from masterplan.sim.scripted.repository.repo_map import MapView
from masterplan.sim.scripted.repository.sources import (
    appended_function,
    appended_tests,
    feature_module,
    feature_tests,
    readme_section,
    standalone_module,
)
from masterplan.sim.scripted.tasks import task_notes


@dataclass
class _Answer:
    files: dict[str, str] = field(default_factory=dict)
    edits: list[dict[str, Any]] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    """The test files the task lists: each tests one of ``subjects``, in order."""
    subjects: list[tuple[str, Appended | None]] = field(default_factory=list)
    """What the answer adds: (dotted module, the appended function or None for the feature module)."""
    rewrites: bool = False
    """Existing files are written whole (the addition appended) instead of edited."""


def repository_task_output(
    view: MapView, change: Change, request: str, task: dict[str, Any], shown: dict[str, str], *, rewrites: bool = False
) -> dict[str, Any]:
    """``shown``: the current content of files, by path, as the prompt carries it; ``rewrites``: write the
    existing files changed whole, as a model that does not edit would."""
    paths = [path for path in task.get("files", []) if isinstance(path, str)]
    answer = _Answer(rewrites=rewrites)
    for path in paths:
        if _is_test(path) and not view.exists(path):
            answer.tests.append(path)
        elif path in view.files or path in shown:
            _change_existing(answer, view, change, path, shown.get(path))
        elif path.endswith(".py") and _importable(path):
            module = dotted_name(path, change.package_dir, change.package)
            answer.files[path] = feature_module(change, request)
            answer.subjects.append((module, None))
        elif not view.exists(path):
            answer.files[path] = f"# {change.title}\n\nWritten for the task {task.get('title', '')!r}.\n"
    _write_tests(answer, change)
    if not (answer.files or answer.edits):  # all there already: the answer must still change something
        answer.files[change.feature_path] = feature_module(change, request)
    task_id = str(task.get("task_id", "task"))
    edited = list(dict.fromkeys(edit["path"] for edit in answer.edits))
    return {
        "files": [{"path": path, "content": content} for path, content in answer.files.items()],
        "edits": answer.edits,
        "summary": f"{task_id}: {task.get('title', 'task')}, in {', '.join([*answer.files, *edited])}."[:2000],
        "notes": task_notes(answer.files) + "".join(f"\n- {path}: edited (appended to)" for path in edited),
    }


def _change_existing(answer: _Answer, view: MapView, change: Change, path: str, content: str | None) -> None:
    item = appended_for(view, change, path) if path.endswith(".py") else None
    if path == change.readme:
        _edit_readme(answer, change, path, content)
    elif item is not None and content is None:
        standalone = _standalone_path(path, item)
        answer.files[standalone] = standalone_module(item, change)
        answer.subjects.append((dotted_name(standalone, change.package_dir, change.package), item))
    elif item is not None and content is not None:
        if not re.search(rf"^def {re.escape(item.function)}\(", content, re.MULTILINE):  # not already there
            _append(answer, path, content, appended_function(item, change))
        answer.subjects.append((item.module.dotted, item))


def _edit_readme(answer: _Answer, change: Change, path: str, content: str | None) -> None:
    section = readme_section(change, path)
    if content is None:
        answer.files[f"docs/{change.feature}.md"] = section
    elif section.split("\n", 1)[0] not in content:
        _append(answer, path, content, section, gap="\n\n")


def _append(answer: _Answer, path: str, content: str, addition: str, *, gap: str = "\n\n\n") -> None:
    edit = append_edit(path, content, addition, gap=gap)
    if edit is None:  # an empty file: a small file is written whole
        answer.files[path] = addition
    elif answer.rewrites:
        answer.files[path] = content.replace(edit["search"], edit["replace"], 1)
    else:
        answer.edits.append(edit)


def _write_tests(answer: _Answer, change: Change) -> None:
    """One test file per thing added, in order; a second thing for the last file shares it."""
    contents: list[str] = []
    for module, item in answer.subjects:
        contents.append(feature_tests(change, module) if item is None else appended_tests(item, module))
    for index, path in enumerate(answer.tests):
        if index >= len(contents):
            answer.files[path] = _smoke_test(change)
        elif index == len(answer.tests) - 1:
            answer.files[path] = "\n\n".join(contents[index:])
        else:
            answer.files[path] = contents[index]


def _smoke_test(change: Change) -> str:
    return (
        f'"""{change.title}: a test the task asked for."""\n\n\n'
        f"def test_{change.feature}_is_planned() -> None:\n    assert {change.title!r}\n"
    )


def _standalone_path(path: str, item: Appended) -> str:
    pure = PurePosixPath(path)
    return str(pure.with_name(f"{pure.stem}_{item.function}.py"))


def _is_test(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _importable(path: str) -> bool:
    parts = PurePosixPath(path).with_suffix("").parts
    return all(part.isidentifier() for part in parts[1 if parts[0] in ("src", "lib") else 0 :])
