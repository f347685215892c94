"""Structured outputs as the Messages API documents them: ``output_config.format`` with a JSON schema.

The API accepts a subset of JSON Schema and answers 400 ``invalid_request_error`` naming the first feature it
does not support (``output_config.format.schema: For 'integer' type, property 'minimum' is not supported``):
numeric bounds, string lengths, most array and object size constraints, objects whose
``additionalProperties`` is not ``false``, and recursive definitions. The SDK's ``transform_schema`` moves
those constraints into descriptions, so a schema built with it passes. A valid schema constrains decoding:
the answer is JSON that matches it, so wrapping and damage faults do not apply (``compose``); an answer can
still be cut at ``max_tokens`` or end with ``stop_reason: refusal``.

A simulator started with ``structured_outputs`` off stands for an Anthropic-compatible server without the
feature: it refuses the parameter as an unknown field, as such servers do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from masterplan.sim.errors import invalid_request

WHERE = "output_config.format.schema"
UNSUPPORTED: dict[str, tuple[str, ...]] = {
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "string": ("minLength", "maxLength"),
    "array": ("maxItems", "uniqueItems"),
    "object": ("minProperties", "maxProperties", "patternProperties"),
}
REFUSAL_TEXT = "I can't help with that request."


def output_schema(
    body: Mapping[str, Any], model: str, *, supported: bool, model_supports: bool
) -> dict[str, Any] | None:
    """The schema a request asks its answer to match, or None; SimAPIError (400) as the API refuses it."""
    if "output_config" not in body:
        return None
    if not supported:
        raise invalid_request("output_config: Extra inputs are not permitted")
    config = body["output_config"]
    if not isinstance(config, dict):
        raise invalid_request("output_config: Input should be a valid dictionary")
    unknown = sorted(set(config) - {"format", "effort"})
    if unknown:
        raise invalid_request(f"output_config.{unknown[0]}: Extra inputs are not permitted")
    output_format = config.get("format")
    if output_format is None:
        return None
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        raise invalid_request("output_config.format.type: Input should be 'json_schema'")
    if not model_supports:
        raise invalid_request(f"output_config.format: structured outputs are not supported by the model {model}")
    schema = output_format.get("schema")
    if not isinstance(schema, dict):
        raise invalid_request(f"{WHERE}: Field required")
    problem = schema_problem(schema)
    if problem is not None:
        raise invalid_request(f"{WHERE}: {problem}")
    return schema


def schema_problem(schema: dict[str, Any]) -> str | None:
    """The first feature of ``schema`` the API does not support, worded as it words it; None when valid."""
    definitions = schema.get("$defs", {})
    if not isinstance(definitions, dict):
        return "'$defs' must be an object"
    if _recursive(definitions):
        return "Recursive schemas are not supported"
    for node in [schema, *definitions.values()]:
        for part in _nodes(node):
            problem = _node_problem(part)
            if problem is not None:
                return problem
    return None


def _node_problem(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    for name in kinds:
        for key in UNSUPPORTED.get(str(name), ()):
            if key in node:
                return f"For '{name}' type, property '{key}' is not supported"
    if "array" in kinds and node.get("minItems", 0) not in (0, 1):
        return "For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    if "object" in kinds and node.get("additionalProperties") is not False:
        return "For 'object' type, 'additionalProperties' must be explicitly set to false"
    return None


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every sub-schema of ``node`` (definitions excepted, which are walked on their own)."""
    if not isinstance(node, dict):
        return
    yield node
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            yield from _nodes(node[key])
    for child in (node.get("properties") or {}).values():
        yield from _nodes(child)
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        for child in node.get(key) or []:
            yield from _nodes(child)


def _references(node: Any) -> Iterator[str]:
    for part in _nodes(node):
        reference = part.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            yield reference.removeprefix("#/$defs/")


def _recursive(definitions: dict[str, Any]) -> bool:
    """Whether a definition refers back to itself, directly or through others."""
    edges = {name: set(_references(node)) for name, node in definitions.items()}
    done: set[str] = set()

    def cycles(name: str, path: frozenset[str]) -> bool:
        if name in path:
            return True
        if name in done or name not in edges:
            return False
        found = any(cycles(child, path | {name}) for child in edges[name])
        done.add(name)
        return found

    return any(cycles(name, frozenset()) for name in edges)
