"""The ``edit_miss`` fault: the first edit of a task answer no longer matches its file exactly once.

Half the draws change a word of its search text so that it matches nowhere (``absent``), half replace it by
a text the file holds more than once, a line or a name (``ambiguous``; ``absent`` when the prompt does not
show the file, or nothing in it repeats).
A re-ask whose ``<feedback>`` is about a search text is spared, so that even at rate 1 the model can
correct itself within the attempt, as masterplan expects of a real one.
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal

from masterplan.sim.roles import split_repository_map, tag_content, tagged_files

EditMiss = Literal["absent", "ambiguous"]
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]")
MIN_REPEATED_LINE = 12
MIN_REPEATED_NAME = 4
_EDIT_FEEDBACK = "search text"
"""What masterplan's feedback about an edit that did not match once says (``executor/edits.py``)."""


def miss_first_edit(output: Any, tail: str, rng: random.Random) -> EditMiss | None:
    """Damage the first edit of ``output`` in place; how, or None when there is no edit or this is a re-ask."""
    edits = output.get("edits") if isinstance(output, dict) else None
    if not edits or not isinstance(edits[0], dict):
        return None
    text = split_repository_map(tail)[1]
    feedback = tag_content(text, "feedback")
    if feedback is not None and _EDIT_FEEDBACK in feedback.lower():
        return None
    edit = edits[0]
    path, search = str(edit.get("path", "")), str(edit.get("search", ""))
    content = _shown_content(text, path)
    repeated = _repeated_text(content, search) if content is not None else None
    if rng.random() < 0.5 and repeated is not None:
        edit["search"] = repeated
        return "ambiguous"
    edit["search"] = _changed(search, content)
    return "absent"


def _shown_content(text: str, path: str) -> str | None:
    for section in ("current_files", "dependency_outputs"):
        found = tagged_files(text, section, [path])
        if path in found:
            return found[path]
    return None


def _repeated_text(content: str, search: str) -> str | None:
    """A text that occurs in ``content`` more than once, as a model copying too little would send: a whole
    line that repeats, else the longest name of the search text that repeats, else a short repeated line."""
    lines = {line.strip() for line in content.split("\n")}
    names = set(_NAME.findall(search))
    for candidates in (
        [line for line in lines if len(line) >= MIN_REPEATED_LINE],
        [name for name in names if len(name) >= MIN_REPEATED_NAME],
        [line for line in lines if len(line) >= 2],
    ):
        repeated = [text for text in candidates if content.count(text) > 1]
        if repeated:
            return max(repeated, key=lambda text: (len(text), text))
    return None


def _changed(search: str, content: str | None) -> str:
    """``search`` with one word changed, so that it is in ``content`` nowhere."""
    for match in _WORD.finditer(search):
        word = match.group(0)
        for other in (word.swapcase(), word + "s", f"renamed_{word}"):
            changed = search[: match.start()] + other + search[match.end() :]
            if content is None or changed not in content:
                return changed
    return search + "\n# a line that is not in the file"
