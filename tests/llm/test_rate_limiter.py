"""The token-bucket limiter on a manual clock: nothing here sleeps for real."""

import asyncio

import pytest

from masterplan.llm.clock import ManualClock
from masterplan.llm.observer import GatewayObserver
from masterplan.llm.ratelimit import RateLimits, RatePool, tier_limits
from masterplan.models import ModelClass

LIMITS = RateLimits(requests_per_minute=60, input_tokens_per_minute=6_000, output_tokens_per_minute=600)


class WaitLog(GatewayObserver):
    def __init__(self) -> None:
        self.waits: list[float] = []

    def on_rate_limit_wait(self, model_class: ModelClass, seconds: float) -> None:
        self.waits.append(seconds)


def pool(clock: ManualClock, limits: RateLimits = LIMITS, observer: GatewayObserver | None = None) -> RatePool:
    return RatePool("test", limits, clock=clock, observer=observer)


def start(coroutine_pool: RatePool, input_tokens: int, output_tokens: int) -> asyncio.Task[float]:
    async def acquire() -> float:
        reservation = await coroutine_pool.acquire("fast", input_tokens, output_tokens)
        return reservation.waited_s

    return asyncio.create_task(acquire())


async def test_a_full_bucket_admits_at_once() -> None:
    clock = ManualClock()
    reservation = await pool(clock).acquire("fast", 1_000, 100)
    assert reservation.waited_s == 0


async def test_caller_waits_exactly_until_the_output_bucket_refills() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    await limiter.acquire("fast", 0, 600)  # empties the output bucket (600 per minute = 10 per second)
    waiting = start(limiter, 0, 50)
    await clock.advance(4.9)
    assert not waiting.done()
    await clock.advance(0.1)
    assert waiting.done()
    assert waiting.result() == pytest.approx(5.0)


async def test_waiters_are_served_first_come_first_served() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    await limiter.acquire("fast", 0, 600)
    big = start(limiter, 0, 300)  # needs 30 s of refill
    await asyncio.sleep(0)
    small = start(limiter, 0, 10)  # would fit after 1 s, but must not overtake
    await clock.advance(29)
    assert not big.done()
    assert not small.done()
    await clock.advance(1)
    assert big.done()
    assert not small.done()
    await clock.advance(1)
    assert small.done()


async def test_one_timer_serves_the_whole_queue_instead_of_polling() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    await limiter.acquire("fast", 0, 600)
    tasks = [start(limiter, 0, 100) for _ in range(5)]
    await clock.advance(0)
    assert limiter.queued == 5
    assert clock.pending_sleepers == 1
    await clock.advance(60)
    assert all(task.done() for task in tasks)


async def test_unused_output_reservation_is_refunded_at_once() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    first = await limiter.acquire("fast", 0, 600)
    waiting = start(limiter, 0, 300)
    await clock.advance(1)
    assert not waiting.done()
    limiter.reconcile(first, 0, 100)  # the answer was 100 tokens, not 600
    await clock.advance(0)
    assert waiting.done()


async def test_input_bucket_counts_what_the_response_really_used() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    reservation = await limiter.acquire("fast", 1_000, 10)
    limiter.reconcile(reservation, 3_000, 10)
    assert limiter.levels()["input-tokens"] == pytest.approx(3_000)


async def test_request_bigger_than_the_bucket_goes_when_full_and_leaves_a_debt() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    await limiter.acquire("fast", 0, 1_200)  # twice the per-minute output limit
    assert limiter.levels()["output-tokens"] == pytest.approx(-600)
    waiting = start(limiter, 0, 60)
    await clock.advance(65)
    assert not waiting.done()
    await clock.advance(1)
    assert waiting.done()


async def test_rate_limit_headers_are_adopted_as_the_truth() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    limiter.adopt_headers(
        {
            "anthropic-ratelimit-requests-limit": "120",
            "anthropic-ratelimit-requests-remaining": "7",
            "anthropic-ratelimit-output-tokens-limit": "600",
            "anthropic-ratelimit-output-tokens-remaining": "42",
        }
    )
    levels = limiter.levels()
    assert levels["requests"] == 7
    assert levels["output-tokens"] == 42
    assert limiter.limits == RateLimits(120, 6_000, 600)


