"""Task answers: the files a plan task asks for, with code and tests that pass."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from masterplan.sim.scripted.codegen import (
    api,
    application,
    core_source,
    documentation,
    events,
    exchange,
    project_setup,
    queries,
    reports,
    repository_base,
    services,
    storage,
)
from masterplan.sim.scripted.codegen.entity_model import model_files
from masterplan.sim.scripted.entities import EntityInfo, Project, parse_json, project_entities
from masterplan.sim.scripted.generic import generic_files
from masterplan.sim.scripted.layout import TaskKind, TaskShape, shape_of
from masterplan.sim.scripted.naming import snake

EntityGenerator = Callable[[str, EntityInfo, Project], dict[str, str]]

_ENTITY_GENERATORS: dict[TaskKind, EntityGenerator] = {
    "model": lambda package, entity, project: model_files(package, entity),
    "repository": lambda package, entity, project: storage.repository_files(package, entity),
    "service": services.service_files,
    "api": api.api_files,
    "queries": lambda package, entity, project: queries.queries_files(package, entity),
    "exchange": lambda package, entity, project: exchange.exchange_files(package, entity),
    "report": lambda package, entity, project: reports.report_files(package, entity),
}


def _plan_entity_order(plan: Any) -> list[str]:
    """Snake names of the entities the plan has model tasks for, in plan order."""
    if not isinstance(plan, dict):
        return []
    order = []
    for task in plan.get("tasks", []):
        shape = shape_of([p for p in task.get("files", []) if isinstance(p, str)]) if isinstance(task, dict) else None
        if shape is not None and shape.kind == "model" and shape.entity is not None:
            order.append(snake(shape.entity))
    return order


def _generate(shape: TaskShape, files: list[str], title: str, project: Project) -> dict[str, str]:
    package = project.package if shape.kind == "docs" else shape.package
    names = [entity.name for entity in project.entities]
    fixed: dict[TaskKind, Callable[[], dict[str, str]]] = {
        "setup": lambda: project_setup.setup_files(package, package, names),
        "core": lambda: core_source.core_files(package),
        "repository_base": lambda: repository_base.repository_base_files(package),
        "events": lambda: events.events_files(package),
        "app": lambda: application.app_files(package, project),
        "docs": lambda: documentation.docs_files(package, project),
    }
    if shape.kind in fixed:
        return fixed[shape.kind]()
    entity = project.entity(snake(shape.entity)) if shape.entity is not None else None
    generator = _ENTITY_GENERATORS.get(shape.kind)
    if generator is not None and entity is not None:
        return generator(package, entity, project)
    return generic_files(files, title)


def task_output(
    task_json: str | None, document_json: str | None, plan_json: str | None, request: str, seed: int
) -> Any:
    task = parse_json(task_json)
    if not isinstance(task, dict):
        task = {"task_id": "task", "title": "task", "files": []}
    files = [path for path in task.get("files", []) if isinstance(path, str)]
    title = str(task.get("title", "task"))
    shape = shape_of(files)
    project = project_entities(request, document_json, seed, order=_plan_entity_order(parse_json(plan_json)))
    generated = _generate(shape, files, title, project)
    return {
        "files": [{"path": path, "content": content} for path, content in generated.items()],
        "summary": f"{task.get('task_id', 'task')}: {title}, in {', '.join(generated)}."[:2000],
        "notes": task_notes(generated),
    }


_DEFINITION = re.compile(r"^(?:class|def) (\w+)", re.MULTILINE)
_TEST = re.compile(r"^def (test_\w+)", re.MULTILINE)


def task_notes(generated: dict[str, str]) -> str:
    """What each file holds, the way a developer reports a change: definitions, tests, size."""
    lines = []
    for path, content in generated.items():
        size = content.count("\n") + 1
        if path.startswith("tests/"):
            tests = _TEST.findall(content)
            lines.append(
                f"- {path} ({size} lines): {len(tests)} tests: " + "; ".join(t[5:].replace("_", " ") for t in tests)
            )
        elif path.endswith(".py"):
            names = [name for name in _DEFINITION.findall(content) if not name.startswith("_")]
            lines.append(f"- {path} ({size} lines): defines " + (", ".join(names) or "the package docstring"))
        else:
            lines.append(f"- {path} ({size} lines)")
    return "Files:\n" + "\n".join(lines)
