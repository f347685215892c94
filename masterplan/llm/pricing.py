"""Prices as data: ``pricing.toml`` read into exact Decimal prices per model.

Cost of a call is each usage field times its own price. An unknown model is a
start-up error naming the known ones, never a silent zero.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from masterplan.llm.usage import TokenUsage

PER_MILLION = Decimal(1_000_000)
_PRICE_FIELDS = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")


class UnknownModel(LookupError):
    """A model id that the price table does not list."""

    def __init__(self, model: str, known: Iterable[str], *, setting: str | None = None) -> None:
        where = f"{setting}: " if setting else ""
        super().__init__(
            f"{where}unknown model {model!r}: no price for it in pricing.toml; known models: {', '.join(known)}"
        )
        self.model = model


class PriceTableError(ValueError):
    """pricing.toml is malformed."""


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens for each way a token can be billed, plus the model's limits."""

    model: str
    input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    output: Decimal
    max_output_tokens: int
    min_cacheable_tokens: int
    rate_limit_group: str
    sampling_parameters: bool = True
    """False for models that refuse a temperature (requests for them leave it out)."""
    replaced_by: str | None = None
    """The model to use instead once Anthropic deprecates this one (named in the start-up warning)."""
    assistant_prefill: bool = False
    """The model continues a final assistant message (prefill); the Claude 4.6 models answer 400 to one.

    False is the safe default: a continuation then ends with a user message, which every model takes."""
    structured_outputs: bool = False
    """The model takes ``output_config.format``: its answer is decoded to match the JSON schema sent."""

    def cost(self, usage: TokenUsage) -> Decimal:
        """Exact cost in USD: each disjoint usage field at its own price."""
        micro_units = (
            usage.input_tokens * self.input
            + usage.cache_write_5m_tokens * self.cache_write_5m
            + usage.cache_write_1h_tokens * self.cache_write_1h
            + usage.cache_read_tokens * self.cache_read
            + usage.output_tokens * self.output
        )
        return micro_units / PER_MILLION

    def batched(self, share: Decimal) -> ModelPrice:
        """The price of a request sent in a Message Batch: every way a token is billed at ``share`` of its price.

        Anthropic bills batches at 50% of input and output, and the prompt-caching multipliers stack on
        the batch input price (a cache read is 0.1 of it, a 5-minute write 1.25), so each field scales."""
        return dataclasses.replace(self, **{field: getattr(self, field) * share for field in _PRICE_FIELDS})

    def uncached_cost(self, usage: TokenUsage) -> Decimal:
        """The counterfactual: the same call with no prompt caching, every prompt token at the base input price."""
        return (usage.total_input_tokens * self.input + usage.output_tokens * self.output) / PER_MILLION


class PriceTable:
    """Model id (or alias) -> ModelPrice."""

    def __init__(
        self,
        prices: Mapping[str, ModelPrice],
        aliases: Mapping[str, str] | None = None,
        *,
        batch_share: Decimal = Decimal("0.5"),
    ) -> None:
        """``batch_share``: what a request in a Message Batch costs, as a share of the list price."""
        self._prices = dict(prices)
        self._aliases = dict(aliases or {})
        self.batch_share = batch_share

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """Reads pricing.toml (the packaged one unless ``path`` is given)."""
        if path is None:
            text = resources.files("masterplan.llm").joinpath("pricing.toml").read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        return cls.from_toml(text)

    @classmethod
    def from_toml(cls, text: str) -> PriceTable:
        data = tomllib.loads(text, parse_float=Decimal)
        entries = data.get("models")
        if not isinstance(entries, dict) or not entries:
            raise PriceTableError("pricing.toml has no [models.<id>] tables")
        prices: dict[str, ModelPrice] = {}
        aliases: dict[str, str] = {}
        for model, entry in entries.items():
            prices[model] = _parse_entry(model, entry)
            for alias in entry.get("aliases", []):
                aliases[str(alias)] = model
        for price in prices.values():
            if price.replaced_by is not None and price.replaced_by not in prices:
                raise PriceTableError(
                    f"pricing.toml: [models.{price.model}] replaced_by names {price.replaced_by!r}, "
                    "which the table does not list"
                )
        return cls(prices, aliases, batch_share=_batch_share(data.get("batch_share", Decimal("0.5"))))

    @property
    def models(self) -> list[str]:
        return sorted(self._prices)

    def __contains__(self, model: object) -> bool:
        return model in self._prices or model in self._aliases

    def get(self, model: str) -> ModelPrice:
        canonical = self._aliases.get(model, model)
        try:
            return self._prices[canonical]
        except KeyError:
            raise UnknownModel(model, self.models) from None

    def cost(self, model: str, usage: TokenUsage) -> Decimal:
        return self.get(model).cost(usage)

    def get_batched(self, model: str) -> ModelPrice:
        """``model``'s price for a request sent in a Message Batch."""
        return self.get(model).batched(self.batch_share)

    def require(self, *models: str) -> None:
        """Raises UnknownModel for the first model the table does not list (a start-up check)."""
        for model in models:
            self.get(model)


def _batch_share(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, Decimal | int) or not 0 < Decimal(raw) <= 1:
        raise PriceTableError(f"pricing.toml: batch_share must be a number above 0 and at most 1, got {raw!r}")
    return Decimal(raw)


def _parse_entry(model: str, entry: Any) -> ModelPrice:
    if not isinstance(entry, dict):
        raise PriceTableError(f"pricing.toml: [models.{model}] must be a table")
    missing = [f for f in (*_PRICE_FIELDS, "max_output_tokens", "min_cacheable_tokens") if f not in entry]
    if missing:
        raise PriceTableError(f"pricing.toml: [models.{model}] lacks {', '.join(missing)}")
    values: dict[str, Decimal] = {}
    for field in _PRICE_FIELDS:
        raw = entry[field]
        if isinstance(raw, bool) or not isinstance(raw, Decimal | int):
            raise PriceTableError(f"pricing.toml: [models.{model}] {field} must be a number, got {raw!r}")
        value = Decimal(raw)
        if value < 0:
            raise PriceTableError(f"pricing.toml: [models.{model}] {field} must not be negative")
        values[field] = value
    return ModelPrice(
        model=model,
        max_output_tokens=int(entry["max_output_tokens"]),
        min_cacheable_tokens=int(entry["min_cacheable_tokens"]),
        rate_limit_group=str(entry.get("rate_limit_group", model)),
        sampling_parameters=bool(entry.get("sampling_parameters", True)),
        replaced_by=str(entry["replaced_by"]) if "replaced_by" in entry else None,
        assistant_prefill=bool(entry.get("assistant_prefill", False)),
        structured_outputs=bool(entry.get("structured_outputs", False)),
        **values,
    )