async def test_higher_remaining_in_headers_does_not_undo_local_reservations() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    await limiter.acquire("fast", 0, 500)
    limiter.adopt_headers({"anthropic-ratelimit-output-tokens-remaining": "600"})
    assert limiter.levels()["output-tokens"] == pytest.approx(100)


async def test_a_429_hold_stops_every_caller_until_retry_after() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    limiter.hold(20)
    first, second = start(limiter, 10, 10), start(limiter, 10, 10)
    await clock.advance(19.5)
    assert not first.done()
    assert not second.done()
    await clock.advance(0.5)
    assert first.done()
    assert second.done()
    assert limiter.stats.rate_limited == 1


async def test_cancelled_waiter_leaves_the_queue_to_the_next() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    await limiter.acquire("fast", 0, 600)
    doomed = start(limiter, 0, 600)
    await asyncio.sleep(0)
    follower = start(limiter, 0, 10)
    await clock.advance(0)
    doomed.cancel()
    await clock.advance(1)
    assert follower.done()


async def test_waiting_is_reported_for_metrics() -> None:
    clock = ManualClock()
    log = WaitLog()
    limiter = pool(clock, observer=log)
    await limiter.acquire("fast", 0, 600)
    waiting = start(limiter, 0, 30)
    await clock.advance(3)
    await waiting
    assert log.waits == [pytest.approx(3.0)]
    assert limiter.stats.waits == 1
    assert limiter.stats.wait_seconds == pytest.approx(3.0)


async def test_without_limits_the_pool_learns_them_from_headers() -> None:
    clock = ManualClock()
    limiter = RatePool("none", None, clock=clock)
    assert (await limiter.acquire("strong", 10**9, 10**9)).waited_s == 0
    limiter.adopt_headers(
        {
            f"anthropic-ratelimit-{dimension}-{kind}": value
            for dimension in ("requests", "input-tokens", "output-tokens")
            for kind, value in (("limit", "100"), ("remaining", "0"))
        }
    )
    assert limiter.limits == RateLimits(100, 100, 100)


def test_tier_presets_match_anthropics_tier_1() -> None:
    assert tier_limits("1", "haiku-4-5") == RateLimits(50, 50_000, 10_000)
    assert tier_limits("1", "sonnet-4") == RateLimits(50, 30_000, 8_000)
    assert tier_limits("none", "sonnet-4") is None


def test_unknown_group_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known groups: haiku-4-5, opus-4, sonnet-4"):
        tier_limits("2", "gpt-5")


async def test_a_tier_upgrade_in_the_headers_takes_effect_at_once() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    spent = await limiter.acquire("fast", 0, 600)
    limiter.reconcile(spent, 0, 600)  # the bucket is empty and would take a minute to refill
    limiter.adopt_headers(
        {"anthropic-ratelimit-output-tokens-limit": "1200", "anthropic-ratelimit-output-tokens-remaining": "1150"}
    )
    assert limiter.levels()["output-tokens"] == pytest.approx(1150)
    assert (await limiter.acquire("fast", 0, 1000)).waited_s == 0


async def test_the_responding_requests_own_reservation_is_not_held_back_twice() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    own = await limiter.acquire("fast", 0, 300)
    other = await limiter.acquire("fast", 0, 200)
    limiter.adopt_headers({"anthropic-ratelimit-output-tokens-remaining": "550"}, own=own)
    # The server counted ``own``; ``other`` may still be on its way there: 550 - 200 remain for new requests.
    assert limiter.levels()["output-tokens"] == pytest.approx(350)
    limiter.reconcile(other, 0, 200)
    limiter.adopt_headers({"anthropic-ratelimit-output-tokens-remaining": "450"}, own=own)
    assert limiter.levels()["output-tokens"] == pytest.approx(450)


async def test_a_remaining_count_never_raises_a_bucket_above_its_capacity() -> None:
    clock = ManualClock()
    limiter = pool(clock)
    limiter.adopt_headers({"anthropic-ratelimit-requests-remaining": "0"})
    limiter.adopt_headers({"anthropic-ratelimit-requests-remaining": "5000"})
    assert limiter.levels()["requests"] == 60
