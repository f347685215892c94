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


REPOSITORY_BASE = '''
"""A typed in-memory repository: the storage every entity repository extends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from $package.core.errors import ConflictError, NotFoundError


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)


class InMemoryRepository(Generic[T]):
    """Entities by id, in insertion order. Subclasses set ``entity_name`` for error messages."""

    entity_name = "entity"

    def __init__(self, items: list[T] | None = None) -> None:
        self._items: dict[str, T] = {}
        for item in items or []:
            self.add(item)

    def add(self, item: T) -> T:
        if item.id in self._items:
            raise ConflictError(self.entity_name, item.id, "already stored")
        self._items[item.id] = item
        return item

    def get(self, item_id: str) -> T:
        try:
            return self._items[item_id]
        except KeyError:
            raise NotFoundError(self.entity_name, item_id) from None

    def find(self, item_id: str) -> T | None:
        return self._items.get(item_id)

    def update(self, item: T) -> T:
        if item.id not in self._items:
            raise NotFoundError(self.entity_name, item.id)
        self._items[item.id] = item
        return item

    def remove(self, item_id: str) -> T:
        item = self.get(item_id)
        del self._items[item_id]
        return item

    def list(self) -> list[T]:
        return list(self._items.values())

    def filter(self, predicate: Callable[[T], bool]) -> list[T]:
        return [item for item in self._items.values() if predicate(item)]

    def count(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))
'''

REPOSITORY_BASE_TESTS = '''
"""The generic in-memory repository."""

from dataclasses import dataclass

import pytest

from $package.core.errors import ConflictError, NotFoundError
from $package.repositories.base import InMemoryRepository


@dataclass(frozen=True)
class Widget:
    id: str
    size: int


class WidgetRepository(InMemoryRepository[Widget]):
    entity_name = "Widget"


def test_added_items_can_be_fetched_by_id() -> None:
    repository = WidgetRepository()
    widget = repository.add(Widget("widget-1", 3))
    assert repository.get("widget-1") is widget
    assert repository.find("widget-1") is widget
    assert "widget-1" in repository


def test_adding_the_same_id_twice_is_a_conflict() -> None:
    repository = WidgetRepository([Widget("widget-1", 3)])
    with pytest.raises(ConflictError, match="already stored"):
        repository.add(Widget("widget-1", 4))


def test_missing_ids_raise_not_found_naming_the_entity() -> None:
    repository = WidgetRepository()
    with pytest.raises(NotFoundError, match="Widget 'widget-9'"):
        repository.get("widget-9")
    assert repository.find("widget-9") is None
    with pytest.raises(NotFoundError):
        repository.remove("widget-9")
    with pytest.raises(NotFoundError):
        repository.update(Widget("widget-9", 1))


def test_update_replaces_and_remove_deletes() -> None:
    repository = WidgetRepository([Widget("widget-1", 3)])
    repository.update(Widget("widget-1", 5))
    assert repository.get("widget-1").size == 5
    removed = repository.remove("widget-1")
    assert removed.size == 5
    assert len(repository) == 0


def test_list_keeps_insertion_order_and_filter_selects() -> None:
    repository = WidgetRepository([Widget(f"widget-{n}", n) for n in range(1, 6)])
    assert [w.id for w in repository.list()] == [f"widget-{n}" for n in range(1, 6)]
    assert [w.size for w in repository.filter(lambda w: w.size % 2 == 0)] == [2, 4]
    assert repository.count() == 5
    assert [w.size for w in repository] == [1, 2, 3, 4, 5]
    repository.clear()
    assert repository.list() == []
'''


def repository_base_files(package: str) -> dict[str, str]:
    return {
        f"{package}/repositories/base.py": render(REPOSITORY_BASE, package=package),
        "tests/test_repository_base.py": render(REPOSITORY_BASE_TESTS, package=package),
    }


EVENTS = '''
"""Domain events: publish, subscribe by kind (or ``*``), and an audit log of everything."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Handler = Callable[["DomainEvent"], None]


@dataclass(frozen=True)
class DomainEvent:
    kind: str
    data: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def entity(self) -> str:
        """The part of ``kind`` before the dot: ``book.created`` -> ``book``."""
        return self.kind.split(".", 1)[0]


class EventBus:
    """Synchronous publish/subscribe; a failing handler does not stop the others."""

    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self.history: list[DomainEvent] = []
        self.failures: list[tuple[DomainEvent, Exception]] = []

    def subscribe(self, kind: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for events of ``kind`` (``*`` for all); returns an unsubscribe function."""
        self._handlers[kind].append(handler)
        return lambda: self._handlers[kind].remove(handler)

    def publish(self, kind: str, data: dict[str, Any]) -> DomainEvent:
        event = DomainEvent(kind, dict(data))
        self.history.append(event)
        for handler in [*self._handlers[kind], *self._handlers["*"]]:
            try:
                handler(event)
            except Exception as error:  # a subscriber's bug must not undo the publisher's change
                self.failures.append((event, error))
        return event

    def kinds(self) -> list[str]:
        return [event.kind for event in self.history]


class AuditLog:
    """Keeps one line per event, for people to read."""

    def __init__(self, bus: EventBus) -> None:
        self.lines: list[str] = []
        bus.subscribe("*", self._record)

    def _record(self, event: DomainEvent) -> None:
        subject = event.data.get("id", "?")
        self.lines.append(f"{event.kind} {subject}")
'''

EVENTS_TESTS = '''
"""The event bus and the audit log."""

from $package.core.events import AuditLog, DomainEvent, EventBus


def test_subscribers_get_events_of_their_kind() -> None:
    bus = EventBus()
    seen: list[DomainEvent] = []
    bus.subscribe("thing.created", seen.append)
    bus.publish("thing.created", {"id": "thing-1"})
    bus.publish("thing.deleted", {"id": "thing-1"})
    assert [event.kind for event in seen] == ["thing.created"]
    assert seen[0].entity == "thing"


def test_wildcard_subscribers_get_everything_and_history_keeps_order() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe("*", lambda event: seen.append(event.kind))
    for kind in ("a.created", "b.updated", "a.deleted"):
        bus.publish(kind, {})
    assert seen == ["a.created", "b.updated", "a.deleted"]
    assert bus.kinds() == seen


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[str] = []
    unsubscribe = bus.subscribe("x.done", lambda event: seen.append(event.kind))
    bus.publish("x.done", {})
    unsubscribe()
    bus.publish("x.done", {})
    assert seen == ["x.done"]


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = EventBus()
    seen: list[str] = []

    def broken(event: DomainEvent) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("y.done", broken)
    bus.subscribe("y.done", lambda event: seen.append(event.kind))
    bus.publish("y.done", {"id": "y-1"})
    assert seen == ["y.done"]
    assert len(bus.failures) == 1


def test_the_audit_log_has_a_line_per_event() -> None:
    bus = EventBus()
    log = AuditLog(bus)
    bus.publish("thing.created", {"id": "thing-1"})
    bus.publish("thing.deleted", {"id": "thing-1"})
    assert log.lines == ["thing.created thing-1", "thing.deleted thing-1"]


def test_published_data_is_copied() -> None:
    bus = EventBus()
    data = {"id": "thing-1"}
    event = bus.publish("thing.created", data)
    data["id"] = "changed"
    assert event.data == {"id": "thing-1"}
'''


def events_files(package: str) -> dict[str, str]:
    return {
        f"{package}/core/events.py": EVENTS.lstrip(),
        "tests/test_events.py": render(EVENTS_TESTS, package=package),
    }
