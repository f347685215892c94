"""Which files matter most for a request, when the map cannot show them all.

A file scores for the request's words that name it (a path part or a stem) or one of its symbols, and for
its place in the import graph: files the relevant ones import come next, and widely imported modules (the
repository's core) before leaves. Ties keep path order, so the map is the same for the same repository and
request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from masterplan.repository.outline import PythonOutline

STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "into",
        "add",
        "make",
        "new",
        "use",
        "using",
        "when",
        "then",
        "than",
        "each",
        "every",
        "all",
        "any",
        "should",
        "would",
        "could",
        "can",
        "will",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "its",
        "our",
        "your",
        "their",
        "them",
        "they",
        "you",
        "api",
        "code",
        "file",
        "files",
        "test",
        "tests",
        "support",
    ]
)
NAME_SCORE = 5.0
SYMBOL_SCORE = 3.0
IMPORTED_BY_RELEVANT = 0.5
"""Of an importer's request score, the share passed to each file it imports."""
CENTRALITY_CAP = 3.0


def request_terms(request: str) -> set[str]:
    """Lower-case words of three letters or more, identifiers split at ``_`` and camel case."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9]*", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", request))
    return {word.lower() for word in words if len(word) >= 3 and word.lower() not in STOPWORDS}


def module_name(path: str) -> tuple[str, bool]:
    """The dotted module of a Python path (``src/`` layouts included) and whether it is a package."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    is_package = bool(parts) and parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def rank_files(files: list[str], outlines: Mapping[str, PythonOutline], request: str) -> list[str]:
    terms = request_terms(request)
    direct = {path: _direct_score(path, outlines.get(path), terms) for path in files}
    modules = {module_name(path)[0]: path for path in outlines}
    imported: dict[str, list[str]] = {path: [] for path in files}
    for path, outline in outlines.items():
        for name in outline.imports:
            target = modules.get(name)
            if target is not None and target != path:
                imported[target].append(path)
    scores: dict[str, float] = {}
    for path in files:
        importers = imported[path]
        centrality = min(CENTRALITY_CAP, math.log2(1 + len(importers)))
        inherited = IMPORTED_BY_RELEVANT * max((direct[importer] for importer in importers), default=0.0)
        scores[path] = direct[path] + inherited + centrality
    return sorted(files, key=lambda path: (-scores[path], _is_test(path), path))


def _direct_score(path: str, outline: PythonOutline | None, terms: set[str]) -> float:
    if not terms:
        return 0.0
    pure = PurePosixPath(path)
    names = {part.lower() for part in pure.with_suffix("").parts}
    names |= {piece for name in list(names) for piece in re.split(r"[_\-.]", name) if piece}
    score = NAME_SCORE * len(terms & names)
    if outline is not None:
        symbols = {piece.lower() for symbol in outline.symbols for piece in _identifier_parts(symbol.name)}
        score += SYMBOL_SCORE * len(terms & symbols)
    return score


def _identifier_parts(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ")
    return [name, *spaced.split()]


def _is_test(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(part in ("tests", "test") for part in parts[:-1]) or parts[-1].startswith("test_")
