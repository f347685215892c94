"""Prompt text for the executor's tails, with the tags of docs/request-layout.md."""

from __future__ import annotations

from collections.abc import Mapping

from masterplan.cache.layout import canonical_json, json_artifact, tagged

__all__ = ["canonical_json", "file_tags", "json_artifact", "tag"]


def tag(name: str, body: str, **attributes: str) -> str:
    return tagged(name, "\n" + body + "\n", **attributes)


def file_tags(files: Mapping[str, str | None]) -> str:
    return "\n".join(tag("file", content, path=path) for path, content in files.items() if content is not None)
