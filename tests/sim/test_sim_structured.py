"""Structured outputs on the simulator, through the real SDK over HTTP, as the Messages API documents them:
``output_config.format`` constrains the answer to the schema, an unsupported schema feature is a 400 naming
it, a server without the feature refuses the parameter, and ``refusal`` and ``max_tokens`` still end answers."""

from __future__ import annotations

from typing import Any

import anthropic
import pydantic
import pytest
from sim_helpers import FAST_MODEL, StartSim, long_text, sdk_client, system_for, user_blocks

from masterplan import models

WRAPPING_AND_DAMAGE = "malformed_json=0.5,prose_json=0.25,fenced_json=0.25"
TASK_TAIL = (
    '<task>{"task_id": "T01", "title": "Stock levels", "files": ["shop/stock.py", "tests/test_stock.py"]}</task>'
)


def task_format(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": {"type": "json_schema", "schema": schema or anthropic.transform_schema(models.TaskOutput)}}


async def ask(client: anthropic.AsyncAnthropic, seed: int, **extra: Any) -> anthropic.types.Message:
    return await client.messages.create(
        model=FAST_MODEL,
        max_tokens=extra.pop("max_tokens", 8000),
        system=system_for("TaskOutput"),
        messages=[{"role": "user", "content": user_blocks(tail=f"{TASK_TAIL}\n<!-- request {seed} -->")}],
        **extra,
    )


async def test_a_structured_answer_always_parses_and_matches_the_schema(start_sim: StartSim) -> None:
    async with start_sim(faults=WRAPPING_AND_DAMAGE) as sim, sdk_client(sim) as client:
        for seed in range(12):
            message = await ask(client, seed, output_config=task_format())
            assert message.stop_reason == "end_turn"
            assert message.content[0].type == "text"
            models.TaskOutput.model_validate_json(message.content[0].text)
        plain = [await ask(client, seed) for seed in range(12)]
    assert sim.stats()["faults"].keys() <= {"malformed_json", "prose_json", "fenced_json"}
    broken = 0
    for message in plain:  # the same faults without a schema: the answers need the parser, or fail it
        assert message.content[0].type == "text"
        try:
            models.TaskOutput.model_validate_json(message.content[0].text)
        except ValueError:
            broken += 1
    assert broken >= 6


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (models.TaskOutput.model_json_schema(), "For 'string' type, property 'maxLength' is not supported"),
        (
            {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "additionalProperties": False},
            "For 'integer' type, property 'minimum' is not supported",
        ),
        ({"type": "object", "properties": {}}, "For 'object' type, 'additionalProperties' must be explicitly set"),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "For 'array' type, 'minItems' values other than 0 or 1 are not supported",
        ),
        (
            {
                "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}},
                                   "additionalProperties": False}},
                "$ref": "#/$defs/Node",
            },
            "Recursive schemas are not supported",
        ),
    ],
)  # fmt: skip
async def test_a_schema_feature_the_api_does_not_support_is_a_400_naming_it(
    start_sim: StartSim, schema: dict[str, Any], message: str
) -> None:
    async with start_sim() as sim, sdk_client(sim) as client:
        with pytest.raises(anthropic.BadRequestError) as refused:
            await ask(client, 0, output_config=task_format(schema))
    assert refused.value.status_code == 400
    assert f"output_config.format.schema: {message}" in str(refused.value)


async def test_a_model_without_structured_outputs_and_a_server_without_the_feature_refuse_it(
    start_sim: StartSim,
) -> None:
    async with start_sim() as sim, sdk_client(sim) as client:
        with pytest.raises(anthropic.BadRequestError, match="not supported by the model claude-opus-4-1"):
            await client.messages.create(
                model="claude-opus-4-1",
                max_tokens=1000,
                messages=[{"role": "user", "content": TASK_TAIL}],
                output_config=task_format(),
            )
    async with start_sim(structured_outputs=False) as sim, sdk_client(sim) as client:
        with pytest.raises(anthropic.BadRequestError, match="output_config: Extra inputs are not permitted"):
            await ask(client, 0, output_config=task_format())
        assert (await ask(client, 0)).stop_reason == "end_turn"  # without the parameter it answers as ever


async def test_refusal_and_max_tokens_still_end_a_structured_answer(start_sim: StartSim) -> None:
    async with start_sim(faults="refusal=1") as sim, sdk_client(sim) as client:
        refused = await ask(client, 0, output_config=task_format())
    assert refused.stop_reason == "refusal"
    assert refused.content[0].type == "text"
    with pytest.raises(pydantic.ValidationError, match="Invalid JSON"):
        models.TaskOutput.model_validate_json(refused.content[0].text)
    async with start_sim(faults="truncated=1") as sim, sdk_client(sim) as client:
        cut = await ask(client, 0, output_config=task_format())
        short = await ask(client, 1, output_config=task_format(), max_tokens=20)
    assert cut.stop_reason == "max_tokens"
    assert short.stop_reason == "max_tokens"
    assert short.usage.output_tokens == 20


async def test_a_prefilled_answer_cannot_be_combined_with_structured_outputs(start_sim: StartSim) -> None:
    messages: list[anthropic.types.MessageParam] = [
        {"role": "user", "content": user_blocks(tail=TASK_TAIL)},
        {"role": "assistant", "content": '{"files": ['},
    ]
    async with start_sim() as sim, sdk_client(sim) as client:
        with pytest.raises(anthropic.BadRequestError) as refused:
            await client.messages.create(
                model=FAST_MODEL,
                max_tokens=8000,
                system=system_for("TaskOutput"),
                messages=messages,
                output_config=task_format(),
            )
        continued = await client.messages.create(  # without output_config, the prefill is continued as ever
            model=FAST_MODEL, max_tokens=8000, system=system_for("TaskOutput"), messages=messages
        )
    assert refused.value.status_code == 400
    assert "'type': 'invalid_request_error'" in str(refused.value)
    assert (
        "output_config.format: structured outputs cannot be combined with a prefilled assistant message; "
        "the conversation must end with a user message"
    ) in str(refused.value)
    assert continued.stop_reason == "end_turn"


async def test_the_schema_is_part_of_the_cached_prompt(start_sim: StartSim) -> None:
    """The same blocks read each other's cache only with the same output_config.format (or none)."""

    def prompt(tail: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": user_blocks(long_text(5000), tail=tail)}]

    async with start_sim() as sim, sdk_client(sim) as client:

        async def usage(tail: str, **extra: Any) -> tuple[int, int]:
            message = await client.messages.create(
                model=FAST_MODEL, max_tokens=4000, system=system_for("TaskOutput"), messages=prompt(tail), **extra
            )
            return message.usage.cache_creation_input_tokens or 0, message.usage.cache_read_input_tokens or 0

        written, read = await usage(f"{TASK_TAIL} 1", output_config=task_format())
        assert written > 0
        assert read == 0
        assert await usage(f"{TASK_TAIL} 2", output_config=task_format()) == (0, written)
        plain_written, plain_read = await usage(f"{TASK_TAIL} 3")  # no schema: another prefix
        assert plain_read == 0
        assert plain_written == written
