"""The generic in-memory repository every entity repository extends."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.repository_base_tests import REPOSITORY_BASE_TESTS
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


def repository_base_files(package: str) -> dict[str, str]:
    return {
        f"{package}/repositories/base.py": render(REPOSITORY_BASE, package=package),
        "tests/test_repository_base.py": render(REPOSITORY_BASE_TESTS, package=package),
    }
