"""Stock keeping: items, stock levels and their value."""

__version__ = "0.3.1"
