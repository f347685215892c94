import asyncio
from decimal import Decimal

import pytest

from masterplan.llm.budget import BudgetExceeded, RunBudget


async def test_call_whose_worst_case_does_not_fit_is_refused_with_the_figures() -> None:
    budget = RunBudget(Decimal("1.00"), spent_usd=Decimal("0.70"))
    with pytest.raises(BudgetExceeded) as refused:
        await budget.reserve(Decimal("0.31"))
    assert refused.value.needed == Decimal("0.31")
    assert refused.value.remaining == Decimal("0.30")
    assert budget.held_usd == 0


async def test_concurrent_calls_cannot_both_spend_the_same_money() -> None:
    budget = RunBudget(Decimal("1.00"))
    results = await asyncio.gather(
        budget.reserve(Decimal("0.60")), budget.reserve(Decimal("0.60")), return_exceptions=True
    )
    assert sum(isinstance(result, BudgetExceeded) for result in results) == 1


async def test_settling_books_the_real_cost_and_frees_the_rest() -> None:
    budget = RunBudget(Decimal("1.00"))
    hold = await budget.reserve(Decimal("0.60"))
    assert budget.remaining_usd == Decimal("0.40")
    budget.settle(hold, Decimal("0.05"))
    budget.settle(hold, Decimal("0.05"))  # settling twice changes nothing
    assert budget.spent_usd == Decimal("0.05")
    assert budget.remaining_usd == Decimal("0.95")


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RunBudget(Decimal(0))
