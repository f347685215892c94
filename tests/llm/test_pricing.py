from decimal import Decimal

import pytest

from masterplan.llm.pricing import PriceTable, PriceTableError, UnknownModel
from masterplan.llm.usage import TokenUsage

PUBLISHED = {
    # model: input, 5m write, 1h write, cache read, output (USD per million tokens)
    "claude-haiku-4-5": ("1", "1.25", "2", "0.10", "5"),
    "claude-sonnet-4-5": ("3", "3.75", "6", "0.30", "15"),
    "claude-sonnet-4-6": ("3", "3.75", "6", "0.30", "15"),
    "claude-opus-4-1": ("15", "18.75", "30", "1.50", "75"),
    "claude-opus-4-5": ("5", "6.25", "10", "0.50", "25"),
}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_packaged_table_has_anthropics_published_prices(prices: PriceTable, model: str) -> None:
    price = prices.get(model)
    listed = (price.input, price.cache_write_5m, price.cache_write_1h, price.cache_read, price.output)
    assert listed == tuple(Decimal(value) for value in PUBLISHED[model])


def test_fast_model_needs_4096_tokens_to_cache_and_sonnet_1024(prices: PriceTable) -> None:
    assert prices.get("claude-haiku-4-5").min_cacheable_tokens == 4096
    assert prices.get("claude-sonnet-4-6").min_cacheable_tokens == 1024


def test_each_usage_field_is_priced_at_its_own_rate(prices: PriceTable) -> None:
    usage = TokenUsage(
        input_tokens=1_000,
        cache_write_5m_tokens=2_000,
        cache_write_1h_tokens=3_000,
        cache_read_tokens=40_000,
        output_tokens=500,
    )
    # Sonnet 4.6 by hand: 1000*3 + 2000*3.75 + 3000*6 + 40000*0.30 + 500*15 = 48000 per million
    assert prices.cost("claude-sonnet-4-6", usage) == Decimal("0.048")


def test_cached_tokens_are_not_also_billed_as_input(prices: PriceTable) -> None:
    read_only = TokenUsage(cache_read_tokens=1_000_000)
    assert prices.cost("claude-haiku-4-5", read_only) == Decimal("0.10")


def test_counterfactual_prices_every_prompt_token_as_plain_input(prices: PriceTable) -> None:
    usage = TokenUsage(input_tokens=100, cache_write_5m_tokens=900, cache_read_tokens=9_000, output_tokens=10)
    price = prices.get("claude-haiku-4-5")
    assert price.uncached_cost(usage) == Decimal("0.01005")  # (10000*1 + 10*5) / 1e6
    assert price.cost(usage) < price.uncached_cost(usage)


def test_dated_alias_costs_the_same_as_its_model(prices: PriceTable) -> None:
    usage = TokenUsage(input_tokens=123, output_tokens=45)
    assert prices.cost("claude-haiku-4-5-20251001", usage) == prices.cost("claude-haiku-4-5", usage)


def test_unknown_model_is_an_error_naming_the_known_models(prices: PriceTable) -> None:
    with pytest.raises(UnknownModel, match=r"unknown model 'claude-nonesuch'.*claude-haiku-4-5"):
        prices.get("claude-nonesuch")


def test_price_table_without_a_price_field_is_refused() -> None:
    text = "[models.m]\ninput = 1.0\noutput = 2.0\nmax_output_tokens = 10\nmin_cacheable_tokens = 1\n"
    with pytest.raises(PriceTableError, match="lacks cache_write_5m, cache_write_1h, cache_read"):
        PriceTable.from_toml(text)


def test_price_given_as_text_is_refused() -> None:
    fields = 'input = "1"\ncache_write_5m = 1.25\ncache_write_1h = 2\ncache_read = 0.1\noutput = 5\n'
    text = f"[models.m]\n{fields}max_output_tokens = 10\nmin_cacheable_tokens = 1\n"
    with pytest.raises(PriceTableError, match="input must be a number"):
        PriceTable.from_toml(text)
