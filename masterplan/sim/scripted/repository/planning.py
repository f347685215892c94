"""The master plan of a repository run: a few tasks that add to the code the map shows, never recreate it.

In order: the feature module with its tests (T01), then one task per existing module that gets a function
appended by an edit (each with its own test file), then the README section. The plan keeps the first
tasks of that list, at most ``<target_tasks>`` and ``MAX_TASKS``; every task lists the existing files it
changes and the new files it adds, and its description says which are which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from masterplan.sim.scripted.repository.change import Change

MAX_TASKS = 5
_PHASES = {
    "change": ("Change", "the feature and its additions to existing modules, with tests, no new failures"),
    "docs": ("Documentation", "the README says what changed"),
}


@dataclass
class _Draft:
    key: str
    phase: str
    title: str
    description: str
    files: list[str]
    task_type: str
    complexity: str
    acceptance: list[str]
    depends: list[str] = field(default_factory=list)


def _drafts(change: Change, test_command: str) -> list[_Draft]:
    no_new_failures = f"`{test_command}` shows no test failing that passed before"
    parts = ", ".join(f"{module.dotted}.{name}" for module, name in change.parts) or "the package"
    drafts = [
        _Draft(
            "feature",
            "change",
            change.title,
            f"New files: {change.feature_path} (built on the existing {parts}) and {change.feature_test}. "
            "No existing file changes.",
            [change.feature_path, change.feature_test],
            "service",
            "medium",
            [f"{change.feature_test} passes", no_new_failures],
        )
    ]
    for item in change.appended:
        drafts.append(
            _Draft(
                f"append:{item.module.path}",
                "change",
                f"{item.function} in {item.module.dotted}",
                f"Existing file changed by an edit: {item.module.path} (the function {item.function} appended "
                f"after its last lines; nothing else in it changes). New file: {item.test_path}.",
                [item.module.path, item.test_path],
                "other",
                "low",
                [f"{item.test_path} passes", no_new_failures],
                ["feature"],
            )
        )
    if change.readme is not None:
        drafts.append(
            _Draft(
                "readme",
                "docs",
                f"Document {change.title.lower()}",
                f"Existing file changed by an edit: {change.readme} (a section appended). No new files.",
                [change.readme],
                "docs",
                "low",
                [f"{change.readme} names {change.feature_module}", no_new_failures],
                ["feature"],
            )
        )
    return drafts


def repository_plan(change: Change, target: int, test_command: str | None) -> dict[str, Any]:
    drafts = _drafts(change, test_command or "python -m pytest")
    chosen = drafts[: max(1, min(target, MAX_TASKS))]
    if change.readme is not None and len(chosen) >= 3 and chosen[-1].key != "readme":
        chosen[-1] = drafts[-1]  # a plan of three tasks or more ends with its documentation
    ids = {draft.key: f"T{index:02d}" for index, draft in enumerate(chosen, start=1)}
    readme = next((draft for draft in chosen if draft.key == "readme"), None)
    if readme is not None:
        readme.depends = [key for key in ids if key != "readme"]
    phases = [key for key in _PHASES if any(draft.phase == key for draft in chosen)]
    tasks = [
        {
            "task_id": ids[draft.key],
            "title": draft.title,
            "description": draft.description,
            "phase": draft.phase,
            "milestone": f"m-{draft.phase}",
            "complexity": draft.complexity,
            "task_type": draft.task_type,
            "depends_on": [ids[key] for key in draft.depends if key in ids],
            "files": draft.files,
            "acceptance": draft.acceptance,
        }
        for draft in chosen
    ]
    name = change.package or "repository"
    return {
        "project_name": name,
        "summary": f"{len(tasks)} tasks changing {name}: {change.title.lower()} in a new module "
        f"{change.feature_path}, built on what exists, with tests beside the repository's own.",
        "phases": [{"phase_id": key, "name": _PHASES[key][0], "goal": _PHASES[key][1]} for key in phases],
        "milestones": [
            {
                "milestone_id": f"m-{key}",
                "name": f"{_PHASES[key][0]} done",
                "phase": key,
                "description": _PHASES[key][1],
            }
            for key in phases
        ],
        "tasks": tasks,
    }
