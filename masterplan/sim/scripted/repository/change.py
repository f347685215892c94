"""What the scripted model changes in a repository, decided from its map and the request alone.

Every call of a repository run sees the same map and request, so the questions, the domain model, the
plan and each task's answer agree without remembering anything: a feature module in the main package
named from the request, built on real public names the map shows; self-contained functions appended to
existing modules; a section appended to the README; a test file beside the repository's tests for each.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from masterplan.sim.scripted.naming import request_nouns
from masterplan.sim.scripted.repository.repo_map import MapSymbol, MapView

MAX_SOURCES = 2
"""Existing modules the feature module imports from."""
MAX_PARTS_PER_SOURCE = 3
MAX_EDIT_TARGETS = 3
_NOT_A_PACKAGE = frozenset(["tests", "test", "docs", "doc", "examples", "bench", "benchmarks", "scripts", "tools"])
_NOT_A_SOURCE = frozenset(["__init__.py", "__main__.py", "conftest.py", "setup.py", "manage.py"])
_TEMPLATES = ("label", "initials", "word_count")
"""The kinds of function appended to the edited modules, in turn (``sources.appended_function``)."""


@dataclass(frozen=True)
class Module:
    path: str
    dotted: str
    symbols: tuple[MapSymbol, ...]

    @property
    def public_names(self) -> list[str]:
        return list(dict.fromkeys(symbol.name for symbol in self.symbols if not symbol.name.startswith("test")))


@dataclass(frozen=True)
class Appended:
    """A function the change appends to an existing module, and the test file that checks it."""

    module: Module
    function: str
    template: str
    test_path: str


@dataclass(frozen=True)
class Change:
    package: str
    """Dotted name of the repository's main package ("" when its modules sit at the top)."""
    package_dir: str
    tests_dir: str
    feature: str
    """snake_case name of the feature, from the request (``csv_export``)."""
    title: str
    """The feature's words as the request spells them (``CSV export``)."""
    feature_path: str
    feature_test: str
    parts: tuple[tuple[Module, str], ...]
    """(module, public name) the feature module imports and builds on."""
    appended: tuple[Appended, ...]
    readme: str | None

    @property
    def feature_module(self) -> str:
        return dotted_name(self.feature_path, self.package_dir, self.package)

    @property
    def lines_function(self) -> str:
        return f"{self.feature}_lines"

    def appended_to(self, path: str) -> Appended | None:
        return next((item for item in self.appended if item.module.path == path), None)


def plan_change(view: MapView, request: str) -> Change:
    package_dir = main_package_dir(view)
    package = dotted_name(package_dir + "/__init__.py", package_dir, "") if package_dir else ""
    modules = candidate_modules(view, package_dir, package, request)
    tests_dir = next((name for name in ("tests", "test") if view.exists(name)), "tests")
    feature, title = feature_name(view, package_dir, request)
    feature_path = f"{package_dir}/{feature}.py" if package_dir else f"{feature}.py"
    with_symbols = [module for module in modules if module.public_names]
    parts = tuple(
        (module, name) for module in with_symbols[:MAX_SOURCES] for name in module.public_names[:MAX_PARTS_PER_SOURCE]
    )
    appended = tuple(
        _appended(view, module, feature, _TEMPLATES[index % len(_TEMPLATES)], tests_dir=tests_dir, package=package)
        for index, module in enumerate(modules[:MAX_EDIT_TARGETS])
    )
    return Change(
        package=package,
        package_dir=package_dir,
        tests_dir=tests_dir,
        feature=feature,
        title=title,
        feature_path=feature_path,
        feature_test=_free_path(view, f"{tests_dir}/test_{feature}.py"),
        parts=parts,
        appended=appended,
        readme=view.readme if view.readme is not None and view.exists(view.readme) else None,
    )


def main_package_dir(view: MapView) -> str:
    """The top-level directory with an ``__init__.py`` that is not tests or docs (``src/`` layouts too);
    the one named like the package metadata first, else the one with the most Python files."""
    counts: dict[str, int] = {}
    for path in [*view.files, *_summarised_paths(view)]:
        parts = PurePosixPath(path).parts
        top = 2 if parts[0] in ("src", "lib") and len(parts) > 2 else 1
        if len(parts) > top and path.endswith(".py") and parts[top - 1] not in _NOT_A_PACKAGE:
            root = "/".join(parts[:top])
            counts[root] = counts.get(root, 0) + 1
    packages = [root for root in counts if view.exists(f"{root}/__init__.py") and _identifier(root.split("/")[-1])]
    wanted = view.metadata.get("name", "").replace("-", "_").lower()
    packages.sort(key=lambda root: (root.split("/")[-1].lower() != wanted, -counts[root], root))
    return packages[0] if packages else ""


