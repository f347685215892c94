"""BackgroundWork: the run's side tasks (git commits) and the errors ``drain`` must not lose."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from masterplan.executor.context import BackgroundWork


async def _fail(message: str) -> None:
    raise RuntimeError(message)


async def test_an_error_from_work_that_ended_long_before_drain_is_raised_and_never_logged_as_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work = BackgroundWork()
    work.spawn(_fail("the commit failed"))
    await asyncio.sleep(0.01)  # it has failed and finished well before anyone drains
    assert len(work) == 1
    with pytest.raises(RuntimeError, match="the commit failed"):
        await work.drain()
    assert len(work) == 0
    gc.collect()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_clean_and_cancelled_work_leaves_by_itself_and_drain_waits_for_the_rest() -> None:
    work = BackgroundWork()
    finished = asyncio.Event()

    async def slow() -> None:
        await asyncio.sleep(0.02)
        finished.set()

    async def forever() -> None:
        await asyncio.Event().wait()

    work.spawn(asyncio.sleep(0))
    cancelled = work.spawn(forever())
    work.spawn(slow())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0.001)
    assert len(work) == 1  # the quick one and the cancelled one are gone
    await work.drain()
    assert finished.is_set()
    assert len(work) == 0
