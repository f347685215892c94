"""The real service, simulator and store served from a thread of their own, for synchronous property tests.

Hypothesis drives a test function synchronously, example after example; the
service runs meanwhile on its own event loop in a background thread (a real
socket on 127.0.0.1, the anthropic SDK talking to the simulator). Client
coroutines (aiohttp, over that socket) are run on the same loop and waited for
from the test thread. Every log record at ERROR or with a traceback is kept, so
a test can assert that no input made the server fail.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from masterplan.config import Settings
from masterplan.sim import SimConfig, running_simulator
from masterplan.web import create_app, running_app

T = TypeVar("T")
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 60.0


class FailureRecords(logging.Handler):
    """Keeps every record at ERROR and above, or that carries a traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        taken = [self.format(record) for record in self.records]
        self.records.clear()
        return taken


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes


class BackgroundService:
    def __init__(self, tmp_path: Path, database_url: str, **settings_overrides: Any) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.settings_overrides = settings_overrides
        self.url = ""
        self.failures = FailureRecords()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="background service", daemon=True)

    def __enter__(self) -> BackgroundService:
        logging.getLogger().addHandler(self.failures)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError("the background service did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)
        logging.getLogger().removeHandler(self.failures)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a client coroutine on the service's loop and wait for its result."""
        assert self._loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(CALL_TIMEOUT_S)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        """``path`` goes as it is written (percent-escapes included), ``body`` as raw bytes."""
        url = URL(self.url + path, encoded=True)

        async def send() -> Reply:
            data = None if body is None else io.BytesIO(body)  # aiohttp warns about large bytes bodies
            try:
                async with self.session.request(method, url, data=data, headers=headers) as response:
                    return Reply(response.status, response.content_type, await response.read())
            except aiohttp.ClientResponseError as refused:
                # A request line too long to read leaves the server no method to see, so its 400 has a body
                # even for HEAD, which aiohttp's client refuses to read: the status is what the server said.
                if method != "HEAD":
                    raise
                return Reply(refused.status, "", b"")

        return self.run(send())

    # ------------------------------------------------------------ the thread

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to the test thread, which waits for the start
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_simulator(SimConfig(port=0, tier="none", latency="none")) as sim:
            settings = Settings(
                anthropic_api_key="sim-key",
                anthropic_base_url=sim.base_url,
                database_url=self.database_url,
                workspace_root=self.tmp_path / "workspaces",
                rate_limit_tier="none",
                **self.settings_overrides,
            )
            async with (
                running_app(create_app(settings), host="127.0.0.1", port=0) as url,
                aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as session,
            ):
                self.url = url
                self._session = session
                self._ready.set()
                await self._stop.wait()
