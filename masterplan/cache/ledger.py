"""How much caching saved: cache-read share and the counterfactual cost, per call, task, phase and run.

The ledger is a GatewayObserver: hand it to the gateway and it sees every recorded attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from masterplan.llm.observer import GatewayObserver
from masterplan.llm.pricing import PriceTable
from masterplan.llm.usage import TokenUsage
from masterplan.models import LLMCallRecord


@dataclass
class CacheFigures:
    """Usage, cost and no-cache counterfactual of a set of calls."""

    calls: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: Decimal = Decimal(0)
    uncached_cost_usd: Decimal = Decimal(0)

    @property
    def cache_read_share(self) -> float:
        """Cache reads as a share of all prompt tokens (uncached input + cache writes + cache reads)."""
        return self.usage.cache_read_share

    @property
    def savings_usd(self) -> Decimal:
        """What caching saved (negative when writes cost more than reads saved)."""
        return self.uncached_cost_usd - self.cost_usd

    def add(self, usage: TokenUsage, cost: Decimal, uncached_cost: Decimal) -> None:
        self.calls += 1
        self.usage = self.usage + usage
        self.cost_usd += cost
        self.uncached_cost_usd += uncached_cost

    def summary(self) -> str:
        return (
            f"{self.calls} calls, cache-read share {self.cache_read_share:.1%} of "
            f"{self.usage.total_input_tokens} input tokens, cost ${self.cost_usd:.6f} "
            f"(${self.uncached_cost_usd:.6f} without caching)"
        )


class CacheLedger(GatewayObserver):
    def __init__(self, prices: PriceTable) -> None:
        self._prices = prices
        self.total = CacheFigures()
        self._runs: dict[str | None, CacheFigures] = {}
        self._phases: dict[tuple[str | None, str], CacheFigures] = {}
        self._tasks: dict[tuple[str | None, str], CacheFigures] = {}

    def call_figures(self, record: LLMCallRecord) -> CacheFigures:
        """The figures of one recorded attempt on its own."""
        figures = CacheFigures()
        usage = TokenUsage.from_record(record)
        figures.add(usage, record.cost_usd, self._prices.get(record.model).uncached_cost(usage))
        return figures

    def on_call(self, record: LLMCallRecord) -> None:
        usage = TokenUsage.from_record(record)
        uncached = self._prices.get(record.model).uncached_cost(usage)
        targets = [
            self.total,
            self._runs.setdefault(record.run_id, CacheFigures()),
            self._phases.setdefault((record.run_id, record.phase), CacheFigures()),
        ]
        if record.task_id is not None:
            targets.append(self._tasks.setdefault((record.run_id, record.task_id), CacheFigures()))
        for figures in targets:
            figures.add(usage, record.cost_usd, uncached)

    def run(self, run_id: str | None) -> CacheFigures:
        return self._runs.get(run_id, CacheFigures())

    def phase(self, run_id: str | None, phase: str) -> CacheFigures:
        return self._phases.get((run_id, phase), CacheFigures())

    def task(self, run_id: str | None, task_id: str) -> CacheFigures:
        return self._tasks.get((run_id, task_id), CacheFigures())

    def report(self, run_id: str | None) -> str:
        """A readable per-run and per-phase summary."""
        lines = [f"run {run_id}: {self.run(run_id).summary()}"]
        for (run, phase), figures in sorted(self._phases.items(), key=lambda item: item[0][1]):
            if run == run_id:
                lines.append(f"  phase {phase}: {figures.summary()}")
        return "\n".join(lines)
