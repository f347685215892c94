"""The setup task of a generated project: pyproject.toml, the package with its layer rules, and tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import render
from masterplan.sim.scripted.layout import SUBPACKAGES

LAYER_ROLES: dict[str, str] = {
    "core": "errors, ids, validation checks and the event bus that every other layer shares",
    "models": "one validated, immutable dataclass per entity, with (de)serialisation",
    "repositories": "in-memory storage per entity, with finders, grouping and transactions",
    "services": "use cases: uniqueness and reference rules, batches, history and events",
    "api": "JSON handlers and a router per entity, independent of any web framework",
    "queries": "search, filters, sorting and pages over a repository",
    "exchange": "CSV and JSON-lines export and import, with line-numbered problems",
    "reports": "statistics over the entities, as data, Markdown and CSV",
}
"""What each layer holds; the subpackage docstrings and the package's LAYERS say the same."""

LAYER_USES: dict[str, tuple[str, ...]] = {
    "core": ("core",),
    "models": ("core", "models"),
    "repositories": ("core", "models", "repositories"),
    "services": ("core", "models", "repositories", "services"),
    "api": ("core", "models", "services", "api"),
    "queries": ("core", "models", "repositories", "queries"),
    "exchange": ("core", "models", "exchange"),
    "reports": ("core", "models", "repositories", "queries", "reports"),
}

_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$project_dist"
version = "0.1.0"
description = "A service that keeps $entities."
requires-python = ">=3.11"
dependencies = []

[project.optional-dependencies]
dev = ["pytest>=8"]