def candidate_modules(view: MapView, package_dir: str, package: str, request: str) -> list[Module]:
    """Modules of the package the map outlines, most relevant to the request first, then shallow ones."""
    terms = {noun for noun in request_nouns(request, limit=20)}
    found = []
    for path in view.python_files():
        pure = PurePosixPath(path)
        inside = path.startswith(package_dir + "/") if package_dir else "/" not in path
        hidden = any(part.startswith((".", "_")) or part in _NOT_A_PACKAGE for part in pure.parts[:-1])
        if not inside or hidden or pure.name in _NOT_A_SOURCE or pure.name.startswith(("test_", "_")):
            continue
        if not all(
            _identifier(part) for part in pure.with_suffix("").parts[1 if pure.parts[0] in ("src", "lib") else 0 :]
        ):
            continue
        found.append(Module(path, dotted_name(path, package_dir, package), view.files[path]))
    words = {module.path: set(re.split(r"[/_.]", module.path.lower())) for module in found}
    found.sort(key=lambda m: (-len(terms & words[m.path]), not m.public_names, m.path.count("/"), m.path))
    return found


def feature_name(view: MapView, package_dir: str, request: str) -> tuple[str, str]:
    """(snake name, title) from the request's first two nouns, free in the package (``csv_export``)."""
    nouns = [noun for noun in request_nouns(request, limit=6) if noun.isascii()][:2] or ["feature"]
    name = "_".join(nouns)
    if name.startswith("test") or keyword.iskeyword(name):
        name = f"feature_{name}"
    base, suffix = name, 2
    while view.exists(f"{package_dir}/{name}.py" if package_dir else f"{name}.py") or view.exists(
        f"{package_dir}/{name}" if package_dir else name
    ):
        name, suffix = f"{base}_{suffix}", suffix + 1
    return name, _title(request, nouns)


def dotted_name(path: str, package_dir: str, package: str) -> str:
    """The dotted module of ``path`` (a ``src/`` layout's directory is not part of it)."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if package_dir.count("/") == 1 and parts[:1] == [package_dir.split("/", maxsplit=1)[0]]:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _appended(view: MapView, module: Module, feature: str, template: str, *, tests_dir: str, package: str) -> Appended:
    taken = {symbol.name for symbol in module.symbols}
    function, suffix = f"{feature}_{template}", 2
    while function in taken:
        function, suffix = f"{feature}_{template}_{suffix}", suffix + 1
    inner = module.dotted[len(package) + 1 :] if package and module.dotted.startswith(package + ".") else module.dotted
    stem = inner.replace(".", "_") or "package"
    return Appended(module, function, template, _free_path(view, f"{tests_dir}/test_{stem}_{feature}.py"))


def _free_path(view: MapView, path: str) -> str:
    stem, suffix, index = path[: -len(".py")], ".py", 2
    while view.exists(path):
        path, index = f"{stem}_{index}{suffix}", index + 1
    return path


def _summarised_paths(view: MapView) -> list[str]:
    return [
        name if directory == "(root)" else f"{directory}/{name}"
        for directory, (_, names) in view.directories.items()
        for name in names
    ]


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _title(request: str, nouns: list[str]) -> str:
    """The nouns as the request writes them (``CSV export``), else in lower case."""
    words = []
    for noun in nouns:
        match = re.search(rf"\b({re.escape(noun)}\w*)", request, re.IGNORECASE)
        words.append(match.group(1) if match else noun)
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def appended_for(view: MapView, change: Change, path: str) -> Appended | None:
    """What the change appends to the module at ``path``: the planned function, or one made the same way for
    a module the plan did not pick (a plan edited by its user); None for a file that is not a module."""
    planned = change.appended_to(path)
    if planned is not None or path not in view.files or not path.endswith(".py"):
        return planned
    module = Module(path, dotted_name(path, change.package_dir, change.package), view.files[path])
    return _appended(view, module, change.feature, _TEMPLATES[0], tests_dir=change.tests_dir, package=change.package)
