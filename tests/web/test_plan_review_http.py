"""Plan review over HTTP and the WebSocket: the priced plan, edits, a replan, the approval; and a kill -9 while
a run awaits approval."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .test_store_problems_at_start import MASTERPLAN, clean_env, free_port, until_healthy
from .web_helpers import Served, run_body, served


async def waiting_run(app: Served, tasks: int = 3, **options: Any) -> str:
    run = await app.start_run(tasks=tasks, approval="manual", **options)
    await app.wait_for_status(run["id"], {"awaiting_approval"})
    return str(run["id"])


async def test_the_plan_is_shown_edited_and_approved_over_http(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run_id = await waiting_run(app)
        shown = await app.json("GET", f"/runs/{run_id}/plan")
        assert shown["run"]["status"] == "awaiting_approval"
        assert shown["over_budget"] is None
        forecast = shown["forecast"]
        assert [task["task_id"] for task in forecast["tasks"]] == [task["task_id"] for task in shown["plan"]["tasks"]]
        assert float(forecast["cost"]["low_usd"]) <= float(forecast["cost"]["expected_usd"])
        assert {time["tier"] for time in forecast["wall_times"]} == {"1", "2", "3", "4", "none"}

        first, last = shown["plan"]["tasks"][0]["task_id"], shown["plan"]["tasks"][-1]["task_id"]
        cycle = {"change": {first: {"depends_on": [last]}}}
        refused = await app.json("PATCH", f"/runs/{run_id}/plan", cycle, status=422)
        assert any("cycle" in field["message"] and first in field["message"] for field in refused["error"]["fields"])
        assert await app.json("GET", f"/runs/{run_id}/plan") == shown

        edited = await app.json("PATCH", f"/runs/{run_id}/plan", {"change": {first: {"title": "Set the project up"}}})
        assert edited["plan"]["tasks"][0]["title"] == "Set the project up"
        assert edited["forecast"]["tasks"][0]["title"] == "Set the project up"

        approved = await app.json("POST", f"/runs/{run_id}/approve")
        assert approved["status"] == "executing"
        done = await app.wait_for_status(run_id, {"completed", "completed_with_failures", "failed"})
        assert done["status"] == "completed"
        conflict = await app.json("POST", f"/runs/{run_id}/approve", status=409)
        assert "not awaiting approval" in conflict["error"]["message"]
        types = [event["type"] for event in await app.events(run_id)]
        assert types.index("plan.forecast") < types.index("plan.edited") < types.index("plan.approved")


async def test_replan_over_http_is_billed_and_the_run_waits_again(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run_id = await waiting_run(app)
        before = await app.json("GET", f"/runs/{run_id}")
        accepted = await app.json("POST", f"/runs/{run_id}/replan", {"feedback": "Fewer, larger tasks."}, status=202)
        assert accepted["status"] == "planning"
        after = await app.wait_for_status(run_id, {"awaiting_approval"})
        assert after["cost_usd"] > before["cost_usd"]
        calls = await app.json("GET", f"/runs/{run_id}/calls")
        assert [call["phase"] for call in calls].count("plan_repair") == 1
        refused = await app.json("POST", f"/runs/{run_id}/replan", {"feedback": ""}, status=422)
        assert refused["error"]["fields"][0]["field"] == "feedback"


async def test_a_plan_over_budget_is_flagged_in_the_api(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run_id = await waiting_run(app, tasks=8, budget_usd=0.3)
        shown = await app.json("GET", f"/runs/{run_id}/plan")
        assert shown["forecast"]["budget"]["exceeded"] is True
        assert shown["over_budget"]
        assert "over the run's budget" in shown["over_budget"]


async def test_the_plan_is_approved_and_edited_over_the_websocket(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run_id = await waiting_run(app)
        plan = await app.json("GET", f"/runs/{run_id}/plan")
        first = plan["plan"]["tasks"][0]["task_id"]
        seen: list[dict[str, Any]] = []
        async with app.http.ws_connect(f"/runs/{run_id}/ws") as ws:
            await ws.send_str(orjson.dumps({"type": "edit_plan", "change": {first: {"depends_on": [first]}}}).decode())
            await ws.send_str(orjson.dumps({"type": "edit_plan", "change": {first: {"title": "Renamed"}}}).decode())
            await ws.send_str(orjson.dumps({"type": "approve"}).decode())
            async with asyncio.timeout(60):
                async for message in ws:
                    item = orjson.loads(message.data)
                    seen.append(item)
                    if item.get("type") == "run.status" and item["data"]["status"] == "completed":
                        break
        errors = [item for item in seen if item.get("type") == "error"]
        assert len(errors) == 1
        assert errors[0]["status"] == 422
        assert "depends on itself" in errors[0]["fields"][0]["message"]
        edited = next(item for item in seen if item.get("type") == "plan.edited")
        assert edited["data"]["by"] == "websocket"
        approved = next(item for item in seen if item.get("type") == "plan.approved")
        assert approved["data"]["by"] == "websocket"


async def status_after(http: aiohttp.ClientSession, run_id: str, passing: set[str]) -> str:
    """The run's first status not in ``passing`` (polled for up to a minute)."""
    for _ in range(600):
        async with http.get(f"/runs/{run_id}") as response:
            status: str = (await response.json())["status"]
        if status not in passing:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} still {status} after a minute")


async def test_a_run_awaiting_approval_survives_kill_9_and_runs_once_approved(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = tmp_path / "masterplan.db"
    command = [*MASTERPLAN, "serve", "--sim", "--port", str(port), "--db", f"sqlite://{database}"]
    env = clean_env(tmp_path)

    async def start() -> asyncio.subprocess.Process:
        server = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await until_healthy(base, server)
        return server

    server = await start()
    try:
        async with aiohttp.ClientSession(base) as http:
            async with http.post("/runs", json=run_body(2, approval="manual")) as response:
                assert response.status == 201
                run_id = (await response.json())["id"]
            assert await status_after(http, run_id, {"queued", "discovering", "planning"}) == "awaiting_approval"
            server.send_signal(signal.SIGKILL)
            await server.wait()

            server = await start()
            async with http.get(f"/runs/{run_id}") as response:
                assert (await response.json())["status"] == "awaiting_approval"
            async with http.get(f"/runs/{run_id}/events") as response:
                assert "run.resumed" not in [event["type"] for event in await response.json()]
            async with http.post(f"/runs/{run_id}/approve") as response:
                assert response.status == 200, await response.text()
            assert await status_after(http, run_id, {"executing"}) == "completed"
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(server.wait(), 30)


async def test_a_socket_message_whose_type_is_not_a_string_is_refused_as_input(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run_id = await waiting_run(app)
        async with app.http.ws_connect(f"/runs/{run_id}/ws") as ws:
            for kind in (["approve"], {"x": 1}, 7, None):
                await ws.send_str(orjson.dumps({"type": kind}).decode())
                async with asyncio.timeout(30):
                    while (reply := await ws.receive_json())["type"] != "error":
                        pass
                assert reply["status"] == 422, reply
        assert (await app.json("GET", f"/runs/{run_id}"))["status"] == "awaiting_approval"
