"""The master plan: phases, milestones and a dependency DAG of tasks, sized as asked.

Tasks come in layers: setup, core, repository base; then for each entity its model,
repository and service; events; then per entity an API, queries, CSV exchange and a report;
finally the application wiring and the docs. The plan takes the first tasks of that list,
which is always dependency-closed, so every size is a valid plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from masterplan.sim.roles import tag_content
from masterplan.sim.scripted.entities import EntityInfo, Project, parse_json, project_entities
from masterplan.sim.scripted.layout import TaskKind, entity_files, fixed_files
from masterplan.sim.scripted.naming import title_words

DEFAULT_TASKS = 12
MAX_TASKS = 100
_FIXED_BEFORE_ENTITIES = 3
_FIXED_AFTER = 3  # events, app, docs
_LAYERS_PER_ENTITY = 7

_PHASES: dict[str, tuple[str, str]] = {
    "foundation": ("Foundation", "a package that installs and tests, with shared errors and storage"),
    "domain": ("Domain model", "validated entities"),
    "persistence": ("Persistence", "repositories for every entity"),
    "services": ("Services", "use cases with their business rules and events"),
    "interfaces": ("Interfaces", "handlers, queries, CSV exchange and reports"),
    "delivery": ("Delivery", "the wired application and its documentation"),
}
_PHASE_OF: dict[TaskKind, str] = {
    "setup": "foundation", "core": "foundation", "repository_base": "foundation", "model": "domain",
    "repository": "persistence", "service": "services", "events": "services", "api": "interfaces",
    "queries": "interfaces", "exchange": "interfaces", "report": "interfaces", "app": "delivery", "docs": "delivery",
}  # fmt: skip
_TASK_TYPE: dict[TaskKind, str] = {
    "setup": "setup", "core": "other", "repository_base": "repository", "model": "model",
    "repository": "repository", "service": "service", "events": "service", "api": "api", "queries": "service",
    "exchange": "other", "report": "service", "app": "config", "docs": "docs",
}  # fmt: skip


_EARLY_LAYERS: tuple[TaskKind, ...] = ("model", "repository", "service")
_LATE_LAYERS: tuple[TaskKind, ...] = ("api", "queries", "exchange", "report")


@dataclass
class _Draft:
    kind: TaskKind
    key: str
    title: str
    description: str
    files: list[str]
    depends: list[str] = field(default_factory=list)
    entity: EntityInfo | None = None


def target_task_count(raw: str | None, plan_json: str | None) -> int:
    """``<target_tasks>`` if it is a number, else the size of a plan under repair, else 12."""
    if raw is not None and raw.strip().isdigit():
        return max(1, min(MAX_TASKS, int(raw.strip())))
    previous = parse_json(plan_json)
    if isinstance(previous, dict) and isinstance(previous.get("tasks"), list) and previous["tasks"]:
        return min(MAX_TASKS, len(previous["tasks"]))
    return DEFAULT_TASKS


def entity_count_for(target: int, known: int) -> int:
    needed = math.ceil(max(0, target - _FIXED_BEFORE_ENTITIES - _FIXED_AFTER) / _LAYERS_PER_ENTITY)
    return max(1, needed, min(known, max(1, (target - _FIXED_BEFORE_ENTITIES) // 3)))


def _entity_draft(kind: TaskKind, entity: EntityInfo, package: str) -> _Draft:
    words = title_words(entity.name)
    repos = [f"repository:{ref}" for ref in entity.refs]
    spec: dict[TaskKind, tuple[str, str, list[str]]] = {
        "model": (f"{entity.name} entity", f"the {words} dataclass with validation and (de)serialisation", ["core"]),
        "repository": (
            f"{entity.name} repository",
            f"in-memory storage of {words}s with finders per attribute",
            [f"model:{entity.snake}", "repository_base"],
        ),
        "service": (
            f"{entity.name} service",
            f"use cases for {words}s: create, update, rename, delete, with reference checks and events",
            [f"repository:{entity.snake}", *repos],
        ),
        "api": (f"{entity.name} API handlers", f"JSON handlers for {words}s", [f"service:{entity.snake}"]),
        "queries": (
            f"{entity.name} queries",
            f"search, sort and paginate {words}s",
            [f"repository:{entity.snake}"],
        ),
        "exchange": (f"{entity.name} CSV exchange", f"export and import {words}s as CSV", [f"model:{entity.snake}"]),
        "report": (f"{entity.name} report", f"statistics over {words}s", [f"queries:{entity.snake}"]),
    }
    title, description, depends = spec[kind]
    return _Draft(
        kind, f"{kind}:{entity.snake}", title, f"Build {description}.", entity_files(kind, package, entity.snake),
        depends, entity,
    )  # fmt: skip


def _drafts(project: Project) -> tuple[list[_Draft], _Draft, _Draft]:
    package = project.package
    entities = project.entities
    drafts = [
        _Draft("setup", "setup", "Project setup", "Create the package layout, pyproject.toml and pytest configuration.",
               fixed_files("setup", package)),
        _Draft("core", "core", "Core errors, ids and validation", "Shared domain errors, id generation and checks.",
               fixed_files("core", package), ["setup"]),
        _Draft("repository_base", "repository_base", "Generic in-memory repository",
               "A typed in-memory repository every entity repository extends.",
               fixed_files("repository_base", package), ["core"]),
    ]  # fmt: skip
    for kind in _EARLY_LAYERS:
        drafts += [_entity_draft(kind, entity, package) for entity in entities]
    drafts.append(
        _Draft("events", "events", "Event bus", "Publish and subscribe to domain events, with an audit log.",
               fixed_files("events", package), ["core"])
    )  # fmt: skip
    for kind in _LATE_LAYERS:
        drafts += [_entity_draft(kind, entity, package) for entity in entities]
    app = _Draft(
        "app", "app", "Application wiring", "Build the whole application: repositories, services and the event bus.",
        fixed_files("app", package), [f"service:{e.snake}" for e in entities] + ["events"],
    )  # fmt: skip
    docs = _Draft("docs", "docs", "Documentation", "README and architecture notes, checked by tests.",
                  fixed_files("docs", package), ["app"])  # fmt: skip
    return drafts, app, docs


def _select(project: Project, target: int) -> list[_Draft]:
    drafts, app, docs = _drafts(project)
    through_events = next(i for i, d in enumerate(drafts) if d.kind == "events") + 1
    if target >= through_events + 2:
        return [*drafts[: target - 2], app, docs]
    return drafts[:target]


def build_plan(project: Project, target: int) -> dict[str, Any]:
    chosen = _select(project, target)
    ids = {draft.key: f"T{i:02d}" for i, draft in enumerate(chosen, start=1)}
    phases = [key for key in _PHASES if any(_PHASE_OF[d.kind] == key for d in chosen)]
    tasks = []
    for draft in chosen:
        phase = _PHASE_OF[draft.kind]
        tasks.append(
            {
                "task_id": ids[draft.key],
                "title": draft.title,
                "description": draft.description,
                "phase": phase,
                "milestone": f"m-{phase}",
                "complexity": _complexity(draft),
                "task_type": _TASK_TYPE[draft.kind],
                "depends_on": [ids[key] for key in draft.depends],
                "files": draft.files,
                "acceptance": _acceptance(draft),
            }
        )
    return {
        "project_name": project.package,
        "summary": f"{len(tasks)} tasks in {len(phases)} phases building {project.package} "
        f"around {', '.join(e.name for e in project.entities)}.",
        "phases": [{"phase_id": key, "name": _PHASES[key][0], "goal": _PHASES[key][1]} for key in phases],
        "milestones": [
            {
                "milestone_id": f"m-{key}",
                "name": f"{_PHASES[key][0]} done",
                "phase": key,
                "description": f"{_PHASES[key][1]}, with passing tests",
            }
            for key in phases
        ],
        "tasks": tasks,
    }


def _complexity(draft: _Draft) -> str:
    if draft.kind == "app" or (draft.kind == "service" and draft.entity is not None and draft.entity.refs):
        return "high"
    if draft.kind in ("setup", "exchange", "docs", "core"):
        return "low"
    return "medium"


def _acceptance(draft: _Draft) -> list[str]:
    test_file = next((path for path in draft.files if path.startswith("tests/")), "tests/")
    checks = [f"{test_file} passes together with the existing tests", "public functions have type hints and docstrings"]
    if draft.entity is not None:
        checks.append(f"invalid {title_words(draft.entity.name)} data raises ValidationError naming the field")
    return checks


def master_plan(request: str, document_json: str | None, target_raw: str | None, seed: int, tail: str = "") -> Any:
    target = target_task_count(target_raw, tag_content(tail, "master_plan") if tail else None)
    known = project_entities(request, document_json, seed)
    project = project_entities(request, document_json, seed, count=entity_count_for(target, len(known.entities)))
    project = Project(project.package, project.entities[: entity_count_for(target, len(known.entities))])
    return build_plan(project, target)
