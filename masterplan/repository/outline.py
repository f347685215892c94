"""The outline of a Python file from ``ast``: its public top-level classes and functions, and what it imports.

Only parsed, never imported or run. A file that does not parse (or nests too deep for the parser) is shown by
name with ``(does not parse)``; the map stays useful for the rest.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_SIGNATURE_CHARS = 120
MAX_DOC_CHARS = 120
MAX_METHODS = 12


@dataclass(frozen=True)
class Symbol:
    kind: str
    """``class`` or ``def``."""
    name: str
    signature: str
    """What follows the name: ``(bases)`` for a class, ``(args) -> returns`` for a function."""
    doc: str = ""
    members: tuple[Symbol, ...] = ()
    """A class's public methods (and ``__init__``)."""

    def lines(self, indent: str = "  ") -> list[str]:
        keyword = "class" if self.kind == "class" else "def"
        head = f"{indent}{keyword} {self.name}{self.signature}"
        lines = [f"{head}: {self.doc}" if self.doc else head]
        for member in self.members:
            lines += member.lines(indent + "  ")
        return lines


@dataclass(frozen=True)
class PythonOutline:
    symbols: tuple[Symbol, ...] = ()
    imports: frozenset[str] = field(default_factory=frozenset)
    """Absolute module names the file imports (relative imports resolved against its own module)."""
    parses: bool = True


def outline_python(source: str, module: str, *, is_package: bool = False) -> PythonOutline:
    """``module``: the file's dotted name (``pkg.sub.mod``), to resolve its relative imports."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return PythonOutline(parses=False)
    symbols = tuple(symbol for node in tree.body if (symbol := _symbol(node, top=True)) is not None)
    return PythonOutline(symbols=symbols, imports=frozenset(_imports(tree, module, is_package)))


def _symbol(node: ast.stmt, *, top: bool) -> Symbol | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if node.name.startswith("_") and (top or node.name != "__init__"):
            return None
        prefix = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
        returns = f" -> {_source(node.returns)}" if node.returns is not None else ""
        arguments = _source(node.args)
        if not top:  # a method's receiver says nothing
            arguments = re.sub(r"^(self|cls)(, )?", "", arguments)
        signature = _clip(f"({arguments}){returns}", MAX_SIGNATURE_CHARS)
        return Symbol(kind=f"{prefix}def", name=node.name, signature=signature, doc=_doc(node))
    if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
        bases = ", ".join(_source(base) for base in node.bases)
        methods = [method for child in node.body if (method := _symbol(child, top=False)) is not None]
        return Symbol(
            kind="class",
            name=node.name,
            signature=_clip(f"({bases})", MAX_SIGNATURE_CHARS) if bases else "",
            doc=_doc(node),
            members=tuple(methods[:MAX_METHODS]),
        )
    return None


def _imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level <= len(package) else []
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            if prefix:
                found.add(prefix)
                found.update(f"{prefix}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every statement, nested ones included, without visiting expressions (imports are statements; a walk
    of every node costs more than the parse)."""
    pending: list[ast.AST] = list(reversed(body))
    while pending:
        node = pending.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                pending.extend(reversed(children))


def _doc(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    text = ast.get_docstring(node, clean=True)
    if not text:
        return ""
    return _clip(text.strip().splitlines()[0], MAX_DOC_CHARS)


def _source(node: ast.AST) -> str:
    try:
        return " ".join(ast.unparse(node).split())
    except (ValueError, RecursionError):
        return "..."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
