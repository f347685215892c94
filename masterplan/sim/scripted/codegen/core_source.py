"""The core modules of a generated project: errors, ids and validation checks (no package imports)."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.core_tests import CORE_TESTS
from masterplan.sim.scripted.codegen.values import render

CORE_ERRORS = '''
"""The errors the service raises on purpose; anything else is a bug.

Every domain error carries a stable ``code`` and the ``http_status`` it maps to, so the API
layer turns any of them into a response with ``error_response`` instead of a chain of
``isinstance`` checks, and clients can branch on ``code`` without parsing messages.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error the domain raises deliberately."""

    code: ClassVar[str] = "domain"
    http_status: ClassVar[int] = 400

    def to_payload(self) -> dict[str, Any]:
        """The JSON body that describes this error to a client."""
        return {"error": self.code, "message": str(self)}


class ValidationError(DomainError):
    """An entity or a request carries invalid values; ``problems`` names each one.

    Each problem starts with the field it is about (``"name must be a non-empty string"``),
    which is what ``fields`` and ``problems_for`` rely on to tell a form what to highlight.
    """

    code = "validation"
    http_status = 400

    def __init__(self, entity: str, problems: list[str]) -> None:
        if not problems:
            raise ValueError("a ValidationError needs at least one problem")
        self.entity = entity
        self.problems = list(problems)
        super().__init__(f"invalid {entity}: " + "; ".join(self.problems))

    @property
    def fields(self) -> list[str]:
        """The fields the problems are about, in order of first mention, each once."""
        names: list[str] = []
        for problem in self.problems:
            name = problem.split(" ", 1)[0]
            if name not in names:
                names.append(name)
        return names

    def problems_for(self, field: str) -> list[str]:
        """The problems about one field (empty when that field is fine)."""
        return [problem for problem in self.problems if problem.split(" ", 1)[0] == field]

    def prefixed(self, prefix: str) -> ValidationError:
        """The same problems with ``prefix`` in front of each, e.g. ``"row 3: "`` in a batch."""
        return ValidationError(self.entity, [prefix + problem for problem in self.problems])

    def to_payload(self) -> dict[str, Any]:
        return {"error": self.code, "entity": self.entity, "problems": list(self.problems)}


class NotFoundError(DomainError):
    """No entity of that kind has that id."""

    code = "not_found"
    http_status = 404

    def __init__(self, entity: str, entity_id: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        super().__init__(f"{entity} {entity_id!r} does not exist")

    def to_payload(self) -> dict[str, Any]:
        return {"error": self.code, "entity": self.entity, "id": self.entity_id, "message": str(self)}


class ConflictError(DomainError):
    """The change would break a uniqueness rule or overwrite an existing entity."""

    code = "conflict"
    http_status = 409

    def __init__(self, entity: str, entity_id: str, reason: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        self.reason = reason
        super().__init__(f"{entity} {entity_id!r}: {reason}")

    def to_payload(self) -> dict[str, Any]:
        return {"error": self.code, "entity": self.entity, "id": self.entity_id, "reason": self.reason}


class StateError(DomainError):
    """The entity exists but is not in a state that allows the operation (e.g. restoring a live one)."""

    code = "state"
    http_status = 409

    def __init__(self, entity: str, entity_id: str, reason: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        self.reason = reason
        super().__init__(f"{entity} {entity_id!r} {reason}")


def error_response(error: DomainError) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` for a domain error, as every JSON handler answers it."""
    return error.http_status, error.to_payload()
'''

CORE_IDS = '''
"""Entity ids: a readable prefix and a counter, e.g. ``book-3``.

Ids are handed out per prefix by an ``IdGenerator``. Data that arrives with ids of its own
(an import, a restored backup) must ``reserve`` them, or the generator could later hand out
an id that is already stored.
"""

from __future__ import annotations

import re

_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_ID_PATTERN = re.compile(r"^(?P<prefix>[a-z][a-z0-9_]*)-(?P<number>[0-9]+)$")


def parse_id(value: str) -> tuple[str, int]:
    """Split ``"book-12"`` into ``("book", 12)``; anything else is a ValueError naming the value."""
    match = _ID_PATTERN.match(value)
    if match is None:
        raise ValueError(f"not an entity id: {value!r}")
    return match.group("prefix"), int(match.group("number"))


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID_PATTERN.match(value) is not None


def id_sort_key(value: str) -> tuple[str, int, str]:
    """Natural order of ids: ``book-2`` before ``book-10``; other strings sort by their text."""
    if is_valid_id(value):
        prefix, number = parse_id(value)
        return prefix, number, ""
    return value, -1, value


