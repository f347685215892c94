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
_MAX_HEAD_CHARS = 64_000
"""Text kept between files while no content key has come (the answer's other fields, say)."""

_CONTENT_KEY = re.compile(r'"content"\s*:\s*"')
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
"""The inside of a JSON string up to its closing quote (or up to the end of what has arrived)."""
_PATH_VALUE = re.compile(r'"path"\s*:\s*("[^"\\]*(?:\\.[^"\\]*)*")')


class StreamedFiles:
    """Reads ``{"path": ..., "content": ...}`` objects out of a JSON answer while it streams.

    ``feed`` returns each (path, content) once the content string has closed and the path came
    before it in the same object. Work is linear in the answer: the text between files is kept
    (bounded), a content string is kept as its parts and joined once, when it closes.
    """

    def __init__(self) -> None:
        self._head = ""
        """Text since the last content value: where the next object's keys are."""
        self._body: list[str] | None = None
        """Parts of the content string being streamed, or None outside one."""
        self._path: str | None = None
        self._escaped = False
        """The body's last part ended in a backslash whose escaped character has not come yet."""

    def feed(self, delta: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        while delta:
            if self._body is None:
                rest = self._enter_body(delta)
                if rest is None:
                    break
                delta = rest
                continue
            start = 0
            if self._escaped:
                start, self._escaped = 1, False  # the character after a backslash belongs to the escape
            end = _STRING_BODY.match(delta, start).end()  # type: ignore[union-attr]
            if end < len(delta) and delta[end] == '"':
                file = self._close_body(delta[:end])
                if file is not None:
                    found.append(file)
                delta = delta[end + 1 :]
                continue
            self._escaped = end < len(delta)  # stopped before a trailing backslash
            self._body.append(delta)
            break
        return found

    def _enter_body(self, delta: str) -> str | None:
        """Adds ``delta`` to the head; once a content key is in it, opens the body and returns what follows it."""
        self._head += delta
        key = _CONTENT_KEY.search(self._head)
        if key is None:
            if len(self._head) > _MAX_HEAD_CHARS:
                self._head = self._head[-_MAX_HEAD_CHARS // 2 :]
            return None
        self._path = self._path_before(key.start())
        rest, self._head, self._body = self._head[key.end() :], "", []
        return rest

    def _path_before(self, key_start: int) -> str | None:
        path_key = self._head.rfind('"path"', 0, key_start)
        path_value = _PATH_VALUE.match(self._head, path_key) if path_key >= 0 else None
        if path_value is None:
            return None
        try:
            path = orjson.loads(path_value.group(1))
        except orjson.JSONDecodeError:
            return None
        return path if isinstance(path, str) else None

    def _close_body(self, last_part: str) -> tuple[str, str] | None:
        parts, path = self._body or [], self._path
        self._body, self._path = None, None
        if path is None:
            return None
        try:
            content = orjson.loads('"' + "".join([*parts, last_part]) + '"')
        except orjson.JSONDecodeError:
            return None
        return (path, content) if isinstance(content, str) else None


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
        self._closed = False
        self.submitted = 0
        """Files handed to a worker so far (for benchmarks and tests)."""

    def start(self) -> None:
        if self._closed or self.workers <= 0 or (self._starting is not None and not self._starting.done()):
            return
        if len(self._workers) == self.workers and all(worker.alive for worker in self._workers):
            return
        self._starting = asyncio.create_task(self._start_missing(), name="compile workers")

    async def _start_missing(self) -> None:
        dead = [worker for worker in self._workers if not worker.alive]
        self._workers = [worker for worker in self._workers if worker.alive]
        for worker in dead:
            await worker.close()
        try:
            while len(self._workers) < self.workers and not self._closed:
                self._workers.append(await CompileWorker.start())  # listed at once: close() finds it
        except OSError as error:
            logger.warning("syntax checks stay in-process: no compile worker (%s)", error)

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
        self._closed = True
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
