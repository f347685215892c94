"""Model lifecycle: which configured models Anthropic has deprecated, and which are past end of life.

The anthropic SDK ships the retirement dates (``DEPRECATED_MODELS``: model id -> "January 22nd, 2027") and
warns on every call with such a model. masterplan says it once, at start, naming the model, the date and the
replacement its price table names (``replaced_by`` in pricing.toml); once the date has come, it refuses to
start instead of sending calls that Anthropic would answer with an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from anthropic.resources.messages import DEPRECATED_MODELS

from masterplan.llm.pricing import PriceTable

logger = logging.getLogger(__name__)

_ORDINAL_SUFFIX = re.compile(r"(\d+)(st|nd|rd|th)\b")


class ModelRetired(ValueError):
    """A configured model has reached its end of life."""


@dataclass(frozen=True)
class Deprecation:
    model: str
    retires_on: date | None
    """None when the SDK's date could not be read: deprecated, date unknown."""
    replacement: str | None

    def describe(self, setting: str) -> str:
        when = self.retires_on.isoformat() if self.retires_on else "a date the SDK does not state clearly"
        instead = (
            f"; use {self.replacement} instead (set {setting_env(setting)})"
            if self.replacement
            else f"; choose a current model for {setting_env(setting)}"
        )
        return f"{setting}: model {self.model!r} is deprecated by Anthropic and reaches end of life on {when}{instead}"

    def is_retired(self, today: date) -> bool:
        return self.retires_on is not None and today >= self.retires_on


def setting_env(setting: str) -> str:
    return f"MASTERPLAN_{setting.removeprefix('settings.').upper()}"


def parse_sdk_date(text: str) -> date | None:
    """ "November 30th, 2026" -> 2026-11-30; None when the text is not such a date."""
    try:
        return datetime.strptime(_ORDINAL_SUFFIX.sub(r"\1", text.strip()), "%B %d, %Y").date()
    except ValueError:
        return None


def deprecation_of(
    model: str, prices: PriceTable, retirements: Mapping[str, str] = DEPRECATED_MODELS
) -> Deprecation | None:
    """The model's deprecation, looked up under its own id and under the price table's canonical id."""
    canonical = prices.get(model).model if model in prices else model
    for name in dict.fromkeys((model, canonical)):
        if name in retirements:
            replacement = prices.get(model).replaced_by if model in prices else None
            return Deprecation(model=model, retires_on=parse_sdk_date(retirements[name]), replacement=replacement)
    return None


def check_model_lifecycle(
    models: Mapping[str, str],
    prices: PriceTable,
    *,
    today: date,
    retirements: Mapping[str, str] = DEPRECATED_MODELS,
) -> list[str]:
    """``models``: setting name -> model id. Logs one warning per deprecated model and returns the warnings.

    Raises ModelRetired (every retired model in one message) when any has reached its end of life.
    """
    warnings: list[str] = []
    retired: list[str] = []
    for setting, model in models.items():
        deprecation = deprecation_of(model, prices, retirements)
        if deprecation is None:
            continue
        if deprecation.is_retired(today):
            retired.append(deprecation.describe(setting).replace("reaches end of life on", "reached end of life on"))
        else:
            warnings.append(deprecation.describe(setting))
    if retired:
        raise ModelRetired("; ".join(retired) + "; masterplan does not send calls to a retired model")
    for warning in warnings:
        logger.warning("%s", warning)
    return warnings
