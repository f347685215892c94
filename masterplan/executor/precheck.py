"""Python syntax checks that start while the developer's answer is still streaming.

A task answer carries ~20 KB of code, and ``compile()`` of it takes ~5 ms: done after the
answer ends, that sits between one LLM call and the next. Instead, each file is handed to a
worker process as soon as its content has streamed in, so by the end of the answer most of
its files have been checked on another core.

The head start never decides anything: results are kept by (path, content), and the
validation of the final, parsed answer uses one only for exactly the file it checks. A file
the partial JSON was misread for costs a wasted compile, never a wrong verdict; a file with
no result (a worker not started yet, a broken pool) is compiled in-process as before.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from pathlib import PurePosixPath

import orjson

logger = logging.getLogger(__name__)

PYTHON_SUFFIXES = frozenset({".py"})
MAX_BACKLOG_BYTES = 4_000_000
"""Sources waiting in a worker's pipe beyond which files are compiled in-process instead."""
CLOSE_TIMEOUT_S = 5.0
_KEY_MARGIN = 64
"""How far back a search for the next key starts again: a key may arrive split over two deltas."""

_CONTENT_KEY = re.compile(r'"content"\s*:\s*"')
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
"""The inside of a JSON string up to its closing quote (or up to the end of what has arrived)."""
_PATH_VALUE = re.compile(r'"path"\s*:\s*("[^"\\]*(?:\\.[^"\\]*)*")')


class StreamedFiles:
    """Reads ``{"path": ..., "content": ...}`` objects out of a JSON answer while it streams.

    ``feed`` returns each (path, content) once the content string has closed and the path came
    before it in the same object. Each character is scanned a bounded number of times, and only
    the file being streamed is kept.
    """

    def __init__(self) -> None:
        self._text = ""
        self._search_from = 0
        self._floor = 0
        """Where the current object's keys may start: after the previous content value."""
        self._key_start: int | None = None
        self._body_start = 0
        self._scan = 0

    def feed(self, delta: str) -> list[tuple[str, str]]:
        self._text += delta
        found: list[tuple[str, str]] = []
        while True:
            if self._key_start is None:
                key = _CONTENT_KEY.search(self._text, self._search_from)
                if key is None:
                    self._search_from = max(self._search_from, len(self._text) - _KEY_MARGIN)
                    return found
                self._key_start, self._body_start, self._scan = key.start(), key.end(), key.end()
            body_end = _STRING_BODY.match(self._text, self._scan).end()  # type: ignore[union-attr]
            if body_end >= len(self._text) or self._text[body_end] != '"':
                self._scan = body_end  # the string is still open (possibly mid-escape)
                return found
            file = self._file(self._key_start, body_end)
            if file is not None:
                found.append(file)
            # What follows a file is all that later files need: the buffer holds one file at a time.
            self._text = self._text[body_end + 1 :]
            self._key_start = None
            self._floor = self._search_from = 0

    def _file(self, key_start: int, body_end: int) -> tuple[str, str] | None:
        path_key = self._text.rfind('"path"', self._floor, key_start)
        path_value = _PATH_VALUE.match(self._text, path_key) if path_key >= 0 else None
        if path_value is None:
            return None
        try:
            path = orjson.loads(path_value.group(1))
            content = orjson.loads(self._text[self._body_start - 1 : body_end + 1])
        except orjson.JSONDecodeError:
            return None
        return (path, content) if isinstance(path, str) and isinstance(content, str) else None


class CompileWorkerGone(Exception):
    """The worker process ended before it answered; the file is compiled in-process instead."""


