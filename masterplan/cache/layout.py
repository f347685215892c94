"""The tags of docs/request-layout.md, rendered deterministically (the same input gives the same bytes).

JSON is serialized with orjson and sorted keys, so a document or plan renders identically on every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import orjson
from pydantic import BaseModel

from masterplan import models


def canonical_json(value: BaseModel | Sequence[BaseModel] | object) -> str:
    """Sorted-key JSON of a pydantic model, a list of them, or plain JSON data."""
    if isinstance(value, BaseModel):
        data: object = value.model_dump(mode="json")
    elif isinstance(value, list | tuple) and all(isinstance(item, BaseModel) for item in value):
        data = [item.model_dump(mode="json") for item in value]
    else:
        data = value
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def json_artifact(run_id: str, name: str, value: BaseModel | Sequence[BaseModel] | object) -> models.Artifact:
    """A run's artifact holding ``value`` as canonical JSON: stored once, it reads back to the same bytes."""
    return models.Artifact(run_id=run_id, name=name, content_type="application/json", content=canonical_json(value))


def tagged(tag: str, body: str, **attributes: str) -> str:
    attrs = "".join(f' {name}="{value}"' for name, value in attributes.items())
    return f"<{tag}{attrs}>{body}</{tag}>"


def schema_for(name: str) -> type[models.LLMOutput]:
    """The models.py class an answer must match, by the name phases.toml gives."""
    candidate = getattr(models, name, None)
    if not (isinstance(candidate, type) and issubclass(candidate, models.LLMOutput)):
        known = sorted(
            n
            for n, v in vars(models).items()
            if isinstance(v, type) and issubclass(v, models.LLMOutput) and v is not models.LLMOutput
        )
        raise ValueError(f"unknown output schema {name!r}; known: {', '.join(known)}")
    return candidate


@cache
def _schema_json(schema: type[BaseModel]) -> str:
    return orjson.dumps(schema.model_json_schema(), option=orjson.OPT_SORT_KEYS).decode()


def system_text(role_prompt: str, schema: type[BaseModel]) -> str:
    """Role prompt, blank line, then the output schema the answer must match."""
    schema_json = _schema_json(schema)
    return role_prompt.rstrip() + "\n\n" + tagged("output_schema", schema_json, name=schema.__name__)


def completed_task_line(task_id: str, summary: str, files: Sequence[str]) -> str:
    """One line of the completed-tasks log: ``task_id: summary (files)``."""
    flat = " ".join(summary.split())
    return f"{task_id}: {flat} ({', '.join(files)})"
