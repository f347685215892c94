"""State changes with their events: written in one transaction, published after it commits.

``Journal.write()`` hands out a ``StoreTx`` that remembers every event written
through it; once the transaction has committed those events go to ``publish``
(the service's event bus). A rolled-back transaction publishes nothing, so a
live subscriber never sees an event the store does not have.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from masterplan.models import Event
from masterplan.store import Store, StoreTx
from masterplan.store.connector import Transaction

Publish = Callable[[Sequence[Event]], None]


class JournalTx(StoreTx):
    def __init__(self, tx: Transaction) -> None:
        super().__init__(tx)
        self.events: list[Event] = []

    async def append_event(self, run_id: str, type_: str, data: dict[str, Any] | None = None) -> Event:
        event = await super().append_event(run_id, type_, data)
        self.events.append(event)
        return event


class Journal:
    """Writes go one at a time, commit and publication together: subscribers get a run's events in seq order.

    Without the lock, two transactions of one run commit in seq order (the run's row serialises them) but
    the coroutine that resumes first after its commit could publish seq 6 before seq 5.
    """

    def __init__(self, store: Store, publish: Publish) -> None:
        self.store = store
        self._publish = publish
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[JournalTx]:
        async with self._lock:
            async with self.store.connector.transaction() as raw:
                tx = JournalTx(raw)
                yield tx
            if tx.events:
                self._publish(tx.events)

    async def event(self, run_id: str, type_: str, data: dict[str, Any] | None = None) -> Event:
        """Record one event on its own."""
        async with self.write() as tx:
            return await tx.append_event(run_id, type_, data)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[StoreTx]:
        async with self.store.transaction() as tx:
            yield tx
