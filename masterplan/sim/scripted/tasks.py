"""Task answers: the files a plan task asks for, with code and tests that pass."""

from __future__ import annotations

from typing import Any

from masterplan.sim.scripted.entities import parse_json
from masterplan.sim.scripted.generic import generic_files


def task_output(
    task_json: str | None, document_json: str | None, plan_json: str | None, request: str, seed: int
) -> Any:
    task = parse_json(task_json)
    if not isinstance(task, dict):
        task = {"task_id": "task", "title": "task", "files": []}
    files = [path for path in task.get("files", []) if isinstance(path, str)]
    title = str(task.get("title", "task"))
    generated = generic_files(files, title)
    return {
        "files": [{"path": path, "content": content} for path, content in generated.items()],
        "summary": f"{task.get('task_id', 'task')}: {title} in {', '.join(generated)}."[:2000],
        "notes": "",
    }
