"""Search/replace edits built from a file's real content, so that each search text occurs there exactly once."""

from __future__ import annotations

from typing import Any

MIN_SEARCH_LINES = 2
"""A search text of a couple of lines, as a developer would copy it, when the file has them."""


def unique_tail(content: str) -> str | None:
    """The fewest last lines of ``content`` (trailing blank lines left out) that occur in it exactly once."""
    body = content.rstrip()
    if not body:
        return None
    lines = body.split("\n")
    for count in range(min(MIN_SEARCH_LINES, len(lines)), len(lines) + 1):
        search = "\n".join(lines[-count:])
        if search.strip() and content.count(search) == 1:
            return search
    return body


def append_edit(path: str, content: str, addition: str, *, gap: str = "\n\n\n") -> dict[str, Any] | None:
    """An edit adding ``addition`` after the last lines of ``content``; None for an empty file."""
    search = unique_tail(content)
    if search is None:
        return None
    return {"path": path, "search": search, "replace": search + gap + addition.rstrip("\n")}
