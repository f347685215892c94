"""The rate limiter as the scheduler sees it: which task slots are only waiting, which classes are blocked.

Model classes have separate limits (their own rate-limit pools). A task slot whose call waits in
a pool's queue is not working; the scheduler uses this to start a task of the other class
beside it instead of leaving it behind the empty bucket (see ``masterplan.executor.scheduler``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from masterplan.llm.ratelimit import RateLimiter
from masterplan.models import ModelClass, TaskState


class ClassSlots:
    """``RateWaits`` for one run: ``class_of`` says which model class a task's call will use."""

    def __init__(self, limiter: RateLimiter, class_of: Callable[[TaskState], ModelClass]) -> None:
        self._limiter = limiter
        self._class_of = class_of

    def queued(self) -> set[asyncio.Task[Any]]:
        return self._limiter.queued_tasks()

    def blocked(self, state: TaskState) -> bool:
        return self._limiter.pool(self._class_of(state)).queued > 0

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self._limiter.watch_queues(callback)
