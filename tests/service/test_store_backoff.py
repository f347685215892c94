"""The pace of retries while the store is unreachable: doubling from half a second to a cap of ten."""

from __future__ import annotations

import random

import pytest

from masterplan.service.backoff import Backoff


async def test_delays_double_from_the_first_up_to_the_cap_and_are_slept_in_turn() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    delays = Backoff(sleep=sleep).delays()
    for _ in range(7):
        await delays.sleep()

    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert delays.waited_s == sum(slept)


def test_jitter_takes_off_at_most_its_share_of_each_delay_and_is_reproducible_with_a_seed() -> None:
    first = Backoff(jitter=0.5, rng=random.Random(7)).delays()
    again = Backoff(jitter=0.5, rng=random.Random(7)).delays()
    delays = [first.next() for _ in range(8)]

    assert delays == [again.next() for _ in range(8)]
    for delay, nominal in zip(delays, [0.5, 1, 2, 4, 8, 10, 10, 10], strict=True):
        assert nominal / 2 <= delay <= nominal


def test_each_wait_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(first_s=1, max_s=4)
    used = backoff.delays()
    assert [used.next() for _ in range(4)] == [1, 2, 4, 4]
    assert backoff.delays().next() == 1


@pytest.mark.parametrize(("first_s", "max_s", "jitter"), [(0, 1, 0), (2, 1, 0), (0.5, 10, 1.5)])
def test_a_backoff_that_could_not_work_is_refused_with_its_numbers(first_s: float, max_s: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(first_s=first_s, max_s=max_s, jitter=jitter)
