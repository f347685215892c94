import pytest

from inventory.items import Item, parse_item


def test_an_item_is_parsed_from_its_line() -> None:
    assert parse_item("widget, 3, 250") == Item("widget", 3, 250)


def test_an_item_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="name"):
        parse_item(" ,1,2")


def test_the_total_is_quantity_times_price() -> None:
    assert Item("bolt", 4, 15).total_cents() == 60
