"""The generic in-memory repository every entity repository extends, and its tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import render

REPOSITORY_BASE = '''
"""A typed in-memory repository: the storage every entity repository extends.

Items are kept by id, in insertion order. Every change bumps ``revision``, so a caller can
tell cheaply whether anything changed since it last looked (to refresh a cached report, say),
and ``transaction`` undoes every change of a block that raises, which is how batches stay
all-or-nothing. Listeners (``subscribe``) hear of every added, updated and removed item, the
undoing of a failed transaction included, so an index or a cache built on top stays right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

from $package.core.errors import ConflictError, NotFoundError
from $package.core.ids import id_sort_key

MAX_PAGE_SIZE = 500
"""The most items one ``page`` call returns."""


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)
Listener = Callable[[str, T], None]
"""Called with ``"added"``, ``"updated"`` or ``"removed"`` and the item concerned."""


class InMemoryRepository(Generic[T]):
    """Entities by id, in insertion order. Subclasses set ``entity_name`` for error messages."""

    entity_name = "entity"
    sortable_fields: tuple[str, ...] = ("id",)
    """The fields ``sorted_by`` and ``group_by`` accept; subclasses list their entity's."""

    def __init__(self, items: Iterable[T] | None = None) -> None:
        self._items: dict[str, T] = {}
        self._revision = 0
        self._listeners: list[Listener[T]] = []
        for item in items or []:
            self.add(item)

    @property
    def revision(self) -> int:
        """How many changes were made so far; a rolled-back transaction counts as one more."""
        return self._revision

    def add(self, item: T) -> T:
        if item.id in self._items:
            raise ConflictError(self.entity_name, item.id, "already stored")
        self._items[item.id] = item
        self._changed("added", item)
        return item

    def subscribe(self, listener: Listener[T]) -> Callable[[], None]:
        """Call ``listener(action, item)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self, action: str, item: T) -> None:
        self._revision += 1
        for listener in list(self._listeners):
            listener(action, item)

    def add_all(self, items: Iterable[T]) -> list[T]:
        """Add every item, or none of them when one id is already stored or repeated."""
        batch = list(items)
        with self.transaction():
            return [self.add(item) for item in batch]

    def upsert(self, item: T) -> bool:
        """Store ``item``, replacing a stored one with its id; True when it was new."""
        is_new = item.id not in self._items
        if is_new:
            self.add(item)
        else:
            self.update(item)
        return is_new

    def get(self, item_id: str) -> T:
        try:
            return self._items[item_id]
        except KeyError:
            raise NotFoundError(self.entity_name, item_id) from None

    def find(self, item_id: str) -> T | None:
        return self._items.get(item_id)

    def get_many(self, item_ids: Iterable[str]) -> list[T]:
        """The items with these ids, in the order asked; NotFoundError names the first missing id."""
        return [self.get(item_id) for item_id in item_ids]

    def update(self, item: T) -> T:
        if item.id not in self._items:
            raise NotFoundError(self.entity_name, item.id)
        self._items[item.id] = item
        self._changed("updated", item)
        return item

    def remove(self, item_id: str) -> T:
        item = self.get(item_id)
        del self._items[item_id]
        self._changed("removed", item)
        return item

    def remove_where(self, predicate: Callable[[T], bool]) -> list[T]:
        """Remove every item ``predicate`` accepts; returns them in storage order."""
        doomed = self.filter(predicate)
        for item in doomed:
            self.remove(item.id)
        return doomed

    def list(self) -> list[T]:
        return list(self._items.values())

    def ids(self) -> list[str]:
        return list(self._items)

    def filter(self, predicate: Callable[[T], bool]) -> list[T]:
        return [item for item in self._items.values() if predicate(item)]

    def first(self, predicate: Callable[[T], bool]) -> T | None:
        """The first stored item ``predicate`` accepts, or None."""
        return next((item for item in self._items.values() if predicate(item)), None)

    def exists(self, predicate: Callable[[T], bool]) -> bool:
        return self.first(predicate) is not None

    def page(self, offset: int = 0, limit: int = 50) -> list[T]:
        """At most ``limit`` items starting at ``offset``, in storage order."""
        if offset < 0:
            raise ValueError(f"offset must not be negative, got {offset}")
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        return self.list()[offset : offset + limit]

    def count(self) -> int:
        return len(self._items)

    def sorted_by(self, field_name: str, descending: bool = False) -> list[T]:
        """Every item ordered by one field; ids sort naturally (``x-2`` before ``x-10``)."""
        self._check_field(field_name)
        if field_name == "id":
            return sorted(self.list(), key=lambda item: id_sort_key(item.id), reverse=descending)
        return sorted(self.list(), key=lambda item: getattr(item, field_name), reverse=descending)

    def group_by(self, field_name: str) -> dict[Any, list[T]]:
        """The items grouped by the value of one field, groups in first-seen order."""
        self._check_field(field_name)
        groups: dict[Any, list[T]] = {}
        for item in self._items.values():
            groups.setdefault(getattr(item, field_name), []).append(item)
        return groups

    def count_by(self, field_name: str) -> dict[Any, int]:
        return {value: len(items) for value, items in self.group_by(field_name).items()}

    def distinct(self, field_name: str) -> list[Any]:
        """The different values of one field, sorted."""
        return sorted(self.group_by(field_name))

    def snapshot(self) -> list[T]:
        """Every stored item; ``restore`` puts exactly these back."""
        return self.list()

    def restore(self, items: Iterable[T]) -> None:
        """Replace everything stored by ``items`` (all or nothing)."""
        batch = list(items)
        with self.transaction():
            self.clear()
            self.add_all(batch)

    def _check_field(self, field_name: str) -> None:
        if field_name not in self.sortable_fields:
            raise ValueError(
                f"cannot sort or group {self.entity_name} by {field_name!r}; choose one of {self.sortable_fields}"
            )

    def clear(self) -> None:
        """Remove every item (listeners hear of each one); the revision moves even when it was empty."""
        removed = list(self._items.values())
        self._items.clear()
        self._revision += 1
        for item in removed:
            self._changed("removed", item)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block of changes all-or-nothing: when it raises, the items are put back as they were."""
        saved = dict(self._items)
        try:
            yield
        except BaseException:
            self._undo(saved)
            raise

    def _undo(self, saved: dict[str, T]) -> None:
        """Put ``saved`` back, telling listeners what the undoing changed."""
        current, self._items = self._items, saved
        self._revision += 1
        for item_id, item in current.items():
            if item_id not in saved:
                self._changed("removed", item)
        for item_id, item in saved.items():
            if item_id not in current:
                self._changed("added", item)
            elif current[item_id] is not item:
                self._changed("updated", item)

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
from $package.repositories.base import MAX_PAGE_SIZE, InMemoryRepository


