"""What a repository says about itself: its test command, its package metadata, the head of its README.

Read from the selected (tracked, plain) files only, parsed as data (TOML, INI, JSON, a Makefile's target
lines); nothing of the repository is executed here. The test command is an argument list, never a shell
string, and it runs later in the sandbox like every check.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

README_NAMES = ("README.md", "README.rst", "README.txt", "README")
README_HEAD_LINES = 40
README_HEAD_CHARS = 3000
MAX_DEPENDENCIES = 20
NPM_DEFAULT_TEST = "no test specified"
"""What ``npm init`` writes into ``scripts.test``: not a test suite."""
PYTEST = ("python", "-m", "pytest")

FileText = Callable[[str], str | None]
"""Path -> the text of a selected file at the repository's root level, or None when there is none."""


@dataclass(frozen=True)
class TestCommand:
    argv: tuple[str, ...]
    source: str
    """Where it was found, for the map and the report (``pyproject.toml [tool.pytest.ini_options]``...)."""

    @property
    def text(self) -> str:
        return " ".join(self.argv)


def detect_test_command(read: FileText, files: frozenset[str]) -> TestCommand | None:
    """pytest settings first (pyproject.toml, setup.cfg, pytest.ini, tox.ini), then a Makefile ``test``
    target, then a package.json ``test`` script; else pytest when there are test files; else None."""
    pyproject = _toml(read("pyproject.toml"))
    if _get(pyproject, "tool", "pytest") is not None:
        return TestCommand(PYTEST, "pyproject.toml [tool.pytest.ini_options]")
    for name, section in (("setup.cfg", "tool:pytest"), ("pytest.ini", "pytest"), ("tox.ini", "pytest")):
        if section in _ini_sections(read(name)):
            return TestCommand(PYTEST, f"{name} [{section}]")
    for name in ("Makefile", "makefile", "GNUmakefile"):
        if re.search(r"^test\s*:(?!=)", read(name) or "", re.MULTILINE):
            return TestCommand(("make", "test"), f"{name} test target")
    script = _get(_json(read("package.json")), "scripts", "test")
    if isinstance(script, str) and script.strip() and NPM_DEFAULT_TEST not in script:
        return TestCommand(("npm", "test"), "package.json scripts.test")
    if any(_is_python_test(path) for path in files):
        return TestCommand(PYTEST, "test files (test_*.py)")
    return None


def package_metadata(read: FileText) -> dict[str, str]:
    """Name, version, description and dependencies from pyproject.toml, setup.cfg or package.json."""
    pyproject = _toml(read("pyproject.toml"))
    project = _get(pyproject, "project")
    if isinstance(project, Mapping):
        return _described(project, project.get("dependencies"), "pyproject.toml")
    poetry = _get(pyproject, "tool", "poetry")
    if isinstance(poetry, Mapping):
        return _described(poetry, list(_mapping(poetry.get("dependencies"))), "pyproject.toml [tool.poetry]")
    setup = _ini(read("setup.cfg"))
    if setup is not None and setup.has_section("metadata"):
        metadata = dict(setup.items("metadata", raw=True))
        requires = setup.get("options", "install_requires", raw=True, fallback="")
        return _described(metadata, requires.split(), "setup.cfg")
    package = _json(read("package.json"))
    if isinstance(package, Mapping):
        return _described(package, list(_mapping(package.get("dependencies"))), "package.json")
    return {}


def readme_head(read: FileText) -> tuple[str, str] | None:
    """(file name, its first lines) of the repository's README, if it has one."""
    for name in README_NAMES:
        text = read(name)
        if text and text.strip():
            head = "\n".join(text.splitlines()[:README_HEAD_LINES])
            return name, head[:README_HEAD_CHARS].rstrip()
    return None


def _described(fields: Mapping[str, Any], dependencies: object, source: str) -> dict[str, str]:
    described = {"source": source}
    for key in ("name", "version", "description", "requires-python"):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            described[key] = " ".join(value.split())[:200]
    if isinstance(dependencies, list):
        names = [str(item) for item in dependencies if isinstance(item, str)][:MAX_DEPENDENCIES]
        if names:
            described["dependencies"] = ", ".join(names)
    return described


def _is_python_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _toml(text: str | None) -> Mapping[str, Any] | None:
    if not text:
        return None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None


def _json(text: str | None) -> object:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _ini(text: str | None) -> configparser.ConfigParser | None:
    if not text:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser


def _ini_sections(text: str | None) -> list[str]:
    parser = _ini(text)
    return parser.sections() if parser is not None else []


def _get(value: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
