"""The streaming answer: Anthropic's server-sent event sequence, deltas spread over the latency."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from masterplan.sim.compose import Answer, OutputCharge
from masterplan.sim.tokens import text_tokens

CHUNK_CHARS = 48
"""Characters per text delta (about a dozen tokens)."""
MAX_SLEEPS = 50
"""Deltas are sent in at most this many timed batches, however long the answer."""


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def stream_answer(
    request: web.Request,
    response: web.StreamResponse,
    message: dict[str, Any],
    answer: Answer,
    *,
    generation_s: float,
    disconnect_midway: bool,
    charge: OutputCharge,
) -> web.StreamResponse:
    """Write the events of ``message`` (whose content is ``answer.text``) to a prepared response.

    ``charge`` follows the output tokens of the text sent so far, so that an answer that breaks
    off (a disconnect fault, a client that goes away) is charged what it sent.
    """
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    await response.write(_event("message_start", {"type": "message_start", "message": start}))
    await response.write(
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    )
    await response.write(_event("ping", {"type": "ping"}))
    chunks = [answer.text[i : i + CHUNK_CHARS] for i in range(0, len(answer.text), CHUNK_CHARS)] or [""]
    batch = max(1, -(-len(chunks) // MAX_SLEEPS))
    pause = generation_s / max(1, -(-len(chunks) // batch))
    for index in range(0, len(chunks), batch):
        if disconnect_midway and index >= len(chunks) // 2:
            if request.transport is not None:
                request.transport.abort()
            return response
        data = b"".join(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": chunk}},
            )
            for chunk in chunks[index : index + batch]
        )
        await response.write(data)
        charge.tokens = text_tokens("".join(chunks[: index + batch]))
        if pause > 0:
            await asyncio.sleep(pause)
    charge.tokens = answer.output_tokens
    await response.write(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    usage = {key: value for key, value in message["usage"].items() if key != "cache_creation"}
    await response.write(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": answer.stop_reason, "stop_sequence": None},
                "usage": usage,
            },
        )
    )
    await response.write(_event("message_stop", {"type": "message_stop"}))
    await response.write_eof()
    return response
