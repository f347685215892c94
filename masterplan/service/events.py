"""In-process fan-out of committed events to live subscribers (WebSockets, terminal progress).

Events are published only after the transaction that wrote them committed, so
a subscriber never sees an event the store does not have. Each subscriber has a
bounded queue; one that falls behind is marked overflowed and dropped from the
bus instead of slowing the run or other subscribers. It catches up from the
store with ``events_after`` when it reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from types import TracebackType

from masterplan.models import Event


class SlowSubscriber(Exception):
    """The subscriber's queue overflowed; it must reconnect and catch up from the store."""


class Subscription:
    def __init__(self, bus: EventBus, run_id: str | None, maxsize: int) -> None:
        self.run_id = run_id
        self.overflowed = False
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)

    async def get(self) -> Event:
        """The next event; raises SlowSubscriber once the queue overflowed."""
        if self.overflowed:
            raise SlowSubscriber(f"subscriber fell more than {self._queue.maxsize} events behind")
        event = await self._queue.get()
        if event is None:
            raise SlowSubscriber(f"subscriber fell more than {self._queue.maxsize} events behind")
        return event

    def offer(self, event: Event) -> bool:
        if self.overflowed:
            return False
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self._wake_with_overflow()
            return False
        return True

    def _wake_with_overflow(self) -> None:
        """Make a reader blocked in ``get`` notice the overflow at once."""
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EventBus:
    """Subscribers per run id (``None`` subscribes to every run)."""

    def __init__(self, *, queue_size: int = 1_000) -> None:
        self.queue_size = queue_size
        self._subscriptions: dict[str | None, set[Subscription]] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self.dropped_subscribers = 0

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Called synchronously with every published event (metrics); it must be quick and must not raise."""
        self._listeners.append(listener)

    def subscribe(self, run_id: str | None, *, maxsize: int | None = None) -> Subscription:
        subscription = Subscription(self, run_id, maxsize or self.queue_size)
        self._subscriptions.setdefault(run_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.get(subscription.run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[subscription.run_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._subscriptions.values())

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for listener in self._listeners:
                listener(event)
            for key in (event.run_id, None):
                for subscription in list(self._subscriptions.get(key, ())):
                    if not subscription.offer(event):
                        self.dropped_subscribers += 1
                        self.unsubscribe(subscription)
