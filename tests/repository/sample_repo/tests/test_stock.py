import pytest

from inventory.items import Item
from inventory.stock import Stock


def test_added_items_are_counted_and_valued() -> None:
    stock = Stock()
    stock.add(Item("widget", 3, 250))
    stock.add(Item("widget", 2, 250))
    assert stock.count("widget") == 5
    assert stock.value_cents() == 1250


def test_removing_more_than_is_held_is_refused() -> None:
    # A known bug of this sample: remove() clamps at zero instead of refusing (this test fails on purpose).
    stock = Stock()
    stock.add(Item("widget", 1, 250))
    with pytest.raises(ValueError):
        stock.remove("widget", 2)
