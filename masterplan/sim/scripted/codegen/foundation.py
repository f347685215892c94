"""Setup, core (errors, ids, validation), the generic repository and the event bus."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import render
from masterplan.sim.scripted.layout import SUBPACKAGES


def setup_files(package: str, project: str, entity_names: list[str]) -> dict[str, str]:
    files = {
        "pyproject.toml": render(
            """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "$project"
            version = "0.1.0"
            description = "A service that keeps $entities."
            requires-python = ">=3.11"

            [tool.setuptools.packages.find]
            include = ["$package*"]

            [tool.pytest.ini_options]
            pythonpath = ["."]
            testpaths = ["tests"]
            """,
            project=project.replace("_", "-"),
            package=package,
            entities=", ".join(entity_names) or "records",
        ),
        f"{package}/__init__.py": render(
            '''
            """$project: a service that keeps $entities.

            Layers, each in its own subpackage: models (validated entities), repositories
            (storage), services (use cases), api (JSON handlers), queries, exchange (CSV)
            and reports. ``core`` holds what they share.
            """

            __version__ = "0.1.0"
            ''',
            project=project,
            entities=", ".join(entity_names) or "records",
        ),
    }
    for sub in SUBPACKAGES:
        files[f"{package}/{sub}/__init__.py"] = f'"""The {sub} layer of {project}."""\n'
    files["tests/test_package.py"] = render(
        '''
        """The package installs its layers and knows its version."""

        import importlib

        import pytest

        import $package


        def test_the_package_has_a_version() -> None:
            assert $package.__version__ == "0.1.0"


        @pytest.mark.parametrize("layer", $layers)
        def test_every_layer_is_importable(layer: str) -> None:
            module = importlib.import_module(f"$package.{layer}")
            assert module.__doc__
        ''',
        package=package,
        layers=repr(list(SUBPACKAGES)),
    )
    return files


CORE_ERRORS = '''
"""The errors the service raises on purpose; anything else is a bug."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises deliberately."""


class ValidationError(DomainError):
    """An entity or a request carries invalid values; ``problems`` names each one."""

    def __init__(self, entity: str, problems: list[str]) -> None:
        self.entity = entity
        self.problems = list(problems)
        super().__init__(f"invalid {entity}: " + "; ".join(self.problems))


class NotFoundError(DomainError):
    """No entity of that kind has that id."""

    def __init__(self, entity: str, entity_id: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        super().__init__(f"{entity} {entity_id!r} does not exist")


class ConflictError(DomainError):
    """The change would break a uniqueness rule or overwrite an existing entity."""

    def __init__(self, entity: str, entity_id: str, reason: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        self.reason = reason
        super().__init__(f"{entity} {entity_id!r}: {reason}")
'''

CORE_IDS = '''
"""Entity ids: a readable prefix and a counter, e.g. ``book-3``."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator

_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*-[0-9]+$")


class IdGenerator:
    """Hands out ids per prefix; one generator per process is enough for in-memory storage."""

    def __init__(self) -> None:
        self._counters: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))

    def next_id(self, prefix: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
            raise ValueError(f"id prefix must be lower-case snake case, got {prefix!r}")
        return f"{prefix}-{next(self._counters[prefix])}"


_default = IdGenerator()


def new_id(prefix: str) -> str:
    """The next id for ``prefix`` from the process-wide generator."""
    return _default.next_id(prefix)


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID_PATTERN.match(value) is not None
'''

CORE_VALIDATION = '''
"""Checks shared by every entity: each appends a readable problem instead of raising."""

from __future__ import annotations

import math
from datetime import datetime


def require_text(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{field} must be a non-empty string")


def optional_text(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, str):
        problems.append(f"{field} must be a string")


def require_count(problems: list[str], field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{field} must be a whole number >= 0")


def require_amount(problems: list[str], field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        problems.append(f"{field} must be a number >= 0")


def require_flag(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, bool):
        problems.append(f"{field} must be true or false")


def require_moment(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, datetime):
        problems.append(f"{field} must be a datetime")


def require_text_list(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        problems.append(f"{field} must be a list of non-empty strings")
'''

CORE_TESTS = '''
"""Errors, ids and validation checks."""

from datetime import datetime

import pytest

from $package.core.errors import ConflictError, DomainError, NotFoundError, ValidationError
from $package.core.ids import IdGenerator, is_valid_id, new_id
from $package.core import validation


def test_validation_error_lists_every_problem() -> None:
    error = ValidationError("Thing", ["name must be a non-empty string", "size must be a whole number >= 0"])
    assert error.problems == ["name must be a non-empty string", "size must be a whole number >= 0"]
    assert str(error) == "invalid Thing: name must be a non-empty string; size must be a whole number >= 0"
    assert isinstance(error, DomainError)


def test_not_found_and_conflict_name_the_entity() -> None:
    assert str(NotFoundError("Thing", "thing-9")) == "Thing 'thing-9' does not exist"
    conflict = ConflictError("Thing", "thing-1", "name already used")
    assert conflict.reason == "name already used"
    assert "thing-1" in str(conflict)


def test_ids_count_up_per_prefix() -> None:
    ids = IdGenerator()
    assert [ids.next_id("thing"), ids.next_id("thing"), ids.next_id("other")] == ["thing-1", "thing-2", "other-1"]


def test_a_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="snake case"):
        IdGenerator().next_id("Bad Prefix")


def test_new_ids_are_valid_and_distinct() -> None:
    first, second = new_id("sample"), new_id("sample")
    assert first != second
    assert is_valid_id(first)
    assert not is_valid_id("no id")
    assert not is_valid_id(7)


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (validation.require_text, "text", "  "),
        (validation.optional_text, "", 5),
        (validation.require_count, 0, -1),
        (validation.require_count, 4, True),
        (validation.require_amount, 2.5, -0.1),
        (validation.require_amount, 3, float("nan")),
        (validation.require_flag, False, "no"),
        (validation.require_moment, datetime(2024, 1, 1), "2024-01-01"),
        (validation.require_text_list, ["a", "b"], ["a", ""]),
    ],
)
def test_checks_accept_good_values_and_name_the_field_of_bad_ones(check, good, bad) -> None:
    problems: list[str] = []
    check(problems, "field", good)
    assert problems == []
    check(problems, "field", bad)
    assert len(problems) == 1
    assert problems[0].startswith("field must be")
'''


def core_files(package: str) -> dict[str, str]:
    return {
        f"{package}/core/errors.py": CORE_ERRORS.lstrip(),
        f"{package}/core/ids.py": CORE_IDS.lstrip(),
        f"{package}/core/validation.py": CORE_VALIDATION.lstrip(),
        "tests/test_core.py": render(CORE_TESTS, package=package),
    }
