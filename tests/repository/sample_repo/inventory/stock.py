"""A stock of items: quantities by name, and their value."""

from __future__ import annotations

from inventory.items import Item


class Stock:
    """Quantities held per item name, with the last known unit price of each."""

    def __init__(self) -> None:
        self._quantities: dict[str, int] = {}
        self._prices: dict[str, int] = {}

    def add(self, item: Item) -> None:
        """Receive ``item.quantity`` units of the item."""
        self._quantities[item.name] = self._quantities.get(item.name, 0) + item.quantity
        self._prices[item.name] = item.unit_price_cents

    def remove(self, name: str, quantity: int) -> None:
        """Hand out ``quantity`` units of ``name``."""
        self._quantities[name] = max(0, self._quantities.get(name, 0) - quantity)

    def count(self, name: str) -> int:
        return self._quantities.get(name, 0)

    def value_cents(self) -> int:
        """What the whole stock is worth at the last known prices."""
        return sum(quantity * self._prices[name] for name, quantity in self._quantities.items())
