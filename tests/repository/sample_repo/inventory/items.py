"""Items and how they are read from text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One kind of thing held in stock, priced per unit in cents."""

    name: str
    quantity: int
    unit_price_cents: int

    def total_cents(self) -> int:
        """What all units of the item are worth."""
        return self.quantity * self.unit_price_cents


def parse_item(line: str) -> Item:
    """An item from a ``name,quantity,unit_price_cents`` line."""
    name, quantity, price = (part.strip() for part in line.split(","))
    if not name:
        raise ValueError("an item needs a name")
    return Item(name=name, quantity=int(quantity), unit_price_cents=int(price))
