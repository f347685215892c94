"""The model table (``models.toml``): which ids exist, their limits, speeds and rate-limit tiers."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Tier = Literal["1", "2", "3", "4", "none"]
TIERS: tuple[Tier, ...] = ("1", "2", "3", "4", "none")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    rate_class: str
    max_output_tokens: int
    context_window: int
    min_cacheable_tokens: int
    tokens_per_second: float
    ttft_s: float
    supports_prefill: bool
    """A request may end with an assistant message that the model continues (not on Claude 4.6)."""
    structured_outputs: bool = False
    """``output_config.format`` (structured outputs) is available for the model."""


@dataclass(frozen=True)
class RateLimits:
    requests_per_minute: int
    input_tokens_per_minute: int
    output_tokens_per_minute: int


@dataclass(frozen=True)
class ModelTable:
    models: dict[str, ModelSpec]
    """Every accepted id (canonical names and aliases) to its spec."""
    tiers: dict[str, dict[str, RateLimits]]

    def lookup(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def limits(self, tier: Tier, rate_class: str) -> RateLimits | None:
        """The limits of a model class at a tier; None when the tier is ``none``."""
        if tier == "none":
            return None
        return self.tiers[tier][rate_class]

    @property
    def canonical_names(self) -> list[str]:
        return sorted({spec.name for spec in self.models.values()})


def parse_model_table(data: dict[str, Any]) -> ModelTable:
    models: dict[str, ModelSpec] = {}
    for name, entry in data["models"].items():
        spec = ModelSpec(
            name=name,
            rate_class=str(entry["rate_class"]),
            max_output_tokens=int(entry["max_output_tokens"]),
            context_window=int(entry["context_window"]),
            min_cacheable_tokens=int(entry["min_cacheable_tokens"]),
            tokens_per_second=float(entry["tokens_per_second"]),
            ttft_s=float(entry["ttft_s"]),
            supports_prefill=bool(entry["supports_prefill"]),
            structured_outputs=bool(entry.get("structured_outputs", False)),
        )
        for model_id in [name, *entry.get("aliases", [])]:
            models[model_id] = spec
    tiers = {
        tier: {rate_class: RateLimits(**limits) for rate_class, limits in classes.items()}
        for tier, classes in data["tiers"].items()
    }
    classes = {spec.rate_class for spec in models.values()}
    for tier, by_class in tiers.items():
        missing = classes - by_class.keys()
        if missing:
            raise ValueError(f"models.toml: tier {tier} has no limits for {sorted(missing)}")
    return ModelTable(models=models, tiers=tiers)


@cache
def load_model_table() -> ModelTable:
    text = resources.files("masterplan.sim").joinpath("models.toml").read_text(encoding="utf-8")
    return parse_model_table(tomllib.loads(text))
