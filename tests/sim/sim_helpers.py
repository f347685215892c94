"""Helpers of the simulator tests: SDK clients and requests laid out as docs/request-layout.md says."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from anthropic import AsyncAnthropic

from masterplan import models
from masterplan.sim import SimulatorHandle

FAST_MODEL = "claude-haiku-4-5"
STRONG_MODEL = "claude-sonnet-4-6"

StartSim = Callable[..., AbstractAsyncContextManager[SimulatorHandle]]


def sdk_client(handle: SimulatorHandle, **options: Any) -> AsyncAnthropic:
    return AsyncAnthropic(api_key="sim-test-key", base_url=handle.base_url, **{"max_retries": 0, **options})


def system_for(schema: str, prompt: str = "You are a role of masterplan.") -> list[dict[str, Any]]:
    """A system prompt laid out as docs/request-layout.md says: role prompt + output schema, cached."""
    json_schema = orjson.dumps(getattr(models, schema).model_json_schema()).decode()
    text = f'{prompt}\n\n<output_schema name="{schema}">{json_schema}</output_schema>'
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def user_blocks(*cached: str, tail: str) -> list[dict[str, Any]]:
    """User content: cached prefix blocks (each a breakpoint) then the uncached tail."""
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}} for text in cached
    ]
    return [*blocks, {"type": "text", "text": tail}]


def long_text(tokens: int, seed: str = "context") -> str:
    """A text of about ``tokens`` tokens under the simulator's approximation (4 bytes a token)."""
    unit = f"{seed} line of project context. "
    return (unit * (tokens * 4 // len(unit) + 1))[: tokens * 4]
