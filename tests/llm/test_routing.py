import pytest

from masterplan.config import Settings
from masterplan.llm.pricing import PriceTable, UnknownModel
from masterplan.llm.routing import select_model, validate_configured_models
from masterplan.models import Complexity, PhaseConfig

SETTINGS = Settings(anthropic_api_key="sim-key")


@pytest.mark.parametrize("phase", ["discovery_questions", "domain_model", "master_plan", "plan_repair"])
def test_discovery_and_planning_use_the_strong_model(phases: dict[str, PhaseConfig], phase: str) -> None:
    assert select_model(phases[phase], None, False, SETTINGS) == "claude-sonnet-4-6"


@pytest.mark.parametrize(
    ("complexity", "model"),
    [("low", "claude-haiku-4-5"), ("medium", "claude-haiku-4-5"), ("high", "claude-sonnet-4-6")],
)
def test_tasks_use_fast_model_unless_complex(
    phases: dict[str, PhaseConfig], complexity: Complexity, model: str
) -> None:
    assert select_model(phases["task_execution"], complexity, False, SETTINGS) == model


def test_retry_after_failed_validation_escalates_to_the_strong_model(phases: dict[str, PhaseConfig]) -> None:
    assert select_model(phases["task_execution"], "low", True, SETTINGS) == "claude-sonnet-4-6"


def test_model_ids_per_class_come_from_settings(phases: dict[str, PhaseConfig]) -> None:
    settings = Settings(anthropic_api_key="k", fast_model="claude-sonnet-4-6", strong_model="claude-opus-4-6")
    assert select_model(phases["task_execution"], "low", False, settings) == "claude-sonnet-4-6"
    assert select_model(phases["master_plan"], None, False, settings) == "claude-opus-4-6"


def test_unpriced_configured_model_is_a_start_up_error(prices: PriceTable) -> None:
    settings = Settings(anthropic_api_key="k", strong_model="claude-sonnet-9")
    with pytest.raises(UnknownModel, match=r"settings.strong_model: unknown model 'claude-sonnet-9'.*known models"):
        validate_configured_models(settings, prices)
