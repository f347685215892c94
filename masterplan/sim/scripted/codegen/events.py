"""The event bus of a generated project (publish/subscribe, history, audit log) and its tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import render

EVENTS = '''
"""Domain events: publish, subscribe by kind, and keep a bounded history.

Kinds are ``<entity>.<action>`` in snake case (``book.created``). A subscriber names an exact
kind, every action of one entity (``book.*``) or everything (``*``). Each event gets a
sequence number, so a reader can ask for what happened ``since`` the last event it saw. The
bus keeps at most ``max_history`` events, dropping the oldest first, and a failing subscriber
never undoes the publisher's change: its error is kept in ``failures``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Handler = Callable[["DomainEvent"], None]
Clock = Callable[[], datetime]

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*$")
SUBSCRIPTION_PATTERN = re.compile(r"^(\\*|[a-z][a-z0-9_]*\\.(\\*|[a-z][a-z0-9_]*))$")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DomainEvent:
    kind: str
    data: dict[str, Any]
    sequence: int = 0
    at: datetime = field(default_factory=_now)

    @property
    def entity(self) -> str:
        """The part of ``kind`` before the dot: ``book.created`` -> ``book``."""
        return self.kind.split(".", 1)[0]

    @property
    def action(self) -> str:
        """The part of ``kind`` after the dot: ``book.created`` -> ``created``."""
        return self.kind.split(".", 1)[1]

    @property
    def subject_id(self) -> str | None:
        """The id of the entity the event is about, when the publisher gave one."""
        subject = self.data.get("id")
        return subject if isinstance(subject, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "sequence": self.sequence, "at": self.at.isoformat(), "data": dict(self.data)}


class EventBus:
    """Synchronous publish/subscribe with a bounded, numbered history."""

    def __init__(self, max_history: int = 10_000, clock: Clock = _now) -> None:
        if max_history < 1:
            raise ValueError(f"max_history must be at least 1, got {max_history}")
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._history: deque[DomainEvent] = deque(maxlen=max_history)
        self._sequence = 0
        self._clock = clock
        self.failures: list[tuple[DomainEvent, Exception]] = []

    @property
    def history(self) -> list[DomainEvent]:
        """The kept events, oldest first."""
        return list(self._history)

    def subscribe(self, kind: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for events of ``kind`` (or ``entity.*``, or ``*``); returns an unsubscribe function."""
        if not SUBSCRIPTION_PATTERN.match(kind):
            raise ValueError(f"cannot subscribe to {kind!r}: use entity.action, entity.* or *")
        self._handlers[kind].append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers[kind]:
                self._handlers[kind].remove(handler)

        return unsubscribe

    def subscribe_once(self, kind: str, handler: Handler) -> None:
        """Call ``handler`` for the next matching event only."""

        def once(event: DomainEvent) -> None:
            unsubscribe()
            handler(event)

        unsubscribe = self.subscribe(kind, once)

    def publish(self, kind: str, data: dict[str, Any]) -> DomainEvent:
        if not KIND_PATTERN.match(kind):
            raise ValueError(f"event kind must look like entity.action, got {kind!r}")
        self._sequence += 1
        event = DomainEvent(kind, dict(data), self._sequence, self._clock())
        self._history.append(event)
        entity = event.entity
        for handler in [*self._handlers[kind], *self._handlers[f"{entity}.*"], *self._handlers["*"]]:
            try:
                handler(event)
            except Exception as error:  # a subscriber's bug must not undo the publisher's change
                self.failures.append((event, error))
        return event

    def kinds(self) -> list[str]:
        return [event.kind for event in self._history]

    def since(self, sequence: int) -> list[DomainEvent]:
        """The kept events published after the one numbered ``sequence``."""
        return [event for event in self._history if event.sequence > sequence]

    def for_subject(self, subject_id: str) -> list[DomainEvent]:
        """Every kept event about one entity, oldest first."""
        return [event for event in self._history if event.subject_id == subject_id]

    def replay(self, handler: Handler, kind: str = "*") -> int:
        """Send the kept events matching ``kind`` to ``handler`` (a late subscriber catching up)."""
        matching = [event for event in self._history if _matches(kind, event)]
        for event in matching:
            handler(event)
        return len(matching)

    def clear_history(self) -> None:
        """Forget the kept events; sequence numbers keep counting up."""
        self._history.clear()


def _matches(kind: str, event: DomainEvent) -> bool:
    return kind in ("*", event.kind, f"{event.entity}.*")


class EventCounter:
    """Counts the events of each kind, for dashboards and tests."""

    def __init__(self, bus: EventBus, kind: str = "*") -> None:
        self.counts: Counter[str] = Counter()
        bus.subscribe(kind, lambda event: self.counts.update([event.kind]))

    def total(self) -> int:
        return sum(self.counts.values())


class AuditLog:
    """Keeps one line per event (``kind subject``), for people to read."""

    def __init__(self, bus: EventBus) -> None:
        self.lines: list[str] = []
        self._events: list[DomainEvent] = []
        bus.subscribe("*", self._record)

    def _record(self, event: DomainEvent) -> None:
        self._events.append(event)
        self.lines.append(f"{event.kind} {event.subject_id or '?'}")

    def for_subject(self, subject_id: str) -> list[str]:
        return [f"{e.kind} {subject_id}" for e in self._events if e.subject_id == subject_id]

    def render(self) -> str:
        """The log as text: one line per event with its number and time."""
        return "".join(f"{e.sequence:>5} {e.at.isoformat()} {e.kind} {e.subject_id or '?'}\\n" for e in self._events)
'''

EVENTS_TESTS = '''
"""The event bus, its history and the audit log."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from $package.core.events import AuditLog, DomainEvent, EventBus, EventCounter


def ticking_clock() -> Callable[[], datetime]:
    """A clock that moves one minute at each reading."""
    moments = iter(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n) for n in range(1000))
    return lambda: next(moments)


