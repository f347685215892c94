"""State changes with their events: written in one transaction, published after it commits.

``Journal.write()`` hands out a ``StoreTx`` that remembers every event written
through it; once the transaction has committed those events go to ``publish``
(the service's event bus). A rolled-back transaction publishes nothing, so a
live subscriber never sees an event the store does not have.

``Journal.defer(write)`` queues a write that the caller need not wait for: the
queue is committed in the background, in order, a batch per transaction, while
the caller goes on with its own work. ``settle()`` waits until it is all
committed; it is the barrier before every LLM call (so nothing is sent before
what came before it is durable) and every ``write()`` and ``read()`` passes it
first (so order and read-your-writes hold). Writes are deferred for an owner
(a run): a failed one is raised by that run's next ``settle(run_id)``, never
by another run's.

A batch that failed because the store could not be reached (``StoreUnavailable``)
is not lost: it is held, with its owner's later writes behind it in order, and
tried again by every ``settle()`` until it commits. While writes are held,
``settle(owner)`` raises ``StoreUnavailable`` for every owner: the store is
one, and no LLM call leaves while what came before it cannot be made durable.
Once any write through the journal found the store unreachable,
``settle(owner)`` also proves it writable again (a write that changes nothing)
before it lets a caller go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

from masterplan.models import Event, LLMCallRecord
from masterplan.store import Store, StoreTx, StoreUnavailable
from masterplan.store.connector import Transaction

Publish = Callable[[Sequence[Event]], None]
DeferredWrite = Callable[["JournalTx"], Awaitable[object]]
T = TypeVar("T")


class JournalTx(StoreTx):
    def __init__(self, tx: Transaction) -> None:
        super().__init__(tx)
        self.events: list[Event] = []

    async def append_event(self, run_id: str, type_: str, data: dict[str, Any] | None = None) -> Event:
        event = await super().append_event(run_id, type_, data)
        self.events.append(event)
        return event


async def _apply(batch: list[DeferredWrite], raw: Transaction) -> list[Event]:
    """A batch's writes in one transaction; only the transaction is awaited (see ``Connector.run_batch``)."""
    tx = JournalTx(raw)
    for write in batch:
        await write(tx)
    return tx.events


async def _apply_one(work: Callable[[JournalTx], Awaitable[T]], raw: Transaction) -> tuple[T, list[Event]]:
    tx = JournalTx(raw)
    return await work(tx), tx.events