@dataclass(frozen=True)
class Widget:
    id: str
    size: int
    colour: str = "red"


class WidgetRepository(InMemoryRepository[Widget]):
    entity_name = "Widget"
    sortable_fields = ("id", "size", "colour")


@pytest.fixture
def five() -> WidgetRepository:
    return WidgetRepository(Widget(f"widget-{n}", n) for n in range(1, 6))


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
    assert repository.get("widget-1").size == 3


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


def test_list_keeps_insertion_order_and_filter_selects(five: WidgetRepository) -> None:
    assert [w.id for w in five.list()] == [f"widget-{n}" for n in range(1, 6)]
    assert five.ids() == [w.id for w in five]
    assert [w.size for w in five.filter(lambda w: w.size % 2 == 0)] == [2, 4]
    assert five.count() == 5
    five.clear()
    assert five.list() == []


def test_get_many_keeps_the_asked_order_and_names_the_missing_id(five: WidgetRepository) -> None:
    assert [w.size for w in five.get_many(["widget-3", "widget-1"])] == [3, 1]
    assert five.get_many([]) == []
    with pytest.raises(NotFoundError, match="widget-7"):
        five.get_many(["widget-2", "widget-7", "widget-8"])


def test_first_and_exists(five: WidgetRepository) -> None:
    found = five.first(lambda w: w.size > 2)
    assert found is not None
    assert found.size == 3
    assert five.first(lambda w: w.size > 9) is None
    assert five.exists(lambda w: w.size == 5)
    assert not five.exists(lambda w: w.size == 0)


def test_remove_where_returns_what_it_removed(five: WidgetRepository) -> None:
    removed = five.remove_where(lambda w: w.size >= 4)
    assert [w.size for w in removed] == [4, 5]
    assert [w.size for w in five] == [1, 2, 3]
    assert five.remove_where(lambda w: w.size > 100) == []


def test_pages_cover_everything_once(five: WidgetRepository) -> None:
    pages = [five.page(offset, 2) for offset in (0, 2, 4, 6)]
    assert [[w.size for w in page] for page in pages] == [[1, 2], [3, 4], [5], []]


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, MAX_PAGE_SIZE + 1)])
def test_bad_pages_are_refused(five: WidgetRepository, offset: int, limit: int) -> None:
    with pytest.raises(ValueError, match="must"):
        five.page(offset, limit)


def test_every_change_bumps_the_revision() -> None:
    repository = WidgetRepository()
    assert repository.revision == 0
    repository.add(Widget("widget-1", 1))
    repository.update(Widget("widget-1", 2))
    repository.remove("widget-1")
    repository.clear()
    assert repository.revision == 4
    repository.list()
    repository.find("widget-1")
    assert repository.revision == 4


