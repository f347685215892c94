"""The run's money: a call whose worst case does not fit what is left is never sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


class BudgetExceeded(Exception):
    """The worst case of the next call does not fit the run's remaining budget; the call was not sent."""

    def __init__(self, needed: Decimal, remaining: Decimal) -> None:
        super().__init__(f"budget exceeded: the call may cost up to ${needed:.6f} but only ${remaining:.6f} remains")
        self.needed = needed
        self.remaining = remaining


@dataclass
class BudgetHold:
    """The worst case set aside for one attempt until its real cost is known."""

    amount: Decimal
    open: bool = True


class RunBudget:
    """Limit and spend of one run, shared by all its concurrent calls.

    ``reserve`` sets the worst case aside under a lock, so two concurrent calls can never both
    pass the check on the same money; ``settle`` replaces the hold by the real cost.
    """

    def __init__(self, limit_usd: Decimal, spent_usd: Decimal = Decimal(0), *, run_id: str | None = None) -> None:
        if limit_usd <= 0:
            raise ValueError(f"a budget must be positive, got {limit_usd}")
        if spent_usd < 0:
            raise ValueError(f"spent must not be negative, got {spent_usd}")
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.run_id = run_id
        self._held = Decimal(0)
        self._lock = asyncio.Lock()

    @property
    def held_usd(self) -> Decimal:
        return self._held

    @property
    def remaining_usd(self) -> Decimal:
        """What is neither spent nor set aside for calls in flight."""
        return self.limit_usd - self.spent_usd - self._held

    async def reserve(self, worst_case: Decimal) -> BudgetHold:
        """Sets ``worst_case`` aside, or raises BudgetExceeded (nothing is held then)."""
        async with self._lock:
            remaining = self.remaining_usd
            if worst_case > remaining:
                raise BudgetExceeded(worst_case, max(remaining, Decimal(0)))
            self._held += worst_case
            return BudgetHold(worst_case)

    async def reserve_all(self, worst_cases: Sequence[Decimal]) -> list[BudgetHold]:
        """Sets every worst case aside, or none of them: BudgetExceeded names their sum if it does not fit."""
        total = sum(worst_cases, Decimal(0))
        async with self._lock:
            remaining = self.remaining_usd
            if total > remaining:
                raise BudgetExceeded(total, max(remaining, Decimal(0)))
            self._held += total
            return [BudgetHold(worst_case) for worst_case in worst_cases]

    def rebook(self, counted: Decimal, actual_cost: Decimal) -> None:
        """An answer whose call a resumed run counted as spent at ``counted`` (its worst case) cost ``actual_cost``."""
        self.spent_usd += actual_cost - counted

    def settle(self, hold: BudgetHold, actual_cost: Decimal) -> None:
        """Releases the hold and books the real cost (idempotent per hold)."""
        if not hold.open:
            return
        hold.open = False
        self._held -= hold.amount
        self.spent_usd += actual_cost
