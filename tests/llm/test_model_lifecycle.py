"""Deprecated models are named once at start; retired ones are refused before any call is sent."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from masterplan.config import Settings
from masterplan.llm.gateway import LLMGateway
from masterplan.llm.lifecycle import ModelRetired, check_model_lifecycle, parse_sdk_date
from masterplan.llm.pricing import PriceTable
from masterplan.models import LLMCallRecord

RETIREMENTS = {"claude-sonnet-4-5": "November 30th, 2026", "claude-opus-4-5": "January 22nd, 2027"}


async def discard(record: LLMCallRecord) -> None:
    del record


def gateway_settings(**models: str) -> Settings:
    return Settings(anthropic_api_key="sim-key", anthropic_base_url="http://127.0.0.1:9", **models)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("November 30th, 2026", date(2026, 11, 30)),
        ("January 22nd, 2027", date(2027, 1, 22)),
        ("June 1st, 2026", date(2026, 6, 1)),
        ("March 3rd, 2030", date(2030, 3, 3)),
        ("soon", None),
    ],
)
def test_the_sdk_dates_are_read(text: str, expected: date | None) -> None:
    assert parse_sdk_date(text) == expected


def test_a_deprecated_model_is_named_once_with_its_date_and_replacement(
    prices: PriceTable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="masterplan.llm.lifecycle"):
        warnings = check_model_lifecycle(
            {"settings.strong_model": "claude-opus-4-5-20251101", "settings.fast_model": "claude-haiku-4-5"},
            prices,
            today=date(2026, 12, 1),
            retirements=RETIREMENTS,
        )
    assert len(warnings) == 1
    assert [record.getMessage() for record in caplog.records] == warnings
    warning = warnings[0]
    assert "claude-opus-4-5-20251101" in warning
    assert "2027-01-22" in warning
    assert "claude-opus-4-6" in warning
    assert "MASTERPLAN_STRONG_MODEL" in warning


def test_a_model_past_its_end_of_life_is_refused(prices: PriceTable) -> None:
    with pytest.raises(ModelRetired) as refused:
        check_model_lifecycle(
            {"settings.fast_model": "claude-haiku-4-5", "settings.strong_model": "claude-opus-4-5"},
            prices,
            today=date(2027, 1, 22),
            retirements=RETIREMENTS,
        )
    message = str(refused.value)
    assert "claude-opus-4-5" in message
    assert "reached end of life on 2027-01-22" in message
    assert "claude-opus-4-6" in message


def test_current_models_pass_silently(prices: PriceTable, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        warnings = check_model_lifecycle(
            {"settings.fast_model": "claude-haiku-4-5", "settings.strong_model": "claude-sonnet-4-6"},
            prices,
            today=date(2026, 12, 1),
            retirements=RETIREMENTS,
        )
    assert warnings == []
    assert caplog.records == []


def test_the_gateway_checks_the_sdks_own_dates_at_start(caplog: pytest.LogCaptureFixture) -> None:
    settings = gateway_settings(strong_model="claude-opus-4-5")
    with caplog.at_level(logging.WARNING, logger="masterplan.llm.lifecycle"):
        LLMGateway(settings, recorder=discard, today=date(2026, 12, 1))
    assert len(caplog.records) == 1
    assert "2027-01-22" in caplog.records[0].getMessage()
    with pytest.raises(ModelRetired, match="claude-opus-4-5"):
        LLMGateway(settings, recorder=discard, today=date(2027, 1, 23))


def test_the_cli_refuses_a_retired_model_in_one_line(tmp_path: Path) -> None:
    """Sonnet 4.5 reached its end of life on 2026-11-30, so this holds on every later day."""
    env = {
        "PATH": "/usr/bin:/bin",
        "MASTERPLAN_DATABASE_URL": f"sqlite://{tmp_path / 'masterplan.db'}",
        "MASTERPLAN_WORKSPACE_ROOT": str(tmp_path / "workspaces"),
        "MASTERPLAN_STRONG_MODEL": "claude-sonnet-4-5",
    }
    result = subprocess.run(
        [sys.executable, "-m", "masterplan.cli", "run", "A todo list", "--auto-answer", "--yes", "--sim"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "claude-sonnet-4-5" in lines[0]
    assert "reached end of life on 2026-11-30" in lines[0]
    assert "claude-sonnet-4-6" in lines[0]
    assert not (tmp_path / "workspaces").exists()
