"""Recognising which masterplan role a request plays, from the request itself.

Follows docs/request-layout.md: the role comes from ``<output_schema name="X">`` in the system
prompt; a MasterPlan request with ``<feedback>`` is a repair. Tags are read from the last user
message (the tail) first, then from the whole prompt. A repository run's ``<repository_map>`` quotes
the repository's docstrings, which may hold anything tag-like: tags are looked up with it cut out.
"""

from __future__ import annotations

import re
from typing import Literal

import orjson

Role = Literal[
    "discovery_questions",
    "discovery_assumptions",
    "domain_model",
    "master_plan",
    "repair",
    "task_execution",
    "qa_review",
    "phase_summary",
    "unknown",
]

_SCHEMA_PATTERN = re.compile(r'<output_schema\s+name="([A-Za-z]+)"')
_REPOSITORY_MAP = re.compile(r"<repository_map>\n?(repository: .*?)\n+</repository_map>", re.DOTALL)
"""Every line of a map but its header starts with spaces, so the first closing tag at a line start ends it."""
_FILE_END = "\n</file>"
_ROLE_BY_SCHEMA: dict[str, Role] = {
    "DiscoveryQuestions": "discovery_questions",
    "DiscoveryAssumptions": "discovery_assumptions",
    "DiscoveryDocument": "domain_model",
    "MasterPlan": "master_plan",
    "TaskOutput": "task_execution",
    "QAReport": "qa_review",
    "PhaseSummary": "phase_summary",
}


def schema_name(system_text: str, user_text: str) -> str | None:
    match = _SCHEMA_PATTERN.search(system_text) or _SCHEMA_PATTERN.search(user_text)
    return match.group(1) if match else None


def tag_content(text: str, tag: str) -> str | None:
    """The text between the last ``<tag>`` and its ``</tag>``, or None when absent."""
    end = text.rfind(f"</{tag}>")
    if end < 0:
        return None
    start = text.rfind(f"<{tag}>", 0, end)
    if start < 0:
        return None
    return text[start + len(tag) + 2 : end]


def split_repository_map(text: str) -> tuple[str | None, str]:
    """(the ``<repository_map>`` text, ``text`` without it); (None, ``text``) when there is no map."""
    match = _REPOSITORY_MAP.search(text)
    if match is None:
        return None, text
    return match.group(1) + "\n", text[: match.start()] + text[match.end() :]


def tagged_files(text: str, tag: str, paths: list[str]) -> dict[str, str]:
    """The content of each of ``paths`` given as ``<file path="...">`` in ``<tag>`` (docs/request-layout.md).

    A file's content ends at the first ``</file>`` line followed by the next file or the closing tag, so
    a file that quotes tags itself still reads whole.
    """
    start = text.find(f"<{tag}>\n<file path=")
    if start < 0:
        return {}
    found: dict[str, str] = {}
    for path in paths:
        opener = f'<file path="{path}">\n'
        at = text.find(opener, start)
        if at < 0:
            continue
        body = at + len(opener)
        end = text.find(_FILE_END, body)
        while end >= 0 and not text.startswith(("\n<file path=", f"\n</{tag}>"), end + len(_FILE_END)):
            end = text.find(_FILE_END, end + 1)
        if end >= 0:
            found[path] = text[body : max(body, end)]
    return found


def find_tag(user_text: str, all_text: str, tag: str) -> str | None:
    found = tag_content(user_text, tag)
    return found if found is not None else tag_content(all_text, tag)


def recognise_role(system_text: str, user_text: str) -> Role:
    name = schema_name(system_text, user_text)
    role = _ROLE_BY_SCHEMA.get(name or "", "unknown")
    if role == "master_plan" and tag_content(split_repository_map(user_text)[1], "feedback") is not None:
        return "repair"
    return role


def task_id_of(user_text: str) -> str | None:
    """The ``task_id`` of the ``<task>`` JSON in the tail, when there is one that parses."""
    raw = tag_content(split_repository_map(user_text)[1], "task")
    if raw is None:
        return None
    try:
        task = orjson.loads(raw.strip())
    except orjson.JSONDecodeError:
        return None
    task_id = task.get("task_id") if isinstance(task, dict) else None
    return task_id if isinstance(task_id, str) else None
