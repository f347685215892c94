"""``serve``: the service runs until SIGTERM, and the next start finishes what was cut short."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import orjson

from masterplan.config import Settings
from masterplan.sim import SimConfig, running_simulator
from masterplan.web import serve

from .web_helpers import run_body


async def started(urls: list[str], server: asyncio.Task[None]) -> str:
    async with asyncio.timeout(30):
        while not urls:
            assert not server.done(), server
            await asyncio.sleep(0.01)
    return urls[-1]


async def test_sigterm_stops_the_server_and_the_next_start_resumes_the_run_without_redoing_tasks(
    tmp_path: Path,
) -> None:
    async with running_simulator(SimConfig(port=0, tier="none", latency="none", seed=0)) as sim:
        settings = Settings(
            anthropic_api_key="sim-key",
            anthropic_base_url=sim.base_url,
            database_url=f"sqlite://{tmp_path / 'masterplan.db'}",
            workspace_root=tmp_path / "workspaces",
            rate_limit_tier="none",
        )
        urls: list[str] = []
        first = asyncio.create_task(serve(settings, host="127.0.0.1", port=0, on_started=urls.append))
        async with aiohttp.ClientSession(await started(urls, first)) as http:
            async with http.post("/runs", json=run_body(tasks=6)) as response:
                run_id = (await response.json())["id"]
            async with http.ws_connect(f"/runs/{run_id}/ws") as ws:
                while (await ws.receive_json(timeout=30))["type"] != "task.completed":
                    pass
                os.kill(os.getpid(), signal.SIGTERM)
                async with asyncio.timeout(30):
                    async for message in ws:
                        assert message.type is aiohttp.WSMsgType.TEXT
                    await first
            assert ws.close_code == 1001
        requests_before = dict(sim.stats()["requests_by_task"])

        urls.clear()
        second = asyncio.create_task(serve(settings, host="127.0.0.1", port=0, on_started=urls.append))
        async with aiohttp.ClientSession(await started(urls, second)) as http:
            async with asyncio.timeout(60), http.ws_connect(f"/runs/{run_id}/ws") as ws:
                events = [orjson.loads(message.data) async for message in ws]
            assert ws.close_code == 1000
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(second, 30)

    interrupted = next(i for i, event in enumerate(events) if event["type"] == "run.resumed")
    done_before = {e["data"]["task_id"] for e in events[:interrupted] if e["type"] == "task.completed"}
    assert events[-1]["data"]["status"] == "completed"
    assert done_before
    requests_after = sim.stats()["requests_by_task"]
    for task_id in done_before:
        assert requests_after[task_id] == requests_before[task_id], task_id
