"""Two concurrent tasks that write the same file: neither change is lost, and no merge lands unchecked.

A run with two task slots goes through a proxy in front of the simulator (real SDK, real HTTP, real
git merge, real checks in the sandbox). The proxy holds the first task call until a second one is in
flight, so the two tasks are written against the same workspace, and adds to both answers a change to
one shared file. Each task's checks pass on its own view; the second to finish lands after the first:

- changes to different regions merge, and the merge is checked again before it lands;
- a merge that breaks the program (one renames a function the other calls) fails that re-check and
  the task is asked again with the failure: the broken merge never reaches the workspace;
- two tasks creating the same file conflict: the later is asked again with the current content.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

import masterplan
from masterplan.config import Settings
from masterplan.progress import describe
from masterplan.service.assembly import open_service
from masterplan.sim.roles import tag_content

from .pipeline_helpers import REQUEST, RunRecord, load_record, run_request, service_settings, simulator

SHARED = "shared_notes.py"
BASE = '"""Shared helpers."""\n\n\ndef greeting() -> str:\n    return "hello"\n'
CHECKS = [
    "python -m compileall -q .",
    f"python -c \"import os, runpy; os.path.exists('{SHARED}') and runpy.run_path('{SHARED}')\"",
]
"""Every task's checks: the project compiles, and the shared file runs (once a task wrote it)."""
SOURCE_ROOT = Path(masterplan.__file__).resolve().parents[1]
PAIR_WAIT_S = 3.0
"""How long the first task call of a pair waits for a second one before it goes on alone."""
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "host"}

Edit = Callable[[str, bool, str], str | None]
"""(pair member "A" or "B", whether the call is a re-ask, the shared file's content now) -> its new content."""


@dataclass
class Pairing:
    """Which task calls are the concurrent pair, and what the proxy did to them."""

    edit: Edit
    path: str
    workspace: Path | None = None
    extra: dict[str, dict[str, str]] = field(default_factory=dict)
    """Pair member -> more files its first answer adds (path -> content)."""
    seed: dict[str, str] = field(default_factory=dict)
    """Files the first task answer outside the pair adds (a task before the pair creates the shared file)."""
    members: dict[str, str] = field(default_factory=dict)
    """Task id -> "A" (first in flight) or "B"."""
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    second: asyncio.Event = field(default_factory=asyncio.Event)
    reasks: list[tuple[str, str]] = field(default_factory=list)
    """(task id, the prompt's tail) of every re-asked pair call."""

    async def member(self, task_id: str) -> str | None:
        if task_id in self.members:
            return self.members[task_id]
        if len(self.members) == 2:
            return None
        if not self.members and not self.waiting.is_set():
            self.waiting.set()
            try:
                await asyncio.wait_for(self.second.wait(), PAIR_WAIT_S)
            except TimeoutError:
                self.waiting.clear()
                return None
            self.members[task_id] = "A"
            return "A"
        if self.waiting.is_set() and "B" not in self.members.values():
            self.members[task_id] = "B"
            self.second.set()
            return "B"
        return None


def _last_user_text(body: dict[str, Any]) -> str:
    message = [m for m in body["messages"] if m["role"] == "user"][-1]
    content = message["content"]
    return content if isinstance(content, str) else "\n".join(b.get("text", "") for b in content)


def _task_of(body: dict[str, Any]) -> tuple[str, str] | None:
    """(task id, tail) of a developer call; None for any other call."""
    text = _last_user_text(body)
    raw = tag_content(text, "task")
    if raw is None or "<task_output>" in text:
        return None
    return str(orjson.loads(raw.strip())["task_id"]), text


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines and "data" in lines:
            events.append((lines["event"], orjson.loads(lines["data"])))
    return events


def _with_text(events: list[tuple[str, dict[str, Any]]], text: str) -> bytes:
    """The stream again, its text deltas replaced by one delta holding ``text``."""
    out = b""
    for name, data in events:
        if name == "content_block_delta":
            continue
        if name == "content_block_stop":
            delta = {"type": "text_delta", "text": text}
            out += _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        out += _sse(name, data)
    return out


@asynccontextmanager
async def pairing_proxy(upstream: str, pairing: Pairing) -> AsyncIterator[str]:
    session = aiohttp.ClientSession()

    async def messages(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw)
        task = _task_of(body)
        member = await pairing.member(task[0]) if task is not None else None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with session.post(f"{upstream}{request.path_qs}", data=raw, headers=headers) as answer:
            forwarded = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            payload = await answer.read()
        if member is not None and task is not None and answer.status == 200:
            assert body.get("stream"), "masterplan streams its calls"
            payload = _edited(pairing, member, task, payload)
        elif task is not None and pairing.seed and answer.status == 200:
            payload = _with_files(payload, pairing.seed)
            pairing.seed = {}
        return web.Response(status=answer.status, body=payload, headers=forwarded)

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()
        await session.close()


