"""Fixtures of the gateway tests: the packaged price table and phase configurations."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from masterplan.llm.pricing import PriceTable
from masterplan.models import PhaseConfig

PROMPTS = Path(__file__).resolve().parents[2] / "masterplan" / "prompts"


@pytest.fixture(scope="session")
def prices() -> PriceTable:
    return PriceTable.load()


@pytest.fixture(scope="session")
def phases() -> dict[str, PhaseConfig]:
    data = tomllib.loads((PROMPTS / "phases.toml").read_text(encoding="utf-8"))
    return {name: PhaseConfig(phase=name, **entry) for name, entry in data.items()}