[tool.setuptools.packages.find]
include = ["$package*"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
xfail_strict = true

[tool.ruff]
line-length = 120
target-version = "py311"

[tool.coverage.run]
source = ["$package"]
branch = true
"""

_PACKAGE_INIT = '''
"""$project: a service that keeps $entities.

Layers, each in its own subpackage: models (validated entities), repositories
(storage), services (use cases), api (JSON handlers), queries, exchange (CSV)
and reports. ``core`` holds what they share; ``app`` wires them together.

Arrows point one way: a layer imports only the layers listed for it in
``ALLOWED_IMPORTS``; ``tests/test_package.py`` checks every module against it.
"""

from __future__ import annotations

import ast
from pathlib import Path

__version__ = "0.1.0"

LAYERS: dict[str, str] = $layers
"""Each layer (subpackage) and what it holds."""

ALLOWED_IMPORTS: dict[str, frozenset[str]] = {
$allowed
}
"""The layers each layer may import from (itself included)."""

TOP_LEVEL = "app"
"""The wiring module: it may import every layer, and no layer may import it."""


def may_import(importer: str, imported: str) -> bool:
    """Whether a module of layer ``importer`` may import from layer ``imported``.

    Unknown layers are refused with a ValueError, so a typo in a check cannot pass silently.
    """
    for layer in (importer, imported):
        if layer not in LAYERS and layer != TOP_LEVEL:
            raise ValueError(f"unknown layer {layer!r}; layers are {', '.join(LAYERS)} and {TOP_LEVEL}")
    if importer == TOP_LEVEL:
        return True
    return imported in ALLOWED_IMPORTS[importer]


def imported_layers(path: Path, package: str = __name__) -> set[str]:
    """The layers of ``package`` a source file imports from (``app`` included).

    Absolute imports (``from pkg.models.x import Y``) and relative imports that climb to the
    package root (``from ..models import x`` inside a layer) both count; ``from . import x``
    stays inside the file's own layer and is ignored.
    """
    layers: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
            layers.update(parts[1] for parts in names if parts[0] == package and len(parts) > 1)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == package and len(parts) > 1:
                layers.add(parts[1])
        elif isinstance(node, ast.ImportFrom) and node.level == 2:
            layers.update([node.module.split(".")[0]] if node.module else [alias.name for alias in node.names])
    return layers


def layer_violations(package_dir: Path, package: str = __name__) -> list[str]:
    """Every import that breaks ``ALLOWED_IMPORTS``, as ``"layer/module.py imports other"``; empty is good."""
    broken: list[str] = []
    for layer in LAYERS:
        for path in sorted((package_dir / layer).glob("*.py")):
            for other in sorted(imported_layers(path, package)):
                if (other in LAYERS or other == TOP_LEVEL) and not may_import(layer, other):
                    broken.append(f"{layer}/{path.name} imports {other}")
    return broken
'''

_PACKAGE_TESTS = '''
"""The package installs its layers, knows its version, and its modules keep to the layer rules."""

import importlib
import re
from pathlib import Path

import pytest

import $package
from $package import ALLOWED_IMPORTS, LAYERS, imported_layers, layer_violations, may_import

PACKAGE_DIR = Path($package.__file__).resolve().parent


def test_the_package_has_a_semantic_version() -> None:
    assert $package.__version__ == "0.1.0"
    assert re.fullmatch(r"\\d+\\.\\d+\\.\\d+", $package.__version__)


@pytest.mark.parametrize("layer", $layer_names)
def test_every_layer_is_importable_and_says_what_it_holds(layer: str) -> None:
    module = importlib.import_module(f"$package.{layer}")
    assert module.__doc__
    assert LAYERS[layer] in " ".join(module.__doc__.split())


def test_every_layer_may_import_itself_and_core() -> None:
    for layer in LAYERS:
        assert may_import(layer, layer)
        assert may_import(layer, "core")
    assert ALLOWED_IMPORTS["core"] == frozenset({"core"})


def test_the_rules_point_one_way() -> None:
    assert not may_import("models", "repositories")
    assert not may_import("repositories", "services")
    assert not may_import("services", "api")
    for layer in LAYERS:
        assert not may_import(layer, "app")
        assert may_import("app", layer)


def test_unknown_layers_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown layer 'views'"):
        may_import("views", "core")


def test_no_module_imports_a_layer_it_may_not_use() -> None:
    assert layer_violations(PACKAGE_DIR) == []


def test_the_import_scanner_sees_every_import_form(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import $package.core.ids\\n"
        "from $package.models import x\\n"
        "from ..services import y\\n"
        "from .. import api\\n"
        "from . import z\\n"
        "import os\\n"
    )
    assert imported_layers(source) == {"core", "models", "services", "api"}


def test_a_violation_names_the_module_and_the_layer(tmp_path: Path) -> None:
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "models" / "bad.py").write_text("from $package.services.thing_service import ThingService\\n")
    (tmp_path / "services" / "fine.py").write_text("from ..models.thing import Thing\\n")
    (tmp_path / "core" / "worse.py").write_text("from $package.app import build_application\\n")
    assert layer_violations(tmp_path) == ["core/worse.py imports app", "models/bad.py imports services"]
'''


def setup_files(package: str, project: str, entity_names: list[str]) -> dict[str, str]:
    entities = ", ".join(entity_names) or "records"
    allowed = "\n".join(
        f"    {layer!r}: frozenset({{{', '.join(repr(u) for u in uses)}}})," for layer, uses in LAYER_USES.items()
    )
    layers = "{\n" + "".join(f"    {layer!r}: {role!r},\n" for layer, role in LAYER_ROLES.items()) + "}"
    files = {
        "pyproject.toml": render(
            _PYPROJECT, project_dist=project.replace("_", "-"), package=package, entities=entities
        ),
        f"{package}/__init__.py": render(
            _PACKAGE_INIT, project=project, entities=entities, layers=layers, allowed=allowed
        ),
    }
    for sub in SUBPACKAGES:
        uses = ", ".join(u for u in LAYER_USES[sub] if u != sub) or "nothing else"
        files[f"{package}/{sub}/__init__.py"] = (
            f'"""The {sub} layer of {project}: {LAYER_ROLES[sub]}.\n\nIt imports from: {uses}.\n"""\n'
        )
    files["tests/test_package.py"] = render(_PACKAGE_TESTS, package=package, layer_names=repr(list(SUBPACKAGES)))
    return files
