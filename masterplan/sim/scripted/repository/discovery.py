"""Discovery of a repository run: questions about the change and the code the map shows, and the domain model."""

from __future__ import annotations

from typing import Any

from masterplan.sim.scripted.naming import pascal
from masterplan.sim.scripted.repository.change import Change, candidate_modules
from masterplan.sim.scripted.repository.repo_map import MapSymbol, MapView

MAX_ENTITIES = 8
MAX_ATTRIBUTES = 10


def discovery_questions(view: MapView, change: Change, request: str) -> dict[str, Any]:
    where = change.package_dir or "the top of the repository"
    built_on = ", ".join(f"{module.dotted}.{name}" for module, name in change.parts) or f"the modules of {where}"
    edited = ", ".join(item.module.path for item in change.appended) or "no existing module"
    tests = view.test_command or "python -m pytest"
    topics = [
        (
            "placement",
            f"Should the change live in a new module {change.feature_path}, or inside an existing module of {where}?",
            f"a new module {change.feature_path}, with small additions appended to {edited}",
        ),
        (
            "reuse",
            f"Which existing code should it build on? The map shows {built_on}.",
            f"{built_on}, used as they are",
        ),
        (
            "compatibility",
            f"May existing public functions or classes of {change.package or where} change their signatures?",
            "no: existing signatures and behaviour stay; the change only adds",
        ),
        (
            "tests",
            f"The repository's tests run with `{tests}`. Should the new tests go in {change.tests_dir}/?",
            f"yes, one new test file per change in {change.tests_dir}/; the existing tests keep their results",
        ),
        (
            "docs",
            f"Should {change.readme or 'the README'} document the change?",
            f"yes, a short section appended to {change.readme}" if change.readme else "no README changes",
        ),
    ]
    questions = [
        {
            "id": f"q{i}",
            "question": question,
            "why": f"decides the {topic} of the change",
            "default_assumption": default,
        }
        for i, (topic, question, default) in enumerate(topics, start=1)
    ]
    return {
        "questions": questions,
        "initial_entities": [symbol.name for _, symbol in _located(view, change, request)][:MAX_ENTITIES],
    }


def domain_model(view: MapView, change: Change, request: str, answers: dict[str, Any]) -> dict[str, Any]:
    classes = _located(view, change, request)[:MAX_ENTITIES]
    entities = [
        {
            "name": symbol.name,
            "description": symbol.doc or f"the {symbol.name} class of {module}",
            "context": module,
            "attributes": _attributes(symbol),
        }
        for module, symbol in classes
    ] or [
        {
            "name": pascal(change.package or view.name),
            "description": f"the {change.package or view.name} code as the map shows it",
            "context": change.package or view.name,
            "attributes": [],
        }
    ]
    contexts = list(dict.fromkeys(str(entity["context"]) for entity in entities))
    functions = [name for _, name in change.parts if not name[:1].isupper()]
    name = change.package or view.name
    return {
        "project_name": name,
        "summary": f"The existing {name} code, changed so that: {' '.join(request.split())}"[:1000],
        "bounded_contexts": [
            {
                "name": context,
                "description": f"the module {context}",
                "entities": [e["name"] for e in entities if e["context"] == context],
            }
            for context in contexts
        ],
        "entities": entities,
        "value_objects": [],
        "aggregates": [{"root": symbol.name, "members": [], "invariants": []} for _, symbol in classes[:3]],
        "domain_events": [],
        "use_cases": [
            {"name": change.title, "actor": "user", "description": " ".join(request.split())[:500]},
            *(
                {"name": name, "actor": "caller", "description": "an existing function, kept as it is"}
                for name in functions
            ),
        ],
        "assumptions": [f"{key}: {value}" for key, value in answers.items()]
        or ["existing behaviour stays as it is; the change only adds"],
    }


def _located(view: MapView, change: Change, request: str) -> list[tuple[str, MapSymbol]]:
    """(module, class) for the top-level classes of the package's modules, most relevant modules first."""
    found = []
    for module in candidate_modules(view, change.package_dir, change.package, request):
        found += [(module.dotted, symbol) for symbol in module.symbols if symbol.kind == "class"]
    return found


def _attributes(symbol: MapSymbol) -> list[dict[str, Any]]:
    """The parameters of the class's ``__init__`` as the map shows it (a dataclass's fields are not shown)."""
    init = next((member for member in symbol.members if member.name == "__init__"), None)
    if init is None or not init.signature.startswith("("):
        return []
    attributes: list[dict[str, Any]] = []
    for parameter in _parameters(init.signature):
        head, _, default = parameter.partition("=")
        name, _, annotation = head.partition(":")
        name = name.strip().lstrip("*")
        if name.isidentifier() and name not in ("self", "cls") and len(attributes) < MAX_ATTRIBUTES:
            attributes.append(
                {"name": name, "type": annotation.strip() or "object", "required": not default, "description": ""}
            )
    return attributes


def _parameters(signature: str) -> list[str]:
    """The parameters of ``(a: int, b: dict[str, int]=...) -> R``, split at the commas outside brackets."""
    pieces: list[str] = []
    current: list[str] = []
    depth = 0
    for char in signature[1:]:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                break
        elif char == "…":  # clipped: the last parameter is not whole
            current = []
            break
        if char == "," and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    return [piece for piece in [*pieces, "".join(current)] if piece.strip()]
