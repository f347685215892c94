"""Conversions between model values and column values, the same for every dialect.

Money is stored as integer nano-dollars: every Anthropic price per million tokens
has at most two decimals, so a token's cost is a whole number of nano-dollars and
sums stay exact in both SQLite and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

NANO = Decimal(1_000_000_000)


def to_nano(usd: Decimal) -> int:
    nanos = usd * NANO
    if nanos != nanos.to_integral_value():
        raise ValueError(f"{usd} USD is not a whole number of nano-dollars")
    return int(nanos)


def from_nano(nanos: int) -> Decimal:
    return Decimal(nanos) / NANO


def dump_json(value: BaseModel | list[Any] | dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return orjson.dumps(value.model_dump(mode="json")).decode()
    return orjson.dumps(value, default=_model_default).decode()


def _model_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def load_json(value: Any) -> Any:
    """Columns arrive as JSON text (SQLite TEXT, asyncpg's default for jsonb)."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value