def test_subscribers_get_events_of_their_kind() -> None:
    bus = EventBus()
    seen: list[DomainEvent] = []
    bus.subscribe("thing.created", seen.append)
    bus.publish("thing.created", {"id": "thing-1"})
    bus.publish("thing.deleted", {"id": "thing-1"})
    assert [event.kind for event in seen] == ["thing.created"]
    assert (seen[0].entity, seen[0].action, seen[0].subject_id) == ("thing", "created", "thing-1")


def test_entity_wildcards_get_every_action_of_one_entity() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe("thing.*", lambda event: seen.append(event.kind))
    for kind in ("thing.created", "other.created", "thing.deleted"):
        bus.publish(kind, {})
    assert seen == ["thing.created", "thing.deleted"]


def test_wildcard_subscribers_get_everything_and_history_keeps_order() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe("*", lambda event: seen.append(event.kind))
    for kind in ("a.created", "b.updated", "a.deleted"):
        bus.publish(kind, {})
    assert seen == ["a.created", "b.updated", "a.deleted"]
    assert bus.kinds() == seen
    assert [event.sequence for event in bus.history] == [1, 2, 3]


@pytest.mark.parametrize("kind", ["created", "Thing.created", "thing.", "thing.created.now", ""])
def test_badly_named_kinds_are_refused(kind: str) -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="entity.action"):
        bus.publish(kind, {})
    with pytest.raises(ValueError, match="cannot subscribe"):
        bus.subscribe(kind, print)


def test_unsubscribe_stops_delivery_and_is_safe_to_repeat() -> None:
    bus = EventBus()
    seen: list[str] = []
    unsubscribe = bus.subscribe("x.done", lambda event: seen.append(event.kind))
    bus.publish("x.done", {})
    unsubscribe()
    unsubscribe()
    bus.publish("x.done", {})
    assert seen == ["x.done"]


def test_subscribe_once_hears_one_event() -> None:
    bus = EventBus()
    seen: list[int] = []
    bus.subscribe_once("x.done", lambda event: seen.append(event.sequence))
    bus.publish("x.done", {})
    bus.publish("x.done", {})
    assert seen == [1]


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
    assert str(bus.failures[0][1]) == "subscriber bug"


def test_history_is_bounded_and_since_reads_what_is_new() -> None:
    bus = EventBus(max_history=3)
    for n in range(1, 6):
        bus.publish("thing.updated", {"id": f"thing-{n}"})
    assert [event.sequence for event in bus.history] == [3, 4, 5]
    assert [event.subject_id for event in bus.since(4)] == ["thing-5"]
    assert bus.since(5) == []
    with pytest.raises(ValueError, match="max_history"):
        EventBus(max_history=0)


def test_events_are_stamped_by_the_clock_and_serialise() -> None:
    bus = EventBus(clock=ticking_clock())
    first = bus.publish("thing.created", {"id": "thing-1"})
    second = bus.publish("thing.deleted", {"id": "thing-1"})
    assert second.at - first.at == timedelta(minutes=1)
    assert first.to_dict() == {
        "kind": "thing.created",
        "sequence": 1,
        "at": "2024-01-01T00:00:00+00:00",
        "data": {"id": "thing-1"},
    }


def test_for_subject_and_replay_read_the_history() -> None:
    bus = EventBus()
    bus.publish("thing.created", {"id": "thing-1"})
    bus.publish("thing.created", {"id": "thing-2"})
    bus.publish("thing.deleted", {"id": "thing-1"})
    assert [event.kind for event in bus.for_subject("thing-1")] == ["thing.created", "thing.deleted"]
    replayed: list[str] = []
    assert bus.replay(lambda event: replayed.append(event.kind), "thing.created") == 2
    assert replayed == ["thing.created", "thing.created"]
    assert bus.replay(lambda event: None) == 3


def test_clearing_the_history_keeps_counting() -> None:
    bus = EventBus()
    bus.publish("thing.created", {})
    bus.clear_history()
    assert bus.history == []
    assert bus.publish("thing.created", {}).sequence == 2


def test_the_counter_counts_per_kind() -> None:
    bus = EventBus()
    counter = EventCounter(bus)
    things = EventCounter(bus, "thing.*")
    for kind in ("thing.created", "thing.created", "other.deleted"):
        bus.publish(kind, {})
    assert counter.counts == {"thing.created": 2, "other.deleted": 1}
    assert (counter.total(), things.total()) == (3, 2)


def test_the_audit_log_has_a_line_per_event() -> None:
    bus = EventBus(clock=ticking_clock())
    log = AuditLog(bus)
    bus.publish("thing.created", {"id": "thing-1"})
    bus.publish("thing.deleted", {"id": "thing-1"})
    bus.publish("other.created", {})
    assert log.lines == ["thing.created thing-1", "thing.deleted thing-1", "other.created ?"]
    assert log.for_subject("thing-1") == ["thing.created thing-1", "thing.deleted thing-1"]
    assert log.render().splitlines()[0] == "    1 2024-01-01T00:00:00+00:00 thing.created thing-1"


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