def _with_files(payload: bytes, files: dict[str, str]) -> bytes:
    events = _events(payload)
    answer = orjson.loads("".join(d["delta"]["text"] for name, d in events if name == "content_block_delta"))
    answer["files"] += [{"path": path, "content": text} for path, text in files.items()]
    return _with_text(events, orjson.dumps(answer).decode())


def _edited(pairing: Pairing, member: str, task: tuple[str, str], payload: bytes) -> bytes:
    task_id, tail = task
    reask = "<feedback>" in tail
    if reask:
        pairing.reasks.append((task_id, tail))
    on_disk = None if pairing.workspace is None else pairing.workspace / pairing.path
    now = on_disk.read_text() if on_disk is not None and on_disk.exists() else ""
    content = pairing.edit(member, reask, now)
    events = _events(payload)
    text = "".join(d["delta"]["text"] for name, d in events if name == "content_block_delta")
    if content is None:
        return payload
    answer = orjson.loads(text)
    answer["files"] = [f for f in answer["files"] if f["path"] != pairing.path]
    answer["files"].append({"path": pairing.path, "content": content})
    if not reask:
        answer["files"] += [{"path": path, "content": text} for path, text in pairing.extra.get(member, {}).items()]
    return _with_text(events, orjson.dumps(answer).decode())


Then = Callable[[Settings, RunRecord], Awaitable[RunRecord]]


async def _run(tmp_path: Path, pairing: Pairing, *, shared: str | None, then: Then | None = None) -> RunRecord:
    """The run through the pairing proxy; ``then`` goes on with its record while simulator and proxy still run."""
    async with simulator() as sim, pairing_proxy(sim.base_url, pairing) as proxy_url:
        settings = service_settings(sim, f"sqlite://{tmp_path / 'masterplan.db'}", tmp_path / "ws")
        settings = settings.model_copy(update={"anthropic_base_url": proxy_url})
        async with open_service(settings) as service:
            run = await service.create(run_request(6, concurrency=2, checks=CHECKS))
            pairing.workspace = Path(run.workspace)
            pairing.workspace.mkdir(parents=True, exist_ok=True)
            if shared is not None:  # the project's file before any task ran (as the repository had it)
                (pairing.workspace / pairing.path).write_text(shared)
            await service.wait(run.id)
            record = await load_record(service.store, run.id)
        return record if then is None else await then(settings, record)


def _landing_order(record: RunRecord, pairing: Pairing) -> tuple[str, str]:
    completed = [event.data["task_id"] for event in record.events_of("task.completed")]
    first, second = sorted(pairing.members, key=completed.index)
    return first, second


def _final(record: RunRecord, pairing: Pairing) -> str:
    return (Path(record.run.workspace) / pairing.path).read_text()


async def test_changes_to_different_regions_both_land_and_the_merge_is_checked(tmp_path: Path) -> None:
    a_change = BASE.replace('"""Shared helpers."""', '"""Shared helpers, greeting people."""')
    b_change = BASE + '\n\ndef farewell() -> str:\n    return "bye"\n'

    def edit(member: str, reask: bool, now: str) -> str | None:
        return None if reask else (a_change if member == "A" else b_change)

    pairing = Pairing(edit, SHARED)
    record = await _run(tmp_path, pairing, shared=BASE)

    assert record.run.status.value == "completed", record.run.error
    assert len(pairing.members) == 2, "two task calls were in flight at once"
    first, second = _landing_order(record, pairing)
    assert _final(record, pairing) == (
        '"""Shared helpers, greeting people."""\n\n\ndef greeting() -> str:\n    return "hello"\n'
        '\n\ndef farewell() -> str:\n    return "bye"\n'
    )
    (merged,) = record.events_of("task.merged")
    assert merged.data == {"task_id": second, "files": [SHARED], "other_tasks": [first], "rechecked": True}
    line = f"] task {second} merged with task {first}'s changes to {SHARED}; checking the merge"
    assert (describe(merged) or "").endswith(line)
    assert pairing.reasks == []
    (final,) = record.events_of("check.final")
    assert final.data["passed"] is True


