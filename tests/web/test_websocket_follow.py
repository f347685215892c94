"""Following a run over the WebSocket: stored then live events, in order, each exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from masterplan.web import WebSocketLimits
from masterplan.web.keys import REGISTRY

from .web_helpers import StalledClient, follow, served


def seqs(events: list[dict[str, object]]) -> list[object]:
    return [event["seq"] for event in events]


async def test_run_started_over_http_is_followed_to_completion_over_the_websocket(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=3)

        events, close_code = await follow(app, run["id"])

        assert seqs(events) == list(range(1, len(events) + 1))
        assert set(events[0]) == {"seq", "type", "ts", "data"}
        assert events[0]["type"] == "run.created"
        assert events[-1]["type"] == "run.status"
        assert events[-1]["data"]["status"] == "completed"
        assert close_code == 1000
        assert [e["data"]["task_id"] for e in events if e["type"] == "task.completed"] != []
        assert events == await app.events(run["id"])


async def test_client_that_reconnects_with_after_receives_every_event_exactly_once(tmp_path: Path) -> None:
    async with served(tmp_path, latency=0.01) as app:
        run = await app.start_run(tasks=3)

        first, _ = await follow(app, run["id"], stop_after=5)
        assert (await app.json("GET", f"/runs/{run['id']}"))["status"] not in {"completed", "failed"}
        second, _ = await follow(app, run["id"], after=first[-1]["seq"], stop_after=5)
        rest, close_code = await follow(app, run["id"], after=second[-1]["seq"])

        received = first + second + rest
        assert close_code == 1000
        assert received[-1]["data"]["status"] == "completed"
        assert seqs(received) == list(range(1, len(received) + 1))
        assert received == await app.events(run["id"])


async def test_concurrent_tasks_on_postgresql_reach_two_followers_in_seq_order(
    tmp_path: Path, postgres_url: str
) -> None:
    async with served(tmp_path, database_url=postgres_url) as app:
        run = await app.start_run(tasks=6, concurrency=3)

        first, second = await asyncio.gather(follow(app, run["id"]), follow(app, run["id"]))

        stored = await app.events(run["id"])
        assert first == (stored, 1000)
        assert second == (stored, 1000)
        assert seqs(stored) == list(range(1, len(stored) + 1))
        assert stored[-1]["data"]["status"] == "completed"


async def test_event_that_overtakes_an_earlier_one_on_the_bus_arrives_after_it(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=2, auto_answer=False)
        await app.wait_for_status(run["id"], {"awaiting_answers"})
        stored = await app.events(run["id"])
        async with app.http.ws_connect(f"/runs/{run['id']}/ws?after={stored[-1]['seq']}") as ws:
            # two committed events published in the wrong order, as concurrent transactions can do
            async with app.service.store.transaction() as tx:
                early = await tx.append_event(run["id"], "test.early")
                late = await tx.append_event(run["id"], "test.late")
            app.service.bus.publish([late])
            received = [await ws.receive_json(timeout=10), await ws.receive_json(timeout=10)]
            app.service.bus.publish([early])
            async with app.service.store.transaction() as tx:
                after = await tx.append_event(run["id"], "test.after")
            app.service.bus.publish([after])
            received.append(await ws.receive_json(timeout=10))

        assert [(event["seq"], event["type"]) for event in received] == [
            (early.seq, "test.early"),
            (late.seq, "test.late"),
            (after.seq, "test.after"),
        ]


async def test_socket_of_a_finished_run_sends_what_is_stored_after_the_given_seq_and_closes(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=3)
        await app.wait_for_status(run["id"], {"completed"})
        stored = await app.events(run["id"])

        tail, close_code = await follow(app, run["id"], after=10)
        nothing, end_code = await follow(app, run["id"], after=stored[-1]["seq"])

        assert tail == stored[10:]
        assert close_code == 1000
        assert nothing == []
        assert end_code == 1000


async def test_stalled_client_is_dropped_while_another_receives_everything(tmp_path: Path) -> None:
    limits = WebSocketLimits(queue_size=16, send_buffer_bytes=1024)
    async with served(tmp_path, limits=limits) as app:
        run = await app.start_run(tasks=12)
        path = f"/runs/{run['id']}/ws?after=0"
        stalled = await StalledClient.connect(app.url, path)
        try:
            healthy, close_code = await follow(app, run["id"])
            # the run did not wait for the stalled client: it completed while that client read nothing
            assert healthy[-1]["data"]["status"] == "completed"
            assert close_code == 1000

            held, stalled_code, reason = await stalled.read_until_close()
        finally:
            stalled.close()
        stored = await app.events(run["id"])
        assert healthy == stored
        assert stalled_code == 4008
        assert held, "the stalled client got some events before it fell behind"
        assert reason == f"too slow; reconnect with after={held[-1]['seq']}"
        assert held == stored[: len(held)]
        assert len(held) < len(stored)

        resumed, resumed_code = await follow(app, run["id"], after=held[-1]["seq"])
        assert held + resumed == stored
        assert resumed_code == 1000
        assert app.app[REGISTRY].get_sample_value("masterplan_websocket_slow_clients_dropped_total") == 1


async def test_socket_opened_with_after_beyond_the_last_event_gets_the_runs_end_and_closes(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=2, auto_answer=False)
        waiting = await app.wait_for_status(run["id"], {"awaiting_answers"})
        stored = await app.events(run["id"])
        async with app.http.ws_connect(f"/runs/{run['id']}/ws?after={stored[-1]['seq'] + 1000}") as ws:
            answers = {question["id"]: "whatever you assume" for question in waiting["questions"]}
            await app.json("POST", f"/runs/{run['id']}/answers", {"answers": answers})
            received = []
            async with asyncio.timeout(60):
                async for message in ws:
                    received.append(message.json())
            close_code = ws.close_code

        assert close_code == 1000
        assert received == (await app.events(run["id"]))[len(stored) :]
        assert received[-1]["type"] == "run.status"
        assert received[-1]["data"]["status"] == "completed"
