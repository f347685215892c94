"""The simulator's token approximation: deterministic and documented, not a real tokenizer.

- a text is ``ceil(utf-8 bytes / 4)`` tokens (at least 1 when non-empty);
- any other block (a tool definition, an image, a tool_use or tool_result) is the text
  approximation of its JSON (keys sorted, no spaces);
- each message adds ``MESSAGE_OVERHEAD_TOKENS`` for its role markers;
- an answer's output tokens are the text approximation of all its text (at least 1).
"""

from __future__ import annotations

import math
from typing import Any

import orjson

MESSAGE_OVERHEAD_TOKENS = 3
BYTES_PER_TOKEN = 4


def text_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def json_tokens(value: Any) -> int:
    return math.ceil(len(canonical_json(value)) / BYTES_PER_TOKEN)


def output_tokens(text: str) -> int:
    return max(1, text_tokens(text))
