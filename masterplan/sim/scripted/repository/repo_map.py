"""Reading a ``<repository_map>`` back: the repository's facts, its files and their outlines.

The map's text is laid out by masterplan's ``repository/map.py``: header lines at the left margin
(``repository:``, ``test command:``, ``package (...):``, ``README.md (head):``), then ``files:`` with each
path indented two spaces and, for a Python file, its public classes, methods and functions indented
further (``def name(signature) -> returns: first docstring line``), then maybe ``other files, by
directory:`` for the files a budget-limited map only names. Only what the map shows is used: a function
the map does not show is unknown to the scripted model, as it would be to a real one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

_SYMBOL = re.compile(r"^(class|async def|def) ([A-Za-z_][A-Za-z0-9_]*)(.*)$")
_REPOSITORY = re.compile(r"^repository: (.*?) \(\d+ tracked files")
_SUMMARY = re.compile(r"^  (.+)/ \((\d+) files?\): (.*)$")
_NOT_PARSED = " (does not parse)"
_OPENERS = "([{"
_CLOSERS = ")]}"


@dataclass(frozen=True)
class MapSymbol:
    kind: str
    """``class``, ``def`` or ``async def``."""
    name: str
    signature: str
    """What follows the name up to the docstring: ``(bases)``, or ``(args) -> returns`` (maybe clipped with …)."""
    doc: str = ""
    members: tuple[MapSymbol, ...] = ()


@dataclass(frozen=True)
class MapView:
    name: str
    test_command: str | None
    metadata: dict[str, str]
    readme: str | None
    """The README's file name when the map shows its head."""
    files: dict[str, tuple[MapSymbol, ...]]
    """Every file shown in detail, with the top-level symbols of a Python file (empty for others)."""
    unparsable: frozenset[str] = frozenset()
    directories: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    """The files only summarised: directory (``(root)`` at the top) -> (how many, the names shown)."""

    def exists(self, path: str) -> bool:
        """Whether the map says ``path`` (a file or a directory) exists: shown, or named in the summary."""
        if path in self.files or any(shown.startswith(path + "/") for shown in self.files):
            return True
        pure = PurePosixPath(path)
        directory = str(pure.parent) if str(pure.parent) != "." else "(root)"
        if pure.name in self.directories.get(directory, (0, ()))[1]:
            return True
        return any(name == path or name.startswith(path + "/") for name in self.directories)

    def python_files(self) -> list[str]:
        return [path for path in self.files if path.endswith(".py") and path not in self.unparsable]


def parse_repository_map(text: str) -> MapView:
    lines = text.splitlines()
    header, files_at = _split(lines, "files:")
    rest = lines[files_at + 1 :]
    file_lines, summary_at = _split(rest, "other files, by directory:")
    summary_lines = rest[summary_at + 1 :]
    files, unparsable = _files(file_lines)
    return MapView(
        name=_repository_name(header),
        test_command=_test_command(header),
        metadata=_section(header, "package ("),
        readme=_readme(header),
        files=files,
        unparsable=frozenset(unparsable),
        directories=_summary(summary_lines),
    )


def _split(lines: list[str], marker: str) -> tuple[list[str], int]:
    """The lines before the ``marker`` line and its index (len(lines) when absent)."""
    index = next((i for i, line in enumerate(lines) if line == marker), len(lines))
    return lines[:index], index


def _repository_name(header: list[str]) -> str:
    match = _REPOSITORY.match(header[0]) if header else None
    return match.group(1) if match else "repository"


def _test_command(header: list[str]) -> str | None:
    line = next((line for line in header if line.startswith("test command: ")), None)
    if line is None or line == "test command: none found":
        return None
    return re.sub(r" \(from .*\)$", "", line[len("test command: ") :])


def _section(header: list[str], opener: str) -> dict[str, str]:
    """``key: value`` lines indented under the header line starting with ``opener``."""
    start = next((i for i, line in enumerate(header) if line.startswith(opener)), None)
    found: dict[str, str] = {}
    if start is None:
        return found
    for line in header[start + 1 :]:
        if not line.startswith("  "):
            break
        key, sep, value = line.strip().partition(": ")
        if sep:
            found[key] = value
    return found


def _readme(header: list[str]) -> str | None:
    line = next((line for line in header if line.endswith(" (head):") and not line.startswith(" ")), None)
    return line[: -len(" (head):")] if line else None


def _files(lines: list[str]) -> tuple[dict[str, tuple[MapSymbol, ...]], list[str]]:
    files: dict[str, list[tuple[int, MapSymbol]]] = {}
    unparsable: list[str] = []
    current: str | None = None
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        if indent == 2:
            current = line[2:]
            if current.endswith(_NOT_PARSED):
                current = current[: -len(_NOT_PARSED)]
                unparsable.append(current)
            files[current] = []
        elif indent >= 4 and current is not None:
            symbol = _symbol(line.strip())
            if symbol is not None:
                files[current].append(((indent - 4) // 2, symbol))
    return {path: _nest(entries) for path, entries in files.items()}, unparsable


def _nest(entries: list[tuple[int, MapSymbol]]) -> tuple[MapSymbol, ...]:
    """Top-level symbols with their methods (the map indents a class's methods one level deeper)."""
    top: list[MapSymbol] = []
    members: list[MapSymbol] = []
    for depth, symbol in entries:
        if depth == 0:
            if top:
                top[-1] = _with_members(top[-1], members)
            top.append(symbol)
            members = []
        elif depth == 1 and top:
            members.append(symbol)
    if top:
        top[-1] = _with_members(top[-1], members)
    return tuple(top)


def _with_members(symbol: MapSymbol, members: list[MapSymbol]) -> MapSymbol:
    return MapSymbol(symbol.kind, symbol.name, symbol.signature, symbol.doc, tuple(members))


def _symbol(text: str) -> MapSymbol | None:
    match = _SYMBOL.match(text)
    if match is None:
        return None
    kind, name, rest = match.groups()
    signature, doc = _signature_and_doc(rest)
    return MapSymbol(kind, name, signature, doc)


def _signature_and_doc(rest: str) -> tuple[str, str]:
    """Split ``(args) -> returns: doc`` at the first ``: `` outside brackets (a clip … closes them all)."""
    depth = 0
    for index, char in enumerate(rest):
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth = max(0, depth - 1)
        elif char == "…":
            depth = 0
        elif char == ":" and depth == 0 and rest[index + 1 : index + 2] in (" ", ""):
            return rest[:index], rest[index + 2 :]
    return rest, ""


def _summary(lines: list[str]) -> dict[str, tuple[int, tuple[str, ...]]]:
    found: dict[str, tuple[int, tuple[str, ...]]] = {}
    for line in lines:
        match = _SUMMARY.match(line)
        if match is None:
            continue
        names = tuple(name for name in match.group(3).split(", ") if name and name != "…")
        found[match.group(1)] = (int(match.group(2)), names)
    return found
