"""``serve`` on an address other machines can reach requires the sandbox unless the setting says otherwise."""

from __future__ import annotations

import pytest

from masterplan.cli import serving_settings
from masterplan.config import Settings


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org", ""])
def test_serving_on_a_reachable_address_requires_the_sandbox_by_default(host: str) -> None:
    assert serving_settings(Settings(), host).sandbox == "required"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_serving_on_loopback_keeps_auto(host: str) -> None:
    assert serving_settings(Settings(), host).sandbox == "auto"


@pytest.mark.parametrize("chosen", ["auto", "off", "required"])
def test_an_explicit_choice_is_kept_on_any_address(chosen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTERPLAN_SANDBOX", chosen)

    assert serving_settings(Settings(), "0.0.0.0").sandbox == chosen
