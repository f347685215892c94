"""Which model answers a call: the phase's class, raised to strong for hard tasks and retries."""

from __future__ import annotations

from datetime import UTC, date, datetime

from masterplan.config import Settings
from masterplan.llm.lifecycle import check_model_lifecycle
from masterplan.llm.pricing import PriceTable, UnknownModel
from masterplan.models import Complexity, ModelClass, PhaseConfig


def model_class_for(phase: PhaseConfig, complexity: Complexity | None = None, *, escalate: bool = False) -> ModelClass:
    """Discovery and planning are configured strong; tasks use fast unless high complexity or a retry.

    ``escalate`` is set for a retry after a failed validation: it always goes to the strong class.
    """
    if escalate or complexity == "high":
        return "strong"
    return phase.model_class


def model_for_class(model_class: ModelClass, settings: Settings) -> str:
    return settings.strong_model if model_class == "strong" else settings.fast_model


def select_model(
    phase: PhaseConfig,
    complexity: Complexity | None,
    escalate: bool,
    settings: Settings,
) -> str:
    """The model id for one call."""
    return model_for_class(model_class_for(phase, complexity, escalate=escalate), settings)


def class_of_model(model: str, settings: Settings) -> ModelClass:
    """The class a configured model id belongs to (strong when both classes use the same model)."""
    if model == settings.strong_model:
        return "strong"
    if model == settings.fast_model:
        return "fast"
    raise ValueError(
        f"model {model!r} is neither the fast model ({settings.fast_model}) nor the strong model "
        f"({settings.strong_model}) of these settings"
    )


def validate_configured_models(settings: Settings, prices: PriceTable, *, today: date | None = None) -> list[str]:
    """Start-up check: both configured models must have prices, or cost control would be blind.

    A deprecated model is warned about once (the warnings are returned too); a retired one is refused
    (ModelRetired) before any call is sent. ``today`` defaults to the UTC date.
    """
    configured = {"settings.fast_model": settings.fast_model, "settings.strong_model": settings.strong_model}
    for setting, model in configured.items():
        if model not in prices:
            raise UnknownModel(model, prices.models, setting=setting)
    return check_model_lifecycle(configured, prices, today=today or datetime.now(UTC).date())
