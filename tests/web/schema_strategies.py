"""Hypothesis strategies for the documents a JSON schema describes: the API's request schemas, as it publishes them.

Covers the keywords pydantic emits for masterplan's request models (``type``,
``properties``/``required``/``additionalProperties``, ``propertyNames``,
``items``/``maxItems``, string and number bounds, ``pattern``, ``enum``, ``const``, ``anyOf``
and local ``$ref``); anything else fails loudly so a new keyword is not
silently ignored. (hypothesis-jsonschema 0.23.1, the package for this, breaks
on the Hypothesis this project tests with: it uses Hypothesis internals that
have since changed.)
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

HANDLED = {
    "type", "properties", "required", "additionalProperties", "propertyNames", "items", "maxItems", "minItems",
    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "const",
    "anyOf", "$ref", "$defs", "title", "description", "default", "pattern",
    "patternProperties", "maxProperties",
}  # fmt: skip
#: long enough for the boundaries that matter without drawing megabytes
TEXT_CAP = 300


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:  # noqa: PLR0911
    root = root if root is not None else schema
    unknown = set(schema) - HANDLED
    if unknown:
        raise NotImplementedError(f"schema keywords not handled: {sorted(unknown)}")
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return st.deferred(lambda: from_schema(root["$defs"][name], root))
    if "anyOf" in schema:
        return st.one_of([from_schema(option, root) for option in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, root)
    if kind == "array":
        items = from_schema(schema.get("items", {}), root)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=schema.get("maxItems", 5))
    if kind == "string":
        return _text(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(
            min_value=schema.get("exclusiveMinimum", schema.get("minimum")),
            max_value=schema.get("exclusiveMaximum", schema.get("maximum")),
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise NotImplementedError(f"schema type not handled: {kind!r}")


def _text(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in schema:  # the id patterns: matching text, within the length bounds
        return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda text: len(text) <= TEXT_CAP)
    low = schema.get("minLength", 0)
    return st.text(min_size=low, max_size=max(low, min(schema.get("maxLength", TEXT_CAP), TEXT_CAP)))


def _object(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    if "patternProperties" in schema:  # a mapping whose keys match a pattern (task id -> change)
        ((pattern, value),) = schema["patternProperties"].items()
        keys = st.from_regex(pattern, fullmatch=True).filter(lambda key: len(key) <= TEXT_CAP)
        return st.dictionaries(keys, from_schema(value, root), max_size=min(schema.get("maxProperties", 4), 4))
    properties = {name: from_schema(part, root) for name, part in schema.get("properties", {}).items()}
    required = set(schema.get("required", ()))
    fixed = st.fixed_dictionaries(
        {name: value for name, value in properties.items() if name in required},
        optional={name: value for name, value in properties.items() if name not in required},
    )
    extra = schema.get("additionalProperties", True)
    if not isinstance(extra, dict):
        return fixed
    names = _text({"type": "string", **schema.get("propertyNames", {})})
    return st.builds(lambda known, more: {**more, **known}, fixed, st.dictionaries(names, from_schema(extra, root)))