class IdGenerator:
    """Hands out ids per prefix; one generator per process is enough for in-memory storage."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def next_id(self, prefix: str) -> str:
        _check_prefix(prefix)
        number = self._last.get(prefix, 0) + 1
        self._last[prefix] = number
        return f"{prefix}-{number}"

    def peek(self, prefix: str) -> str:
        """The id ``next_id`` would hand out, without using it up."""
        _check_prefix(prefix)
        return f"{prefix}-{self._last.get(prefix, 0) + 1}"

    def reserve(self, value: str) -> None:
        """Make sure ``value`` is never handed out: later ids of its prefix come after it."""
        prefix, number = parse_id(value)
        self._last[prefix] = max(self._last.get(prefix, 0), number)


def _check_prefix(prefix: str) -> None:
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(f"id prefix must be lower-case snake case, got {prefix!r}")


_default = IdGenerator()


def new_id(prefix: str) -> str:
    """The next id for ``prefix`` from the process-wide generator."""
    return _default.next_id(prefix)


def reserve_id(value: str) -> None:
    """Reserve an id that arrived from outside in the process-wide generator (malformed ids are ignored)."""
    if is_valid_id(value):
        _default.reserve(value)
'''

CORE_VALIDATION = '''
"""Checks shared by every entity: each appends a readable problem instead of raising.

A problem always starts with the field name, so callers can collect every problem of an
entity first and report them together (``ValidationError`` lists them all).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import datetime

MAX_TEXT_LENGTH = 200
"""Longest single-line text (names, titles, labels)."""
MAX_LONG_TEXT_LENGTH = 2000
"""Longest free text (descriptions)."""
STATUSES = ("draft", "active", "blocked", "done")
"""The lifecycle every entity with a ``status`` follows."""
EMAIL_PATTERN = re.compile(r"^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$")
CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")


def require_text(problems: list[str], field: str, value: object, max_length: int = MAX_TEXT_LENGTH) -> None:
    """A non-blank string of at most ``max_length`` characters."""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{field} must be a non-empty string")
    elif len(value) > max_length:
        problems.append(f"{field} must be at most {max_length} characters, got {len(value)}")


def optional_text(problems: list[str], field: str, value: object, max_length: int = MAX_LONG_TEXT_LENGTH) -> None:
    """A string, possibly empty, of at most ``max_length`` characters."""
    if not isinstance(value, str):
        problems.append(f"{field} must be a string")
    elif len(value) > max_length:
        problems.append(f"{field} must be at most {max_length} characters, got {len(value)}")


def require_count(problems: list[str], field: str, value: object) -> None:
    """A whole number >= 0 (``True`` is not a number here, although Python says it is)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{field} must be a whole number >= 0")


def require_in_range(problems: list[str], field: str, value: object, low: int, high: int) -> None:
    """A whole number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{field} must be a whole number from {low} to {high}")


def require_amount(problems: list[str], field: str, value: object) -> None:
    """A finite number >= 0, whole or not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        problems.append(f"{field} must be a number >= 0")


def require_flag(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, bool):
        problems.append(f"{field} must be true or false")


def require_moment(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, datetime):
        problems.append(f"{field} must be a datetime")


def require_text_list(problems: list[str], field: str, value: object) -> None:
    """A list of non-blank strings, none repeated."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        problems.append(f"{field} must be a list of non-empty strings")
    elif len(set(value)) != len(value):
        problems.append(f"{field} must not repeat an item")


def require_email(problems: list[str], field: str, value: object) -> None:
    """Something that looks like an e-mail address (``name@domain.tld``); delivery is not checked."""
    if not isinstance(value, str) or not EMAIL_PATTERN.match(value):
        problems.append(f"{field} must be an e-mail address like name@example.com")


def require_code(problems: list[str], field: str, value: object) -> None:
    """An upper-case business code such as ``BOOK-001``: letters and digits in dash-separated parts."""
    if not isinstance(value, str) or not CODE_PATTERN.match(value):
        problems.append(f"{field} must be an upper-case code like ABC-001")


def require_one_of(problems: list[str], field: str, value: object, choices: Collection[str]) -> None:
    if value not in choices:
        problems.append(f"{field} must be one of {', '.join(choices)}")


def require_status(problems: list[str], field: str, value: object) -> None:
    require_one_of(problems, field, value, STATUSES)


def normalise_text(value: str) -> str:
    """``value`` with surrounding spaces removed and inner runs of whitespace collapsed to one space."""
    return " ".join(value.split())
'''


def core_files(package: str) -> dict[str, str]:
    return {
        f"{package}/core/errors.py": CORE_ERRORS.lstrip(),
        f"{package}/core/ids.py": CORE_IDS.lstrip(),
        f"{package}/core/validation.py": CORE_VALIDATION.lstrip(),
        "tests/test_core.py": render(CORE_TESTS, package=package),
    }
