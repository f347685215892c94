"""Which repository answer a role gets; the roles not listed here are answered as in any run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from masterplan.sim.roles import Role, tagged_files
from masterplan.sim.scripted.entities import parse_json
from masterplan.sim.scripted.plan import target_task_count
from masterplan.sim.scripted.repository.change import Change, plan_change
from masterplan.sim.scripted.repository.discovery import discovery_questions, domain_model
from masterplan.sim.scripted.repository.planning import repository_plan
from masterplan.sim.scripted.repository.repo_map import MapView, parse_repository_map
from masterplan.sim.scripted.repository.task_answers import repository_task_output

Tag = Callable[[str], str | None]
_SHOWN_IN = ("current_files", "dependency_outputs")
"""Where the prompt shows a file's current content, in order of preference."""


def repository_answer(
    role: Role, map_text: str, request: str, tag: Tag, text: str, *, rewrites: bool = False
) -> Any | None:
    """The answer for ``role`` in a repository run, or None when the role's usual answer serves.

    ``tag`` reads a tag of the prompt (tail first); ``text`` is the prompt's last user message.
    """
    if role not in ("discovery_questions", "domain_model", "master_plan", "repair", "task_execution"):
        return None
    view = parse_repository_map(map_text)
    change = plan_change(view, request)
    if role == "discovery_questions":
        return discovery_questions(view, change, request)
    if role == "domain_model":
        answers = parse_json(tag("answers"))
        return domain_model(view, change, request, answers if isinstance(answers, dict) else {})
    if role in ("master_plan", "repair"):
        target = target_task_count(tag("target_tasks"), tag("master_plan") if role == "repair" else None)
        return repository_plan(change, target, view.test_command)
    return _task_output(view, change, request, tag, text, rewrites=rewrites)


def _task_output(view: MapView, change: Change, request: str, tag: Tag, text: str, *, rewrites: bool) -> Any:
    task = parse_json(tag("task"))
    if not isinstance(task, dict):
        task = {"task_id": "task", "title": change.title, "files": [change.feature_path, change.feature_test]}
    paths = [path for path in task.get("files", []) if isinstance(path, str)]
    shown: dict[str, str] = {}
    for section in reversed(_SHOWN_IN):
        shown.update(tagged_files(text, section, paths))
    return repository_task_output(view, change, request, task, shown, rewrites=rewrites)
