"""Opens everything a RunService needs, in one place, and closes it in reverse order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from masterplan.config import Settings
from masterplan.executor.journal import Journal
from masterplan.llm.gateway import LLMGateway
from masterplan.llm.observer import GatewayObserver
from masterplan.models import LLMCallRecord
from masterplan.service.events import EventBus
from masterplan.service.runs import RunService
from masterplan.store import Store, open_store


def store_recorder(store: Store) -> Callable[[LLMCallRecord], Awaitable[None]]:
    async def record(record: LLMCallRecord) -> None:
        async with store.transaction() as tx:
            await tx.record_llm_call(record)

    return record


@asynccontextmanager
async def open_service(
    settings: Settings,
    *,
    observer: GatewayObserver | None = None,
    bus: EventBus | None = None,
    watchdog: bool = False,
) -> AsyncIterator[RunService]:
    """A migrated store, the gateway and the run service; GatewayConfigError if the LLM settings are unusable.

    With ``watchdog`` (a server) the service restarts the driver of any unfinished run left without one.
    """
    store = await open_store(settings.database_url, migrate=True)
    try:
        bus = bus or EventBus()
        # The gateway's audit records are written behind, with the run's other writes (see Journal.defer).
        journal = Journal(store, bus.publish)
        gateway = LLMGateway(settings, recorder=journal.record_call, starter=journal.start_call, observer=observer)
        try:
            service = RunService(
                store=store,
                gateway=gateway,
                settings=settings,
                bus=bus,
                observer=observer,
                journal=journal,
                watchdog_interval_s=settings.watchdog_interval_s if watchdog else None,
            )
            try:
                await service.sandbox.status()  # probed (and a problem logged) once, at start
                yield service
            finally:
                await service.close()
        finally:
            await gateway.aclose()
    finally:
        await store.close()