def test_listeners_hear_every_change_until_they_unsubscribe() -> None:
    repository = WidgetRepository()
    heard: list[tuple[str, int]] = []
    unsubscribe = repository.subscribe(lambda action, widget: heard.append((action, widget.size)))
    repository.add(Widget("widget-1", 1))
    repository.update(Widget("widget-1", 2))
    repository.add(Widget("widget-2", 3))
    repository.remove("widget-1")
    repository.clear()
    assert heard == [("added", 1), ("updated", 2), ("added", 3), ("removed", 2), ("removed", 3)]
    unsubscribe()
    unsubscribe()
    repository.add(Widget("widget-3", 4))
    assert len(heard) == 5


def test_listeners_hear_a_rolled_back_transaction_being_undone(five: WidgetRepository) -> None:
    sizes: dict[str, int] = {widget.id: widget.size for widget in five}

    def keep_index(action: str, widget: Widget) -> None:
        if action == "removed":
            del sizes[widget.id]
        else:
            sizes[widget.id] = widget.size

    five.subscribe(keep_index)
    with pytest.raises(RuntimeError):
        with five.transaction():
            five.remove("widget-1")
            five.update(Widget("widget-2", 20))
            five.add(Widget("widget-6", 6))
            raise RuntimeError("abandon the batch")
    assert sizes == {widget.id: widget.size for widget in five}
    assert sizes == {"widget-1": 1, "widget-2": 2, "widget-3": 3, "widget-4": 4, "widget-5": 5}


def test_a_failing_transaction_puts_everything_back(five: WidgetRepository) -> None:
    before = five.list()
    with pytest.raises(ConflictError):
        with five.transaction():
            five.remove("widget-1")
            five.update(Widget("widget-2", 20))
            five.add(Widget("widget-3", 30))
    assert five.list() == before


def test_add_all_is_all_or_nothing(five: WidgetRepository) -> None:
    with pytest.raises(ConflictError):
        five.add_all([Widget("widget-6", 6), Widget("widget-1", 1)])
    assert "widget-6" not in five
    with pytest.raises(ConflictError):
        five.add_all([Widget("widget-7", 7), Widget("widget-7", 7)])
    assert five.count() == 5
    assert len(five.add_all([Widget("widget-6", 6)])) == 1


def test_upsert_adds_then_replaces() -> None:
    repository = WidgetRepository()
    assert repository.upsert(Widget("widget-1", 1)) is True
    assert repository.upsert(Widget("widget-1", 2)) is False
    assert repository.get("widget-1").size == 2


def test_ids_sort_naturally_and_other_fields_by_value() -> None:
    repository = WidgetRepository([Widget("widget-10", 1), Widget("widget-9", 3), Widget("widget-2", 2)])
    assert [w.id for w in repository.sorted_by("id")] == ["widget-2", "widget-9", "widget-10"]
    assert [w.size for w in repository.sorted_by("size", descending=True)] == [3, 2, 1]


def test_group_count_and_distinct_agree() -> None:
    colours = ["red", "blue", "red", "green"]
    repository = WidgetRepository(Widget(f"widget-{n}", n, colour) for n, colour in enumerate(colours, start=1))
    assert {colour: [w.size for w in items] for colour, items in repository.group_by("colour").items()} == {
        "red": [1, 3],
        "blue": [2],
        "green": [4],
    }
    assert repository.count_by("colour") == {"red": 2, "blue": 1, "green": 1}
    assert repository.distinct("colour") == ["blue", "green", "red"]


@pytest.mark.parametrize("action", ["sorted_by", "group_by", "count_by", "distinct"])
def test_fields_outside_the_sortable_ones_are_refused(five: WidgetRepository, action: str) -> None:
    with pytest.raises(ValueError, match="cannot sort or group Widget by 'weight'"):
        getattr(five, action)("weight")


def test_restore_puts_back_a_snapshot(five: WidgetRepository) -> None:
    saved = five.snapshot()
    five.remove("widget-1")
    five.add(Widget("widget-9", 9))
    five.restore(saved)
    assert five.list() == saved
    with pytest.raises(ConflictError):
        five.restore([saved[0], saved[0]])
    assert five.list() == saved


def test_a_successful_transaction_keeps_its_changes(five: WidgetRepository) -> None:
    with five.transaction():
        five.remove("widget-1")
        five.add(Widget("widget-6", 6))
    assert five.ids() == ["widget-2", "widget-3", "widget-4", "widget-5", "widget-6"]
'''


def repository_base_files(package: str) -> dict[str, str]:
    return {
        f"{package}/repositories/base.py": render(REPOSITORY_BASE, package=package),
        "tests/test_repository_base.py": render(REPOSITORY_BASE_TESTS, package=package),
    }
