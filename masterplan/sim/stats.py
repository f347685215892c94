"""What the simulator served, for tests and benchmarks (``GET /sim/stats``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimStats:
    requests_by_role: Counter[str] = field(default_factory=Counter)
    requests_by_task: Counter[str] = field(default_factory=Counter)
    requests_by_status: Counter[int] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def record_tokens(self, *, input_tokens: int, cache_write: int, cache_read: int, output: int) -> None:
        self.tokens.update(input=input_tokens, cache_write=cache_write, cache_read=cache_read, output=output)

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

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests_by_role": dict(self.requests_by_role),
            "requests_by_task": dict(self.requests_by_task),
            "requests_by_status": {str(status): n for status, n in sorted(self.requests_by_status.items())},
            "tokens": {key: self.tokens[key] for key in ("input", "cache_write", "cache_read", "output")},
            "rate_limited": self.rate_limited,
            "faults": dict(self.faults),
        }
