"""The generic repository and the event bus every entity layer builds on."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import render

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