class CompileWorker:
    """One ``python -m masterplan.executor.compile_worker`` process, fed over its stdin, answering on stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._pending: dict[int, asyncio.Future[str | None]] = {}
        self._next_id = 0
        self.ready = False
        self.answered = asyncio.Event()
        """Set when the worker has said it is ready, or has ended without."""
        self._reader = asyncio.create_task(self._read(), name="compile worker")

    @classmethod
    async def start(cls) -> CompileWorker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "masterplan.executor.compile_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(process)

    @property
    def backlog_bytes(self) -> int:
        stdin = self._process.stdin
        return stdin.transport.get_write_buffer_size() if stdin is not None else 0

    def submit(self, path: str, content: str) -> asyncio.Future[str | None] | None:
        stdin = self._process.stdin
        if not self.ready or stdin is None or stdin.is_closing():
            return None
        try:
            line = orjson.dumps([self._next_id, path, content]) + b"\n"
        except orjson.JSONEncodeError:  # lone surrogates: left to the in-process compile
            return None
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self._next_id += 1
        stdin.write(line)
        return future

    async def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            if await stdout.readline() != b'"ready"\n':
                return
            self.ready = True
            self.answered.set()
            while line := await stdout.readline():
                request_id, message = orjson.loads(line)
                future = self._pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(message)
        except (OSError, ValueError) as error:
            logger.warning("compile worker stopped answering: %s", error)
        finally:
            self.ready = False
            self.answered.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CompileWorkerGone())
            self._pending.clear()

    @property
    def alive(self) -> bool:
        return self._process.returncode is None and not self._reader.done()

    async def close(self) -> None:
        self.ready = False
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._process.wait()
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


class CompilePool:
    """Worker processes for ``compile()``, shared by a service's runs; each is used once it has said it is ready.

    ``workers=0`` turns it off. ``start`` starts them in the background (and replaces one that
    died), so nothing waits for a worker to start: until one is ready, files are compiled in-process.
    """

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._workers: list[CompileWorker] = []
        self._starting: asyncio.Task[None] | None = None
        self._turn = 0
        self.submitted = 0
        """Files handed to a worker so far (for benchmarks and tests)."""

    def start(self) -> None:
        if self.workers <= 0 or (self._starting is not None and not self._starting.done()):
            return
        if len(self._workers) == self.workers and all(worker.alive for worker in self._workers):
            return
        self._starting = asyncio.create_task(self._start_missing(), name="compile workers")

    async def _start_missing(self) -> None:
        alive = [worker for worker in self._workers if worker.alive]
        for worker in self._workers:
            if not worker.alive:
                await worker.close()
        try:
            while len(alive) < self.workers:
                alive.append(await CompileWorker.start())
        except OSError as error:
            logger.warning("syntax checks stay in-process: no compile worker (%s)", error)
        self._workers = alive

    async def wait_started(self) -> bool:
        """Wait for the workers ``start`` launched to be ready (or to have failed); True if one is."""
        if self._starting is not None:
            await asyncio.shield(self._starting)
        await asyncio.gather(*(worker.answered.wait() for worker in self._workers))
        return any(worker.ready for worker in self._workers)

    def submit(self, path: str, content: str) -> asyncio.Future[str | None] | None:
        """A future of ``python_syntax_error(path, content)``, or None when no worker can take it now."""
        ready = [worker for worker in self._workers if worker.ready and worker.backlog_bytes < MAX_BACKLOG_BYTES]
        if not ready:
            return None
        self._turn += 1
        future = ready[self._turn % len(ready)].submit(path, content)
        self.submitted += future is not None
        return future

    async def close(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
        workers, self._workers = self._workers, []
        await asyncio.gather(*(worker.close() for worker in workers))


class SyntaxPrecheck:
    """An answer watcher (``masterplan.llm.AnswerWatcher``): compiles Python files of the answer as they stream."""

    def __init__(self, pool: CompilePool) -> None:
        self._pool = pool
        self._files = StreamedFiles()
        self._pending: dict[tuple[str, str], asyncio.Future[str | None]] = {}

    def restart(self) -> None:
        self._files = StreamedFiles()

    def feed(self, text: str) -> None:
        for path, content in self._files.feed(text):
            if PurePosixPath(path).suffix.lower() not in PYTHON_SUFFIXES or (path, content) in self._pending:
                continue
            future = self._pool.submit(path, content)
            if future is not None:
                self._pending[(path, content)] = future

    def take(self, path: str, content: str) -> asyncio.Future[str | None] | None:
        """The compile already under way for exactly this file, if any."""
        return self._pending.pop((path, content), None)

    def discard(self) -> None:
        """Drop what no validation asked for (files of an answer that was not used)."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
