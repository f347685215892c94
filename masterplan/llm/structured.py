"""Structured outputs: each phase's pydantic schema sent as ``output_config.format``, where it is taken.

The Messages API decodes an answer to match a JSON schema sent as ``output_config.format``, so it
parses and has the schema's shape; masterplan's pydantic models still validate it (the API takes a
subset of JSON Schema, and the SDK's ``transform_schema`` moves what it does not take, string
lengths and numeric bounds, into descriptions). The schema is sent when the setting is on, the
price table says the model has the feature, and the server has not refused it.

Refused means a 400 naming ``output_config``. Anthropic-compatible servers without the feature
refuse the unknown field; Anthropic refuses it for a model without the feature and names the schema
feature it does not support. What the refusal names is turned off (the schema of that phase, that
model, or the whole server the gateway talks to), the same request goes again without it, and the
parser with its re-asks does the work it did before. Each is logged once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace
from typing import Any, Literal

from anthropic import transform_schema
from pydantic import BaseModel

from masterplan.llm.attempt import AttemptFailure
from masterplan.llm.pricing import ModelPrice
from masterplan.llm.request import LLMRequest

logger = logging.getLogger(__name__)

PARAMETER = "output_config"
REFUSAL_STATUSES = frozenset({400, 422})
Scope = Literal["server", "model", "schema"]


@dataclass(frozen=True)
class StructuredOutputsOff:
    """What a server's refusal turned off, and why (for the log and the observer)."""

    scope: Scope
    server: str
    model: str
    schema_name: str
    reason: str
    first: bool = True
    """False when a request in flight was refused after the same refusal turned the feature off."""


@functools.cache
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """The schema the API accepts for ``schema``, built once per model by the SDK's own helper."""
    return transform_schema(schema)


class StructuredOutputs:
    """Which requests carry their schema; one per gateway, so per server (base URL)."""

    def __init__(self, *, enabled: bool, server: str) -> None:
        self._enabled = enabled
        self._server = server
        self._off: set[tuple[Scope, str]] = set()

    def apply(self, request: LLMRequest, schema: type[BaseModel], price: ModelPrice) -> LLMRequest:
        """``request`` with its schema attached when the model and server take it."""
        if not self.available(price, request.schema_name) or request.continuation is not None:
            return request
        return replace(request, output_schema=json_schema_of(schema))

    def available(self, price: ModelPrice, schema_name: str) -> bool:
        if not self._enabled or not price.structured_outputs or ("server", "") in self._off:
            return False
        return ("model", price.model) not in self._off and ("schema", schema_name) not in self._off

    def refused(self, request: LLMRequest, failure: AttemptFailure, price: ModelPrice) -> StructuredOutputsOff | None:
        """Whether ``failure`` is the server refusing ``request``'s schema; if so, it is off from now on.

        400 is Anthropic's status for it; 422 that of compatible servers built on request validation."""
        if request.output_schema is None or failure.status_code not in REFUSAL_STATUSES:
            return None
        if PARAMETER not in failure.message:
            return None
        scope: Scope = "server"
        if f"{PARAMETER}.format.schema" in failure.message:
            scope = "schema"
        elif request.model in failure.message or price.model in failure.message:
            scope = "model"
        key = {"server": "", "model": price.model, "schema": request.schema_name}[scope]
        first = (scope, key) not in self._off
        off = StructuredOutputsOff(scope, self._server, request.model, request.schema_name, failure.message, first)
        if first:
            self._off.add((scope, key))
            logger.warning(
                "structured outputs turned off for %s (server %s, model %s, schema %s): the server refused "
                "output_config (%s); answers are parsed from text and re-asked as without the feature",
                {"server": "this server", "model": "this model", "schema": "this schema"}[scope],
                off.server,
                off.model,
                off.schema_name,
                off.reason,
            )
        return off