async def test_a_merge_that_breaks_the_program_is_caught_by_its_recheck_and_asked_again(tmp_path: Path) -> None:
    renamed = BASE.replace("def greeting()", "def salute()")
    calling = BASE + "\n\nGREETING = greeting()\n"
    fixed = renamed + "\n\nGREETING = salute()\n"

    def edit(member: str, reask: bool, now: str) -> str | None:
        if reask:
            return fixed
        return renamed if member == "A" else calling

    pairing = Pairing(edit, SHARED)
    record = await _run(tmp_path, pairing, shared=BASE)

    assert record.run.status.value == "completed", record.run.error
    first, second = _landing_order(record, pairing)
    assert _final(record, pairing) == fixed
    (merged,) = record.events_of("task.merged")
    assert merged.data["task_id"] == second
    failed = [event for event in record.events_of("task.check_failed") if event.data["task_id"] == second]
    assert [event.data["command"] for event in failed] == [CHECKS[1]], "the merge's re-check failed"
    assert merged.seq < failed[0].seq
    ((reasked, tail),) = pairing.reasks
    assert reasked == second
    assert "NameError" in tail
    assert f"merged with theirs:\n- {SHARED} (changed by task {first})" in tail
    current = tag_content(tail, "current_files")
    assert current is not None
    assert (renamed if pairing.members[first] == "A" else calling) in current, "the re-ask shows what landed"
    (final,) = record.events_of("check.final")
    assert final.data["passed"] is True


@pytest.mark.parametrize("shared", [None, BASE], ids=["both-create", "both-rewrite-the-same-lines"])
async def test_overlapping_changes_are_a_conflict_the_later_task_answers_again(
    tmp_path: Path, shared: str | None
) -> None:
    def version(member: str) -> str:
        return f'"""Shared helpers by {member}."""\n\n\ndef greeting() -> str:\n    return "hello from {member}"\n'

    combined = '"""Shared helpers by A and B."""\n\n\ndef greeting() -> str:\n    return "hello from A and B"\n'

    def edit(member: str, reask: bool, now: str) -> str | None:
        return combined if reask else version(member)

    pairing = Pairing(edit, SHARED)
    record = await _run(tmp_path, pairing, shared=shared)

    assert record.run.status.value == "completed", record.run.error
    first, second = _landing_order(record, pairing)
    (conflict,) = record.events_of("task.merge_conflict")
    assert conflict.data == {"task_id": second, "files": [SHARED], "other_tasks": [first]}
    line = f"] task {second} conflicts with task {first} in {SHARED}; asking again"
    assert (describe(conflict) or "").endswith(line)
    ((reasked, tail),) = pairing.reasks
    assert reasked == second
    current = tag_content(tail, "current_files")
    assert current is not None
    assert version(pairing.members[first]) in current, "the re-ask shows the other task's version"
    assert f"changed by task {first}" in tail
    assert _final(record, pairing) == combined
    second_task = next(task for task in record.tasks if task.task_id == second)
    assert second_task.output is not None
    assert {file.path: file.content for file in second_task.output.files}[SHARED] == combined


async def test_a_task_committed_before_a_crash_is_redone_as_it_landed_not_as_it_answered(tmp_path: Path) -> None:
    """A kill between a merged task's commit and its stored completion, then a restart.

    Completions are stored in the background within milliseconds of the commit starting, so a real kill -9
    cannot be aimed at that window; the store is put in the state such a kill leaves (the run executing, the
    task running with the answer it stored before landing) and the service restarted on it.
    """
    a_change = BASE.replace('"""Shared helpers."""', '"""Shared helpers, greeting people."""')
    b_change = BASE + '\n\ndef farewell() -> str:\n    return "bye"\n'
    answers = {"A": a_change, "B": b_change}
    both = a_change + '\n\ndef farewell() -> str:\n    return "bye"\n'

    def edit(member: str, reask: bool, now: str) -> str | None:
        return None if reask else answers[member]

    pairing = Pairing(edit, SHARED)

    async def crash_and_restart(settings: Settings, record: RunRecord) -> RunRecord:
        _, second = _landing_order(record, pairing)
        assert _final(record, pairing) == both
        task = next(task for task in record.tasks if task.task_id == second)
        assert task.output is not None
        as_answered = task.output.model_copy(
            update={
                "files": [
                    file.model_copy(update={"content": answers[pairing.members[second]]})
                    if file.path == SHARED
                    else file
                    for file in task.output.files
                ]
            }
        )
        with sqlite3.connect(tmp_path / "masterplan.db") as connection:
            connection.execute("UPDATE runs SET status = 'executing' WHERE id = ?", (record.run.id,))
            connection.execute(
                "UPDATE tasks SET status = 'running', output = ? WHERE run_id = ? AND task_id = ?",
                (as_answered.model_dump_json(), record.run.id, second),
            )
        async with open_service(settings) as service:
            assert await service.resume_unfinished() == [record.run.id]
            await service.wait(record.run.id)
            return await load_record(service.store, record.run.id)

    record = await _run(tmp_path, pairing, shared=BASE, then=crash_and_restart)

    assert record.run.status.value == "completed", record.run.error
    assert _final(record, pairing) == both, "the other task's merged change survived the redo"


