"""Which cache TTL to ask for: 5 minutes unless the next reuse of a prefix is likely to come later.

A 5-minute write costs 1.25x the input price and a 1-hour write 2x; a read costs 0.1x. If the
gap until the prefix is read again may exceed 5 minutes (checks running between task calls,
waiting for the user's answers), the 5-minute entry would expire and be written again at full
price, so the 1-hour TTL is cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass

from masterplan.llm.request import CacheTTL

FIVE_MINUTES_S = 300.0
SAFETY_MARGIN = 0.8
"""A gap above 80% of 5 minutes counts as 'likely over 5 minutes': latency varies."""


def choose_ttl(expected_gap_s: float) -> CacheTTL:
    return "1h" if expected_gap_s > FIVE_MINUTES_S * SAFETY_MARGIN else "5m"


@dataclass(frozen=True)
class TTLHint:
    """Expected seconds until the request's prefixes are sent again.

    ``stable_gap_s`` is for the blocks that stay the same for the whole run (role prompt, project);
    ``log_gap_s`` for the completed-tasks log (default: the same gap).
    """

    stable_gap_s: float = 0.0
    log_gap_s: float | None = None

    @classmethod
    def for_run(cls, *, checks_enabled: bool, check_timeout_s: float, awaits_user: bool = False) -> TTLHint:
        """Task calls with checks in between can be further apart than a check's time limit."""
        if awaits_user:
            return cls(stable_gap_s=float("inf"))
        gap = check_timeout_s if checks_enabled else 0.0
        return cls(stable_gap_s=gap)

    @property
    def stable_ttl(self) -> CacheTTL:
        return choose_ttl(self.stable_gap_s)

    @property
    def log_ttl(self) -> CacheTTL:
        return choose_ttl(self.stable_gap_s if self.log_gap_s is None else self.log_gap_s)
