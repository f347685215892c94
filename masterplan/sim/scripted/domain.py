"""Discovery answers: questions, assumed answers and the domain model, from the request's nouns."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import orjson

from masterplan.sim.scripted.naming import padded_nouns, pascal, request_nouns, snake, title_words

MIN_ENTITIES = 3

_ATTRIBUTE_POOL: tuple[tuple[str, str, str], ...] = (
    ("title", "str", "short human-readable title"),
    ("code", "str", "unique business code"),
    ("status", "str", "lifecycle status"),
    ("email", "str", "contact e-mail address"),
    ("label", "str", "display label"),
    ("description", "str", "longer free-text description"),
    ("quantity", "int", "how many units, never negative"),
    ("priority", "int", "priority, 0 is the lowest"),
    ("capacity", "int", "maximum number of units"),
    ("position", "int", "order in listings"),
    ("price", "float", "price in the account currency"),
    ("weight", "float", "weight in kilograms"),
    ("rating", "float", "average rating"),
    ("score", "float", "computed score"),
    ("active", "bool", "whether it is in use"),
    ("archived", "bool", "whether it is archived"),
    ("verified", "bool", "whether it was checked"),
    ("created_at", "datetime", "when it was created"),
    ("due_at", "datetime", "when it is due"),
    ("tags", "list[str]", "free-form tags"),
    ("aliases", "list[str]", "other names"),
)


def rng_for(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def entity_names(request: str, count: int = MIN_ENTITIES) -> list[str]:
    """PascalCase entity names: the request's nouns, padded to ``count``."""
    return [pascal(noun) for noun in padded_nouns(request_nouns(request), max(count, MIN_ENTITIES))]


def project_name(request: str) -> str:
    nouns = request_nouns(request, limit=1)
    return f"{snake(nouns[0]) if nouns else 'project'}_service"


def entity_attributes(name: str, earlier: list[str], seed: int) -> list[dict[str, Any]]:
    """Typed attributes of an entity: a name, eight to ten drawn ones, references to earlier entities."""
    rng = rng_for(seed, "attributes", name)
    attributes = [{"name": "name", "type": "str", "required": True, "description": f"name of the {title_words(name)}"}]
    for attr_name, attr_type, description in rng.sample(_ATTRIBUTE_POOL, rng.randint(8, 10)):
        required = attr_type not in ("list[str]",) and attr_name != "description"
        attributes.append({"name": attr_name, "type": attr_type, "required": required, "description": description})
    for other in earlier[-2:]:
        if rng.random() < 0.6:
            attributes.append(
                {
                    "name": f"{snake(other)}_id",
                    "type": "str",
                    "required": True,
                    "description": f"id of the {title_words(other)} it belongs to",
                }
            )
    return attributes


def discovery_questions(request: str) -> dict[str, Any]:
    topics = [
        ("storage", "Where should the data live?", "an in-memory repository behind an interface, easy to swap"),
        ("users", "Who uses it, and do they need accounts or roles?", "a single trusted user; no authentication"),
        ("interface", "Which interface do you need: HTTP API, command line or library?", "a Python library API"),
        ("scale", "How much data and traffic do you expect?", "thousands of records, one process"),
        ("integrations", "Does it talk to other systems?", "no external integrations"),
    ]
    questions = [
        {"id": f"q{i}", "question": question, "why": f"decides the {topic} design", "default_assumption": default}
        for i, (topic, question, default) in enumerate(topics, start=1)
    ]
    return {"questions": questions, "initial_entities": [pascal(noun) for noun in request_nouns(request)]}


def discovery_assumptions(questions_json: str | None) -> dict[str, Any]:
    questions = _json_list(questions_json)
    answers = []
    for question in questions:
        if isinstance(question, dict) and isinstance(question.get("id"), str):
            answer = question.get("default_assumption") or "the most conventional choice for a small Python service"
            answers.append({"question_id": question["id"], "answer": str(answer)})
    assumptions = [f"{a['question_id']}: {a['answer']}" for a in answers] or ["a small, well-tested Python library"]
    return {"answers": answers, "assumptions": assumptions}


def _json_list(raw: str | None) -> list[Any]:
    if raw is None:
        return []
    try:
        value = orjson.loads(raw.strip())
    except orjson.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


def domain_model(request: str, answers_json: str | None, seed: int, entity_count: int = MIN_ENTITIES) -> dict[str, Any]:
    names = entity_names(request, entity_count)
    entities = []
    for i, name in enumerate(names):
        context = "core" if i < (len(names) + 1) // 2 else "operations"
        entities.append(
            {
                "name": name,
                "description": f"a {title_words(name)} the service keeps",
                "context": context,
                "attributes": entity_attributes(name, names[:i], seed),
            }
        )
    contexts = sorted({str(entity["context"]) for entity in entities})
    answers = _json_object(answers_json)
    return {
        "project_name": project_name(request),
        "summary": f"A Python service that keeps {', '.join(title_words(n) + 's' for n in names)}.",
        "bounded_contexts": [
            {
                "name": context,
                "description": f"the {context} part of the domain",
                "entities": [e["name"] for e in entities if e["context"] == context],
            }
            for context in contexts
        ],
        "entities": entities,
        "value_objects": [{"name": "Identifier", "description": "an entity id such as book-1", "attributes": []}],
        "aggregates": [
            {"root": name, "members": [], "invariants": [f"a {title_words(name)} always has a non-empty name"]}
            for name in names
        ],
        "domain_events": [
            {"name": f"{name}Created", "trigger": f"a {title_words(name)} is created", "payload": ["id", "name"]}
            for name in names
        ],
        "use_cases": [
            {"name": f"Register {title_words(name)}", "actor": "user", "description": f"create a {title_words(name)}"}
            for name in names
        ],
        "assumptions": [f"{key}: {value}" for key, value in answers.items()] or ["data is kept in memory"],
    }


def _json_object(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = orjson.loads(raw.strip())
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
