"""Token estimates made before a call, for the rate limiter, the budget check and cache planning.

There is no tokenizer here: a text counts ``ceil(utf-8 bytes / 4)`` tokens, plus a few tokens
for the role markers of each message. It is the rule the simulator counts with, and close to
Anthropic's tokenizer on English and code. Estimates are corrected by the real usage after
each call (the rate limiter reconciles, the budget settles the real cost).
"""

from __future__ import annotations

import math

BYTES_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 3


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)
