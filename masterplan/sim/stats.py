"""What the simulator served, for tests and benchmarks (``GET /sim/stats``).

``requests_by_role``, ``requests_by_task`` and ``tokens`` count every request the model answered,
over ``/v1/messages`` or inside a message batch; ``requests_by_status``, ``rate_limited`` and
``faults`` are about the Messages API's HTTP requests. ``batches`` counts the Message Batches API:
batches created and ended, their requests by result, the faults drawn inside them and the tokens
of their answers (a part of ``tokens``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TOKEN_KINDS = ("input", "cache_write", "cache_read", "output")
BATCH_RESULTS = ("succeeded", "errored", "canceled", "expired")


@dataclass
class BatchStats:
    created: int = 0
    ended: int = 0
    requests_by_result: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.created = self.ended = 0
        for counter in (self.requests_by_result, self.faults, self.tokens):
            counter.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "ended": self.ended,
            "requests_by_result": {result: self.requests_by_result[result] for result in BATCH_RESULTS},
            "faults": dict(self.faults),
            "tokens": {key: self.tokens[key] for key in TOKEN_KINDS},
        }


@dataclass
class SimStats:
    requests_by_role: Counter[str] = field(default_factory=Counter)
    requests_by_task: Counter[str] = field(default_factory=Counter)
    requests_by_status: Counter[int] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    batches: BatchStats = field(default_factory=BatchStats)

    def record_tokens(
        self, *, input_tokens: int, cache_write: int, cache_read: int, output: int, in_batch: bool = False
    ) -> None:
        counts = {"input": input_tokens, "cache_write": cache_write, "cache_read": cache_read, "output": output}
        self.tokens.update(counts)
        if in_batch:
            self.batches.tokens.update(counts)

    def reset(self) -> None:
        for counter in (
            self.requests_by_role,
            self.requests_by_task,
            self.requests_by_status,
            self.tokens,
            self.faults,
        ):
            counter.clear()
        self.rate_limited = 0
        self.batches.reset()

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests_by_role": dict(self.requests_by_role),
            "requests_by_task": dict(self.requests_by_task),
            "requests_by_status": {str(status): n for status, n in sorted(self.requests_by_status.items())},
            "tokens": {key: self.tokens[key] for key in TOKEN_KINDS},
            "rate_limited": self.rate_limited,
            "faults": dict(self.faults),
            "batches": self.batches.snapshot(),
        }
