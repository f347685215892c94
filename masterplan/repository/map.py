"""The repository map: what a model needs to know of an existing codebase, within a token budget.

Built once before discovery (it parses every tracked Python file; run it in a thread) and kept in the cached
project block, so every call of the run reads it from the cache. It holds, in this order: the repository's
counts and detected test command, its package metadata, the head of its README, then its files, each with
the outline of a Python file (public classes, methods and functions with signatures and the first docstring
line). When the files do not all fit, the most relevant to the request (``ranking``) are shown in detail and
the rest are summarised by directory, so the model still sees every part of the tree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from masterplan.llm.tokens import estimate_tokens
from masterplan.repository.facts import FileText, TestCommand, detect_test_command, package_metadata, readme_head
from masterplan.repository.files import RepositoryFiles, read_text, select_files
from masterplan.repository.outline import PythonOutline, outline_python
from masterplan.repository.ranking import module_name, rank_files

MIN_BUDGET_TOKENS = 500
SUMMARY_SHARE = 4
"""The summary of the files not shown in detail gets at most 1/SUMMARY_SHARE of the budget."""
FRAME_TOKENS = 16
"""The section titles ("files:", "other files, by directory:")."""
NAMES_PER_DIRECTORY = 8


@dataclass(frozen=True)
class RepositoryMap:
    text: str
    tokens: int
    """Estimated as masterplan estimates every prompt (``llm.tokens``); at most the budget."""
    tracked: int
    detailed: int
    """Files shown with their outline; the others selected are summarised by directory."""
    summarised: int
    left_out: dict[str, int] = field(default_factory=dict)
    test_command: TestCommand | None = None


def build_repository_map(root: Path, request: str, *, budget_tokens: int, name: str | None = None) -> RepositoryMap:
    """``request`` ranks the files when they do not all fit in ``budget_tokens``; ``name`` is the repository's
    (default: the root directory's, which for a run's worktree is the run's id)."""
    budget = max(MIN_BUDGET_TOKENS, budget_tokens)
    selected = select_files(root)
    read = _root_reader(root, selected)

    outlines = {path: _outline(root, path) for path in selected.files if path.endswith(".py")}
    test_command = detect_test_command(read, frozenset(selected.files))
    header = _header(name or root.name, selected, test_command, read)
    blocks = {path: _file_block(path, outlines.get(path)) for path in selected.files}
    detailed = _fit(header, blocks, rank_files(selected.files, outlines, request), budget)
    rest = [path for path in selected.files if path not in detailed]
    text = _render(header, [blocks[path] for path in sorted(detailed)], _summary(rest, budget))
    return RepositoryMap(
        text=text,
        tokens=estimate_tokens(text),
        tracked=selected.tracked,
        detailed=len(detailed),
        summarised=len(rest),
        left_out=dict(sorted(selected.left_out.items())),
        test_command=test_command,
    )


def repository_test_command(root: Path) -> TestCommand | None:
    """The test command the map shows, detected again (the map is stored as text)."""
    selected = select_files(root)
    return detect_test_command(_root_reader(root, selected), frozenset(selected.files))


def _root_reader(root: Path, selected: RepositoryFiles) -> FileText:
    at_root = frozenset(path for path in selected.files if "/" not in path)

    def read(name: str) -> str | None:
        return read_text(root, name) if name in at_root else None

    return read


def _outline(root: Path, path: str) -> PythonOutline:
    source = read_text(root, path)
    if source is None:
        return PythonOutline(parses=False)
    module, is_package = module_name(path)
    return outline_python(source, module, is_package=is_package)


def _header(name: str, selected: RepositoryFiles, test_command: TestCommand | None, read: FileText) -> list[str]:
    left_out = ", ".join(f"{count} {reason}" for reason, count in sorted(selected.left_out.items()))
    lines = [
        f"repository: {name} ({selected.tracked} tracked files"
        + (f"; left out of the map: {left_out}" if left_out else "")
        + ")",
        "test command: " + (f"{test_command.text} (from {test_command.source})" if test_command else "none found"),
    ]
    metadata = package_metadata(read)
    if metadata:
        lines.append(f"package ({metadata.pop('source')}):")
        lines += [f"  {key}: {value}" for key, value in metadata.items()]
    readme = readme_head(read)
    if readme is not None:
        name, head = readme
        lines += [f"{name} (head):", *(f"  {line}" for line in head.splitlines())]
    return lines


def _file_block(path: str, outline: PythonOutline | None) -> list[str]:
    if outline is None:
        return [path]
    if not outline.parses:
        return [f"{path} (does not parse)"]
    return [path, *(line for symbol in outline.symbols for line in symbol.lines())]


def _fit(header: list[str], blocks: dict[str, list[str]], ranked: list[str], budget: int) -> set[str]:
    """The files shown in detail: all when they fit; else the best ranked that fit beside the header, leaving
    1/SUMMARY_SHARE of the budget for the summary of the rest (which ``_summary`` never exceeds)."""
    room = budget - _tokens(header) - FRAME_TOKENS
    costs = {path: _tokens(block) for path, block in blocks.items()}
    if sum(costs.values()) <= room:
        return set(ranked)
    room -= budget // SUMMARY_SHARE
    chosen: set[str] = set()
    for path in ranked:
        if costs[path] <= room:
            chosen.add(path)
            room -= costs[path]
    return chosen


def _summary(rest: list[str], budget: int) -> list[str]:
    if not rest:
        return []
    by_directory: dict[str, list[str]] = defaultdict(list)
    for path in rest:
        pure = PurePosixPath(path)
        by_directory[str(pure.parent) if str(pure.parent) != "." else "(root)"].append(pure.name)
    lines: list[str] = []
    allowance = budget // SUMMARY_SHARE
    for directory, names in sorted(by_directory.items()):
        shown = ", ".join(names[:NAMES_PER_DIRECTORY]) + (", …" if len(names) > NAMES_PER_DIRECTORY else "")
        line = f"  {directory}/ ({len(names)} files): {shown}"
        if _tokens(lines) + estimate_tokens(line) > allowance:
            lines.append(f"  … and {len(by_directory) - len(lines)} more directories")
            break
        lines.append(line)
    return lines


def _render(header: list[str], blocks: list[list[str]], summary: list[str]) -> str:
    lines = [*header, "files:"]
    for block in blocks:
        lines += [f"  {block[0]}", *(f"  {line}" for line in block[1:])]
    if summary:
        lines += ["other files, by directory:", *summary]
    return "\n".join(lines) + "\n"


def _tokens(lines: list[str]) -> int:
    """An upper bound of the lines' tokens once rendered (each line indented and ended by a newline)."""
    return sum(estimate_tokens(line) + 1 for line in lines)
