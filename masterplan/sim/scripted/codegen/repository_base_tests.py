"""The tests of the generic in-memory repository of a generated project."""

from __future__ import annotations

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