class Journal:
    """Writes go one at a time, commit and publication together: subscribers get a run's events in seq order.

    Without the lock, two transactions of one run commit in seq order (the run's row serialises them) but
    the coroutine that resumes first after its commit could publish seq 6 before seq 5.
    """

    def __init__(self, store: Store, publish: Publish) -> None:
        self.store = store
        self._publish = publish
        self._lock = asyncio.Lock()
        self._deferred: dict[str | None, list[DeferredWrite]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._failures: dict[str | None, BaseException] = {}
        self._held: dict[str | None, list[DeferredWrite]] = {}
        self._unavailable: StoreUnavailable | None = None  # why the store was last found unreachable

    @asynccontextmanager
    async def write(self) -> AsyncIterator[JournalTx]:
        await self.settle()
        async with self._write_now() as tx:
            yield tx

    @asynccontextmanager
    async def _write_now(self) -> AsyncIterator[JournalTx]:
        async with self._lock, self._noting_unavailable():
            async with self.store.connector.transaction() as raw:
                tx = JournalTx(raw)
                yield tx
            if tx.events:
                self._publish(tx.events)

    @asynccontextmanager
    async def _noting_unavailable(self) -> AsyncIterator[None]:
        """Remember whether the store took the write (callers hold the lock, so outcomes come in order)."""
        try:
            yield
        except StoreUnavailable as error:
            self._unavailable = error
            raise
        self._unavailable = None

    async def write_batch(self, work: Callable[[JournalTx], Awaitable[T]]) -> T:
        """``work`` committed now as one batch (``Connector.run_batch``: it may await only the transaction).

        For writes of many statements, which ``write()`` would send one by one.
        """
        await self.settle()
        async with self._lock, self._noting_unavailable():
            result, events = await self.store.connector.run_batch(partial(_apply_one, work))
            if events:
                self._publish(events)
        return result

    async def event(self, run_id: str, type_: str, data: dict[str, Any] | None = None) -> Event:
        """Record one event on its own."""
        async with self.write() as tx:
            return await tx.append_event(run_id, type_, data)

    def defer(self, owner: str | None, write: DeferredWrite) -> None:
        """Queue ``write`` of ``owner`` (a run id) to be committed in the background, after its earlier ones.

        Each owner's queued writes are one transaction, so a failure stays with its owner. If the store
        was unreachable they are held and tried again (see the module's docstring); any other failure
        drops that owner's later writes (they may depend on it) and ``settle(owner)`` raises it.
        """
        self._deferred.setdefault(owner, []).append(write)
        self._start_flush()

    def _start_flush(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="journal flush")

    def defer_event(self, run_id: str, type_: str, data: dict[str, Any] | None = None) -> None:
        self.defer(run_id, lambda tx: tx.append_event(run_id, type_, data))

    async def record_call(self, record: LLMCallRecord) -> None:
        """The gateway's recorder: the attempt joins the audit trail with the writes around it.

        A failed attempt is committed before this returns: the gateway may retry at once, and a
        retry, like any call, leaves only once what came before it is durable.
        """
        self.defer(record.run_id, lambda tx: tx.record_llm_call(record))
        if record.outcome != "ok":
            await self.settle(record.run_id)

    async def start_call(self, record: LLMCallRecord) -> int:
        """The gateway's starter: the attempt's ``started`` row, committed before this returns (a crash
        after the request left must not hide its worst case).

        It joins the run's queued writes as the last of their batch, so the barrier before a call and
        its started row cost one commit, not two. Returns the row's id for the finished record.
        """
        ids: list[int] = []
        given_up = False

        async def start(tx: JournalTx) -> None:
            if not given_up:
                ids.append(await tx.start_llm_call(record))

        self.defer(record.run_id, start)
        try:
            await self.settle(record.run_id)
        except BaseException:
            # The call will not be sent: a batch held for an unreachable store and committed later must not
            # write a started row (and reserve a worst case) for a request that never left.
            given_up = True
            raise
        if not ids:  # an owner-less batch that failed: settle() raises only a run's own failures
            raise self._failures.pop(record.run_id, None) or RuntimeError("the started call was not written")
        return ids[0]

    async def _flush(self) -> None:
        retry = set(self._held)  # held writes get one more try per flush, before the owner's newer ones
        while self._deferred or retry:
            queued, self._deferred = self._deferred, {}
            owners = [*(owner for owner in retry if owner not in queued), *queued]
            retry = set()
            for owner in owners:
                if owner in self._failures:
                    continue
                batch = [*self._held.pop(owner, []), *queued.get(owner, [])]
                try:
                    async with self._lock, self._noting_unavailable():
                        events = await self.store.connector.run_batch(partial(_apply, batch))
                        if events:
                            self._publish(events)
                except StoreUnavailable:  # kept in order, tried again by the next settle()
                    self._held[owner] = batch
                except Exception as error:  # kept for the owner's settle(): the writer that deferred has moved on
                    self._failures[owner] = error

    @property
    def held_writes(self) -> int:
        """How many deferred writes wait for the store to be reachable again."""
        return sum(len(batch) for batch in self._held.values())

    async def settle(self, owner: str | None = None) -> None:
        """Wait until every deferred write has committed (held ones are tried again).

        With ``owner``: raise (once) its failed write's error, or StoreUnavailable while any write is held.
        """
        await self._flushed()
        if self._held:
            self._start_flush()
            await self._flushed()
        if owner is None:
            return
        if owner in self._failures:
            raise self._failures.pop(owner)
        if self._held:
            raise StoreUnavailable(
                f"{self.held_writes} write(s) wait for the store, which is unreachable: {self._unavailable}"
            )
        if self._unavailable is not None:
            async with self._lock, self._noting_unavailable(), self.store.transaction() as tx:
                await tx.probe_write()

    async def _flushed(self) -> None:
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[StoreTx]:
        await self.settle()
        async with self.store.transaction() as tx:
            yield tx
