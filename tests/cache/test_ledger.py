from decimal import Decimal

from masterplan.cache import CacheLedger
from masterplan.llm.pricing import PriceTable
from masterplan.llm.usage import TokenUsage
from masterplan.models import LLMCallRecord


def record(prices: PriceTable, task_id: str | None, phase: str, usage: TokenUsage) -> LLMCallRecord:
    return LLMCallRecord(
        run_id="r1",
        task_id=task_id,
        phase=phase,
        role="developer",
        prompt_name="developer",
        prompt_version=1,
        model="claude-haiku-4-5",
        input_tokens=usage.input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=prices.cost("claude-haiku-4-5", usage),
    )


def test_ledger_reports_read_share_and_counterfactual_per_task_phase_and_run(prices: PriceTable) -> None:
    ledger = CacheLedger(prices)
    first = TokenUsage(input_tokens=100, cache_write_5m_tokens=5_000, output_tokens=200)
    second = TokenUsage(input_tokens=100, cache_write_5m_tokens=50, cache_read_tokens=5_000, output_tokens=200)
    ledger.on_call(record(prices, "t1", "task_execution", first))
    ledger.on_call(record(prices, "t2", "task_execution", second))
    ledger.on_call(record(prices, None, "master_plan", TokenUsage(input_tokens=1_000, output_tokens=10)))

    assert ledger.task("r1", "t2").cache_read_share == 5_000 / 5_150
    assert ledger.task("r1", "t1").cache_read_share == 0
    phase = ledger.phase("r1", "task_execution")
    assert phase.calls == 2
    assert phase.cache_read_share == 5_000 / 10_250
    # by hand, Haiku 4.5: actual (100+100)*1 + 5050*1.25 + 5000*0.10 + 400*5 = 9012.5 per million
    assert phase.cost_usd == Decimal("0.0090125")
    # without caching every prompt token is plain input: 10250*1 + 400*5 = 12250 per million
    assert phase.uncached_cost_usd == Decimal("0.01225")
    assert phase.savings_usd == Decimal("0.0032375")
    run = ledger.run("r1")
    assert run.calls == 3
    assert "3 calls" in ledger.report("r1")
    assert "phase master_plan" in ledger.report("r1")
