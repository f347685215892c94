"""Search/replace edits of existing files: each search text must match exactly once.

An edit names a file, a ``search`` text copied from the file's current content and its ``replace``ment.
The edits of one file apply in order, each to the result of the ones before. A search text that is not in
the file, or is in it more than once, refuses the whole answer with a message the model can act on: where
the text matches, or the lines of the file closest to it (found with ``difflib``), so the re-ask within the
attempt can copy the real text. Design note 000's JSON-first rule holds: edits are JSON fields, not diffs.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Sequence
from typing import Literal

from masterplan.models import FileEdit

CONTEXT_LINES = 3
"""Lines shown around the closest match of a search text that misses."""
CANDIDATES = 20
"""Windows scored exactly after the quick pre-filter (``SequenceMatcher.quick_ratio``)."""
MAX_SHOWN_LINES = 40

__all__ = ["EditMismatch", "FileEdit", "apply_edits", "closest_lines"]

MismatchCause = Literal["absent", "ambiguous"]


class EditMismatch(ValueError):
    """An edit whose search text does not match exactly once; the message is the feedback for the model.

    ``index`` is the edit's position among the file's edits, from 1; ``cause`` is recorded with the attempt.
    """

    def __init__(self, path: str, index: int, cause: MismatchCause, detail: str) -> None:
        super().__init__(f"edit {index} of {path}: {detail}")
        self.path = path
        self.index = index
        self.cause: MismatchCause = cause


def apply_edits(path: str, content: str, edits: Sequence[FileEdit]) -> str:
    """``content`` after ``edits`` (all of ``path``), or ``EditMismatch`` for the first that does not match once."""
    for index, edit in enumerate(edits, start=1):
        count = content.count(edit.search)
        if count == 1:
            content = content.replace(edit.search, edit.replace, 1)
            continue
        if count == 0:
            detail = "the search text is not in the file. " + closest_lines(content, edit.search)
            raise EditMismatch(path, index, "absent", detail)
        lines = ", ".join(str(line) for line in _match_lines(content, edit.search))
        detail = (
            f"the search text is in the file {count} times (starting on lines {lines}); "
            "add the lines around the one to change so that it matches once"
        )
        raise EditMismatch(path, index, "ambiguous", detail)
    return content


def closest_lines(content: str, search: str) -> str:
    """The lines of ``content`` most like ``search``, numbered, with a little context either side."""
    lines = content.splitlines()
    if not lines:
        return "The file is empty."
    wanted = search.strip("\n").splitlines() or [search]
    size = min(len(wanted), len(lines))
    target = "\n".join(wanted)
    windows = range(len(lines) - size + 1)

    def matcher(start: int) -> difflib.SequenceMatcher[str]:
        return difflib.SequenceMatcher(None, "\n".join(lines[start : start + size]), target, autojunk=False)

    shortlist = heapq.nlargest(CANDIDATES, windows, key=lambda start: matcher(start).quick_ratio())
    best = max(shortlist, key=lambda start: (matcher(start).ratio(), -start))
    first = max(0, best - CONTEXT_LINES)
    last = min(len(lines), best + size + CONTEXT_LINES, first + MAX_SHOWN_LINES)
    shown = "\n".join(f"{number:>5}| {lines[number - 1]}" for number in range(first + 1, last + 1))
    return f"The closest lines of the file (lines {best + 1}-{best + size}) are, with the lines around them:\n{shown}"


def _match_lines(content: str, search: str) -> list[int]:
    found, start = [], content.find(search)
    while start != -1:
        found.append(content.count("\n", 0, start) + 1)
        start = content.find(search, start + len(search))
    return found
