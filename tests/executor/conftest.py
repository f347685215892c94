from __future__ import annotations

import pytest

from masterplan.executor.sandbox import Sandbox, SandboxPolicy


@pytest.fixture
def sandbox() -> Sandbox:
    """The real bubblewrap sandbox, required: a test using it fails if the sandbox does not work here."""
    return Sandbox(SandboxPolicy(mode="required"))
