"""Where each kind of task puts its files: shared by the plan and the task answers.

A task's kind and entity are read back from its ``files``, so a task answer needs only the
``<task>`` JSON (plus the domain model for attributes) to know what to write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from masterplan.sim.scripted.naming import pascal

TaskKind = Literal[
    "setup", "core", "repository_base", "model", "repository", "service", "events",
    "api", "queries", "exchange", "report", "app", "docs", "generic",
]  # fmt: skip

ENTITY_KINDS: tuple[TaskKind, ...] = ("model", "repository", "service", "api", "queries", "exchange", "report")
SUBPACKAGES = ("core", "models", "repositories", "services", "api", "queries", "exchange", "reports")


def entity_files(kind: TaskKind, package: str, entity: str) -> list[str]:
    """Source and test files of an entity task (``entity`` in snake case)."""
    source = {
        "model": f"{package}/models/{entity}.py",
        "repository": f"{package}/repositories/{entity}_repository.py",
        "service": f"{package}/services/{entity}_service.py",
        "api": f"{package}/api/{entity}_handlers.py",
        "queries": f"{package}/queries/{entity}_queries.py",
        "exchange": f"{package}/exchange/{entity}_csv.py",
        "report": f"{package}/reports/{entity}_report.py",
    }[kind]
    return [source, f"tests/test_{entity}_{kind}.py"]


def fixed_files(kind: TaskKind, package: str) -> list[str]:
    match kind:
        case "setup":
            inits = [f"{package}/{sub}/__init__.py" for sub in SUBPACKAGES]
            return ["pyproject.toml", f"{package}/__init__.py", *inits, "tests/test_package.py"]
        case "core":
            return [
                f"{package}/core/errors.py",
                f"{package}/core/ids.py",
                f"{package}/core/validation.py",
                "tests/test_core.py",
            ]
        case "repository_base":
            return [f"{package}/repositories/base.py", "tests/test_repository_base.py"]
        case "events":
            return [f"{package}/core/events.py", "tests/test_events.py"]
        case "app":
            return [f"{package}/app.py", "tests/test_app.py"]
        case _:
            return ["README.md", "docs/architecture.md", "tests/test_docs.py"]


@dataclass(frozen=True)
class TaskShape:
    kind: TaskKind
    package: str
    entity: str | None = None
    """The entity's class name (PascalCase) for entity tasks."""


_ENTITY_SOURCE = re.compile(
    r"^(?P<pkg>[a-z_][a-z0-9_]*)/(?:models/(?P<model>\w+)|repositories/(?P<repository>\w+)_repository"
    r"|services/(?P<service>\w+)_service|api/(?P<api>\w+)_handlers|queries/(?P<queries>\w+)_queries"
    r"|exchange/(?P<exchange>\w+)_csv|reports/(?P<report>\w+)_report)\.py$"
)
_FIXED_SOURCE: dict[str, TaskKind] = {
    "core/errors.py": "core",
    "repositories/base.py": "repository_base",
    "core/events.py": "events",
    "app.py": "app",
}


def package_of(files: list[str]) -> str:
    for path in files:
        head, sep, _ = path.partition("/")
        if sep and head not in ("tests", "docs") and re.fullmatch(r"[a-z_][a-z0-9_]*", head):
            return head
    return "app"


def shape_of(files: list[str]) -> TaskShape:
    """The kind (and entity) of a task, from the files the plan gave it."""
    package = package_of(files)
    if "pyproject.toml" in files:
        return TaskShape("setup", package)
    if "README.md" in files:
        return TaskShape("docs", package)
    for path in files:
        match = _ENTITY_SOURCE.match(path)
        if match is not None:
            for kind in ENTITY_KINDS:
                if match.group(kind):
                    return TaskShape(kind, match.group("pkg"), pascal(match.group(kind)))
        head, _, rest = path.partition("/")
        if rest in _FIXED_SOURCE:
            return TaskShape(_FIXED_SOURCE[rest], head)
    return TaskShape("generic", package)
