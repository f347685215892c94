"""Content faults: damage done to an answer that the API still delivers with status 200."""

from __future__ import annotations

import random
from typing import Any

from masterplan.sim.edit_faults import miss_first_edit
from masterplan.sim.faults import FaultDraw, FaultKind
from masterplan.sim.roles import Role

PROSE_BEFORE = "Sure! Here is the JSON object you asked for, following the schema:\n\n"
PROSE_AFTER = "\n\nLet me know if you would like me to change anything."


def apply_object_faults(
    role: Role, answer: Any, draw: FaultDraw, rng: random.Random, tail: str = ""
) -> list[FaultKind]:
    """Faults that change the answer's content (plans and task outputs), in place.

    ``tail``: the request's last user message, where ``edit_miss`` finds the file an edit changes.
    """
    applied: list[FaultKind] = []
    plan_fault = draw.get("plan")
    if role == "master_plan" and plan_fault is not None and _damage_plan(answer, plan_fault, rng):
        applied.append(plan_fault)
    code_fault = draw.get("code")
    if role == "task_execution" and code_fault == "edit_miss":
        if miss_first_edit(answer, tail, rng) is not None:
            applied.append(code_fault)
    elif role == "task_execution" and code_fault is not None and _damage_task_output(answer, code_fault, rng):
        applied.append(code_fault)
    return applied


def _damage_plan(plan: Any, fault: FaultKind, rng: random.Random) -> bool:
    tasks = plan.get("tasks", []) if isinstance(plan, dict) else []
    dependent = [task for task in tasks if task.get("depends_on")]
    if fault == "plan_cycle":
        if not dependent:
            return False
        later = rng.choice(dependent)
        earlier = next(task for task in tasks if task["task_id"] == later["depends_on"][0])
        earlier["depends_on"] = [*earlier["depends_on"], later["task_id"]]
        return True
    if not tasks:
        return False
    victim = rng.choice(tasks)
    known = {task["task_id"] for task in tasks}
    missing = next(f"T{n:03d}" for n in range(900, 1000) if f"T{n:03d}" not in known)
    victim["depends_on"] = [*victim.get("depends_on", []), missing]
    return True


def _damage_task_output(output: Any, fault: FaultKind, rng: random.Random) -> bool:
    files = output.get("files", []) if isinstance(output, dict) else []
    if not files:
        return False
    if fault == "path_escape":
        victim = rng.choice(files)
        name = victim["path"].rsplit("/", 1)[-1]
        victim["path"] = rng.choice([f"../{victim['path']}", f"/tmp/{name}"])
        return True
    sources = [f for f in files if f["path"].endswith(".py") and not f["path"].rsplit("/", 1)[-1].startswith("test_")]
    tests = [f for f in files if f["path"].rsplit("/", 1)[-1].startswith("test_") and f["path"].endswith(".py")]
    if fault == "syntax_error":
        victim = rng.choice(sources or tests or files)
        victim["content"] += "\n\ndef finish_setup(config:\n    return config\n"
        return True
    if tests:
        rng.choice(tests)["content"] += (
            "\n\ndef test_totals_add_up() -> None:\n    totals = [1, 2, 3]\n    assert sum(totals) == 7\n"
        )
    else:
        files.append(
            {
                "path": "tests/test_totals.py",
                "content": "def test_totals_add_up() -> None:\n    assert sum([1, 2, 3]) == 7\n",
            }
        )
    return True


def apply_text_faults(text: str, draw: FaultDraw, rng: random.Random) -> tuple[str, list[FaultKind], bool]:
    """Wrapping and damage of the answer's text; returns (text, applied, truncated)."""
    applied: list[FaultKind] = []
    wrapping = draw.get("wrapping")
    if wrapping == "prose_json":
        text = PROSE_BEFORE + text + PROSE_AFTER
        applied.append(wrapping)
    elif wrapping == "fenced_json":
        text = "```json\n" + text + "\n```"
        applied.append(wrapping)
    damage = draw.get("damage")
    truncated = False
    if damage == "malformed_json":
        closing = text.rfind("}")
        text = text[:closing] + text[closing + 1 :] if closing >= 0 else text + "{"
        colon = text.find('":')
        if colon >= 0:
            text = text[:colon] + '" ' + text[colon + 2 :]
        applied.append(damage)
    elif damage == "truncated" and len(text) > 1:
        text = cut_short(text, rng)
        applied.append(damage)
        truncated = True
    return text, applied, truncated


def cut_short(text: str, rng: random.Random) -> str:
    """The ``truncated`` fault: the first 30-90% of the text."""
    return text[: max(1, int(len(text) * rng.uniform(0.3, 0.9)))]
