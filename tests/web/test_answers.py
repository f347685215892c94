"""A run without auto_answer waits with its questions; answers arrive over HTTP or over the WebSocket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .web_helpers import served


async def test_answers_over_http_let_the_waiting_run_complete(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=2, auto_answer=False)
        waiting = await app.wait_for_status(run["id"], {"awaiting_answers"})
        questions = waiting["questions"]
        assert questions
        assert set(questions[0]) == {"id", "question", "why", "default_assumption"}

        answered = await app.json(
            "POST", f"/runs/{run['id']}/answers", {"answers": {questions[0]["id"]: "Keep it all in SQLite"}}
        )
        assert answered["status"] == "discovering"
        done = await app.wait_for_status(run["id"], {"completed", "failed"})

        assert done["status"] == "completed"
        answers_event = next(e for e in await app.events(run["id"]) if e["type"] == "discovery.answers")
        assert answers_event["data"]["answers"][questions[0]["id"]] == "Keep it all in SQLite"


async def test_answers_over_the_websocket_and_refusals_come_back_as_error_messages(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=2, auto_answer=False)
        events: list[dict[str, Any]] = []
        async with app.http.ws_connect(f"/runs/{run['id']}/ws") as ws:
            while not events or events[-1]["data"].get("status") != "awaiting_answers":
                events.append(await ws.receive_json(timeout=30))
            question = events[-1]["data"]["questions"][0]["id"]

            await ws.send_str("{not json")
            malformed = await ws.receive_json(timeout=10)
            await ws.send_str(orjson.dumps({"type": "answer", "answers": {question: 1}}).decode())
            invalid = await ws.receive_json(timeout=10)
            await ws.send_str(orjson.dumps({"type": "answers", "answers": {"no_such_question": "x"}}).decode())
            conflict = await ws.receive_json(timeout=10)
            await ws.send_str(orjson.dumps({"type": "answers", "answers": {question: "Postgres, please"}}).decode())
            async for message in ws:
                assert message.type is aiohttp.WSMsgType.TEXT
                events.append(orjson.loads(message.data))
            close_code = ws.close_code

        assert malformed["type"] == "error"
        assert malformed["status"] == 400
        assert invalid["status"] == 422
        assert {field["field"] for field in invalid["fields"]} == {"type", f"answers.{question}"}
        assert conflict["status"] == 409
        assert "no_such_question" in conflict["message"]
        assert close_code == 1000
        assert events == await app.events(run["id"])
        assert events[-1]["data"]["status"] == "completed"
        answers = next(e for e in events if e["type"] == "discovery.answers")
        assert answers["data"]["answers"][question] == "Postgres, please"
