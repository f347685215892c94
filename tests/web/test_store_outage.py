"""A database outage in the middle of a run heals by itself: the API answers 503 meanwhile, the run goes on after.

The outage is the test's own: the service reaches PostgreSQL through a proxy the
test cuts (every connection reset, new ones refused) and restores. Its length is
``MASTERPLAN_TEST_OUTAGE_S`` (default 5 s; the behaviour is the same at 20 s).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from .db_proxy import CuttableProxy
from .web_helpers import TERMINAL, Served, served

OUTAGE_S = float(os.environ.get("MASTERPLAN_TEST_OUTAGE_S", "5"))
SETTLING_S = 1.0
"""Time for the call in flight at the cut to come back; after it, no call may leave until the store is back."""
TASKS = 6


def through(proxy: CuttableProxy, url: str) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


async def first_completed_task(app: Served, run_id: str) -> None:
    async with asyncio.timeout(60), app.http.ws_connect(f"/runs/{run_id}/ws") as ws:
        while (await ws.receive_json())["type"] != "task.completed":
            pass


async def answers_during(app: Served, seconds: float, paths: list[str]) -> list[tuple[int, dict[str, Any], str | None]]:
    """(status, body, Retry-After) of each path, asked over and over for ``seconds``."""
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in paths:
            async with app.http.get(path) as response:
                answers.append((response.status, await response.json(), response.headers.get("Retry-After")))
        await asyncio.sleep(0.25)
    return answers


async def recorded_calls(database_url: str, run_id: str) -> list[tuple[str, str | None, str]]:
    """(phase, task id, outcome) of every call in the run's audit trail."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT phase, task_id, outcome FROM llm_calls WHERE run_id = $1", run_id)
    finally:
        await connection.close()
    return [(row["phase"], row["task_id"], row["outcome"]) for row in rows]


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_a_postgres_outage_mid_run_answers_503_and_the_run_completes_by_itself_without_repeating_a_task(
    tmp_path: Path, postgres_url: str, concurrency: int
) -> None:
    parts = urlsplit(postgres_url)
    assert parts.hostname is not None
    assert parts.port is not None
    async with (
        CuttableProxy(parts.hostname, parts.port) as proxy,
        served(tmp_path, latency=0.05, database_url=through(proxy, postgres_url)) as app,
    ):
        run_id = (await app.start_run(tasks=TASKS, concurrency=concurrency))["id"]
        await first_completed_task(app, run_id)

        await proxy.cut()
        answers = await answers_during(app, SETTLING_S, [f"/runs/{run_id}", "/ready"])
        sent_after_the_cut = sum(app.sim.stats()["requests_by_role"].values())  # the call in flight, if any
        answers += await answers_during(app, OUTAGE_S - SETTLING_S, [f"/runs/{run_id}", "/ready"])
        sent_by_the_end = sum(app.sim.stats()["requests_by_role"].values())
        await proxy.restore()

        run = await app.wait_for_status(run_id, TERMINAL, timeout_s=120)
        events = await app.events(run_id)
        stats = app.sim.stats()

    assert run["status"] == "completed", run["error"]
    assert run["tasks"]["completed"] == TASKS
    statuses = {status for status, _, _ in answers}
    assert statuses == {503}, answers
    runs_answer = next(body for status, body, _ in answers if "error" in body)
    assert "unreachable" in runs_answer["error"]["message"]
    assert all(retry_after is not None and int(retry_after) > 0 for _, body, retry_after in answers if "error" in body)
    ready = [body for _, body, _ in answers if "status" in body]
    assert ready
    assert all(body["status"] == "not ready" and "PostgreSQL" in body["reason"] for body in ready)
    assert sent_by_the_end == sent_after_the_cut, "an LLM call was sent while the store was unreachable"
    assert any(event["type"] == "run.store_recovered" for event in events)
    assert all(count == 1 for count in stats["requests_by_task"].values()), stats["requests_by_task"]
    calls = await recorded_calls(postgres_url, run_id)
    assert len(calls) == sum(stats["requests_by_role"].values()), "a call the simulator answered is not recorded"
    developer_calls = Counter(task for phase, task, outcome in calls if phase == "task_execution" and outcome == "ok")
    assert developer_calls == dict.fromkeys(stats["requests_by_task"], 1)
