"""FIFO, timer-driven waiting on token buckets, one pool per rate-limit group.

A caller asks for one request, its input-token estimate and its max_tokens at once. If no
one is queued and every bucket has enough, it goes at once; otherwise it joins a FIFO queue.
Only the head of the queue is ever considered (first come, first served, no overtaking),
and a single timer sleeps exactly until the head's deficit is refilled or a 429 hold ends.
Nothing polls: refunds and header updates re-run the dispatch directly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from masterplan.llm.clock import Clock, SystemClock
from masterplan.llm.observer import GatewayObserver
from masterplan.llm.ratelimit.bucket import TokenBucket
from masterplan.llm.ratelimit.limits import RateLimits
from masterplan.models import ModelClass

_DIMENSIONS = ("requests", "input-tokens", "output-tokens")


@dataclass
class RateReservation:
    """What one attempt holds of its pool until it is reconciled or released."""

    model_class: ModelClass
    input_tokens: int
    output_tokens: int
    waited_s: float
    open: bool = True


@dataclass
class RateLimiterStats:
    """Totals for metrics: how long callers waited and how often the server said 429."""

    acquisitions: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    rate_limited: int = 0


@dataclass
class _Waiter:
    need: tuple[int, int, int]
    future: asyncio.Future[None] = field(repr=False)
    owner: asyncio.Task[Any] | None = field(default=None, repr=False)
    """The asyncio task that waits (a scheduler's task slot): it is waiting, not working."""


class RatePool:
    """The requests, input-token and output-token buckets of one rate-limit group."""

    def __init__(
        self,
        name: str,
        limits: RateLimits | None,
        *,
        clock: Clock | None = None,
        observer: GatewayObserver | None = None,
        on_queue_change: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._clock = clock or SystemClock()
        self._observer = observer or GatewayObserver()
        self._on_queue_change = on_queue_change or (lambda: None)
        self._buckets: dict[str, TokenBucket] = {}
        if limits is not None:
            self._set_limits(limits)
        self._waiters: deque[_Waiter] = deque()
        self._in_flight = [0, 0, 0]
        """Requests, input and output tokens of the reservations still open."""
        self._held_until = float("-inf")
        self._timer: asyncio.Task[None] | None = None
        self._timer_deadline = float("inf")
        self.stats = RateLimiterStats()

    def _set_limits(self, limits: RateLimits) -> None:
        now = self._clock.now()
        self._buckets = {
            "requests": TokenBucket(limits.requests_per_minute, now),
            "input-tokens": TokenBucket(limits.input_tokens_per_minute, now),
            "output-tokens": TokenBucket(limits.output_tokens_per_minute, now),
        }

    @property
    def limits(self) -> RateLimits | None:
        if not self._buckets:
            return None
        return RateLimits(*(round(self._buckets[d].capacity) for d in _DIMENSIONS))

    def levels(self) -> dict[str, float]:
        """Tokens left in each bucket now (for tests and diagnostics)."""
        self._refill()
        return {name: bucket.level for name, bucket in self._buckets.items()}

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def queued_owners(self) -> set[asyncio.Task[Any]]:
        """The asyncio tasks waiting in this pool's queue now."""
        return {waiter.owner for waiter in self._waiters if waiter.owner is not None}

    async def acquire(self, model_class: ModelClass, input_tokens: int, output_tokens: int) -> RateReservation:
        """Waits, in arrival order, until one request of this size fits every bucket, then holds it."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(f"token estimates must not be negative: input={input_tokens} output={output_tokens}")
        need = (1, input_tokens, output_tokens)
        started = self._clock.now()
        queued = bool(self._waiters) or not self._grantable(need)
        if not queued:
            self._take(need)
        else:
            waiter = _Waiter(need, asyncio.get_running_loop().create_future(), asyncio.current_task())
            self._waiters.append(waiter)
            self._schedule()
            self._on_queue_change()
            try:
                await waiter.future
            except asyncio.CancelledError:
                self._abandon(waiter)
                raise
        waited = self._clock.now() - started if queued else 0.0
        self._in_flight = [held + amount for held, amount in zip(self._in_flight, need, strict=True)]
        self.stats.acquisitions += 1
        if queued:
            self.stats.waits += 1
            self.stats.wait_seconds += waited
            self._observer.on_rate_limit_wait(model_class, waited)
        return RateReservation(model_class, input_tokens, output_tokens, waited)

    def reconcile(self, reservation: RateReservation, input_tokens: int, output_tokens: int) -> None:
        """Replaces the estimate with what the response really used (refunding or charging the difference)."""
        if not reservation.open:
            return
        reservation.open = False
        own = (1, reservation.input_tokens, reservation.output_tokens)
        self._in_flight = [held - amount for held, amount in zip(self._in_flight, own, strict=True)]
        if self._buckets:
            self._refill()
            self._buckets["input-tokens"].give(reservation.input_tokens - input_tokens)
            self._buckets["output-tokens"].give(reservation.output_tokens - output_tokens)
        self._dispatch()

    def release(self, reservation: RateReservation) -> None:
        """Returns the tokens of an attempt that produced nothing; the request itself stays counted."""
        self.reconcile(reservation, 0, 0)

    def adopt_headers(self, headers: Mapping[str, str], own: RateReservation | None = None) -> None:
        """Takes each ``anthropic-ratelimit-*`` limit and remaining count as the truth.

        ``own`` is the reservation of the request whose response carries the headers: the server
        counted it. The other open reservations may not have reached it yet, so a remaining count
        raises a bucket only to what is left after them.
        """
        found = {
            d: (
                _int(headers.get(f"anthropic-ratelimit-{d}-limit")),
                _int(headers.get(f"anthropic-ratelimit-{d}-remaining")),
            )
            for d in _DIMENSIONS
        }
        if not self._buckets:
            if any(limit is None for limit, _ in found.values()):
                return
            self._set_limits(RateLimits(*(limit or 0 for limit, _ in found.values())))
        self._refill()
        counted = (1, own.input_tokens, own.output_tokens) if own is not None and own.open else (0, 0, 0)
        others = [held - amount for held, amount in zip(self._in_flight, counted, strict=True)]
        for (dimension, (limit, remaining)), in_flight in zip(found.items(), others, strict=True):
            self._buckets[dimension].adopt(limit, remaining, in_flight=in_flight)
        self._dispatch()

    def hold(self, seconds: float) -> None:
        """After a 429: nobody in this pool starts a request for ``seconds`` (the server's retry-after)."""
        self.stats.rate_limited += 1
        self._held_until = max(self._held_until, self._clock.now() + max(0.0, seconds))
        self._schedule()

    # -- queue machinery

    def _refill(self) -> None:
        now = self._clock.now()
        for bucket in self._buckets.values():
            bucket.refill(now)

    def _grantable(self, need: tuple[int, int, int]) -> bool:
        if self._clock.now() < self._held_until:
            return False
        self._refill()
        return (
            all(self._buckets[d].can_take(n) for d, n in zip(_DIMENSIONS, need, strict=True)) if self._buckets else True
        )

    def _take(self, need: tuple[int, int, int]) -> None:
        for dimension, amount in zip(_DIMENSIONS, need, strict=True):
            if self._buckets:
                self._buckets[dimension].take(amount)

    def _dispatch(self) -> None:
        granted = False
        while self._waiters and self._grantable(self._waiters[0].need):
            waiter = self._waiters.popleft()
            self._take(waiter.need)
            waiter.future.set_result(None)
            granted = True
        self._schedule()
        if granted:
            self._on_queue_change()

    def _delay_for_head(self) -> float:
        now = self._clock.now()
        delay = max(0.0, self._held_until - now)
        need = self._waiters[0].need
        for dimension, amount in zip(_DIMENSIONS, need, strict=True):
            if self._buckets:
                delay = max(delay, self._buckets[dimension].seconds_until(amount))
        return delay

    def _schedule(self) -> None:
        """Points the one timer at the moment the queue's head can go (or stops it when the queue is empty)."""
        if not self._waiters:
            self._cancel_timer()
            return
        self._refill()
        deadline = self._clock.now() + self._delay_for_head()
        if self._timer is not None and abs(deadline - self._timer_deadline) < 1e-9:
            return
        self._cancel_timer()
        self._timer_deadline = deadline
        self._timer = asyncio.get_running_loop().create_task(self._wake_at(deadline), name=f"rate-pool-{self.name}")

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None
        self._timer_deadline = float("inf")

    async def _wake_at(self, deadline: float) -> None:
        await self._clock.sleep(deadline - self._clock.now())
        self._timer = None
        self._timer_deadline = float("inf")
        self._dispatch()

    def _abandon(self, waiter: _Waiter) -> None:
        """A cancelled caller leaves the queue; if it was granted in the meantime, its tokens go back."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)
            self._on_queue_change()
        elif waiter.future.done() and not waiter.future.cancelled() and self._buckets:
            _, input_tokens, output_tokens = waiter.need
            self._buckets["input-tokens"].give(input_tokens)
            self._buckets["output-tokens"].give(output_tokens)
        self._dispatch()

    async def aclose(self) -> None:
        timer = self._timer
        self._cancel_timer()
        if timer is not None:
            await asyncio.gather(timer, return_exceptions=True)


class RateLimiter:
    """One pool per rate-limit group; each model class draws from its model's group's pool.

    Classes whose models share a group on Anthropic's side (Sonnet 4.5 and 4.6, say) share a pool.
    """

    def __init__(
        self,
        pools: Mapping[str, RateLimits | None],
        class_pools: Mapping[ModelClass, str],
        *,
        clock: Clock | None = None,
        observer: GatewayObserver | None = None,
    ) -> None:
        missing = sorted(set(class_pools.values()) - set(pools))
        if missing:
            raise ValueError(f"model classes point at rate-limit pools that have no limits entry: {missing}")
        self._pools = {
            name: RatePool(name, limits, clock=clock, observer=observer, on_queue_change=self._queue_changed)
            for name, limits in pools.items()
        }
        self._class_pools = dict(class_pools)
        self._queue_watchers: list[Callable[[], None]] = []

    def watch_queues(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Calls ``callback`` whenever a caller joins or leaves a pool's queue; returns the unsubscribe."""
        self._queue_watchers.append(callback)
        return lambda: self._queue_watchers.remove(callback)

    def _queue_changed(self) -> None:
        for callback in list(self._queue_watchers):
            callback()

    def queued_tasks(self) -> set[asyncio.Task[Any]]:
        """The asyncio tasks waiting in any pool's queue now."""
        return set().union(*(pool.queued_owners() for pool in self._pools.values()))

    def pool(self, model_class: ModelClass) -> RatePool:
        try:
            return self._pools[self._class_pools[model_class]]
        except KeyError:
            raise ValueError(f"no rate-limit pool for model class {model_class!r}") from None

    def stats(self) -> dict[str, RateLimiterStats]:
        """Pool name -> totals."""
        return {name: pool.stats for name, pool in self._pools.items()}

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