DRIVER = """
import asyncio, sys
from pathlib import Path
from masterplan.config import Settings
from masterplan.models import RunOptions, RunRequest
from masterplan.service.assembly import open_service

async def main(base_url, database_url, workspace_root, request, *checks):
    settings = Settings(
        anthropic_api_key="sim-key", anthropic_base_url=base_url, database_url=database_url,
        workspace_root=workspace_root, rate_limit_tier="none",
    )
    async with open_service(settings) as service:
        options = RunOptions(tasks=6, auto_answer=True, approval="auto", concurrency=2, checks=list(checks))
        run = await service.create(RunRequest(request=request, options=options))
        workspace = Path(run.workspace)
        workspace.mkdir(parents=True, exist_ok=True)
        (workspace / "hold").write_text("")
        await service.wait(run.id)

asyncio.run(main(*sys.argv[1:]))
"""
HOLD_MARK = "hold_b.txt"
HOLD_CHECK = (
    "python -c \"import os, time; time.sleep(60 if os.path.exists('hold') and os.path.exists('"
    + HOLD_MARK
    + "') else 0)\""
)
"""Holds the later task's check while the driver's ``hold`` file is in the workspace (a restart removes it)."""


def _completed(database: Path, task_id: str) -> bool:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    except sqlite3.OperationalError:
        return False
    return row is not None and row[0] == "completed"


def _member(pairing: Pairing, member: str) -> str:
    return next(task_id for task_id, name in pairing.members.items() if name == member)


async def test_a_killed_task_redone_from_its_stored_answer_merges_with_what_landed_meanwhile(tmp_path: Path) -> None:
    """kill -9 while the later task of the pair is in its checks and the other has landed, then a restart.

    The restarted process never saw the stored answer's prompt: the base it merges from comes from the
    history (the path before the first commit of a task that is not one of its dependencies).
    """
    a_change = BASE.replace('"""Shared helpers."""', '"""Shared helpers, greeting people."""')
    b_change = BASE + '\n\ndef farewell() -> str:\n    return "bye"\n'
    both = a_change + '\n\ndef farewell() -> str:\n    return "bye"\n'
    answers = {"A": a_change, "B": b_change}

    def edit(member: str, reask: bool, now: str) -> str | None:
        return None if reask else answers[member]

    # The shared file comes from a task before the pair, so it is in the history the restart reads.
    pairing = Pairing(edit, SHARED, extra={"B": {HOLD_MARK: "held\n"}}, seed={SHARED: BASE})
    database = tmp_path / "masterplan.db"
    async with simulator() as sim, pairing_proxy(sim.base_url, pairing) as proxy_url:
        args = [proxy_url, f"sqlite://{database}", str(tmp_path / "ws"), REQUEST, *CHECKS, HOLD_CHECK]
        environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(SOURCE_ROOT)}
        with (tmp_path / "driver.log").open("wb") as log:
            driver = await asyncio.create_subprocess_exec(
                sys.executable, "-c", DRIVER, *args, stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        try:
            async with asyncio.timeout(120):
                while not (
                    len(pairing.members) == 2
                    and any((tmp_path / "ws" / ".views").glob(f"*/*/{HOLD_MARK}"))
                    and _completed(database, _member(pairing, "A"))
                ):
                    assert driver.returncode is None, (tmp_path / "driver.log").read_text()
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)  # well inside the held check
                driver.send_signal(signal.SIGKILL)
                assert await driver.wait() == -signal.SIGKILL
        finally:
            if driver.returncode is None:
                driver.kill()
                await driver.wait()
        later = _member(pairing, "B")
        assert not _completed(database, later)

        settings = service_settings(sim, f"sqlite://{database}", tmp_path / "ws")
        settings = settings.model_copy(update={"anthropic_base_url": proxy_url})
        async with open_service(settings) as service:
            (run_id,) = await service.resume_unfinished()
            await service.wait(run_id)
            record = await load_record(service.store, run_id)

    assert record.run.status.value == "completed", record.run.error
    assert _final(record, pairing) == both, "the change that landed before the kill survived the redo"
    merged = [event for event in record.events_of("task.merged") if event.data["task_id"] == later]
    assert merged, "the redo merged the stored answer with what had landed"
