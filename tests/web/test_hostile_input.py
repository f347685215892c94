"""The inputs that once made the server answer 5xx (issue 10, item 4), each now a 4xx naming the field."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from .web_helpers import Served, run_body, served

JSON = {"Content-Type": "application/json"}


async def refusal(app: Served, method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
    async with app.http.request(method, path, **kwargs) as response:
        body = await response.read()
        assert response.status == status, body[:500]
        assert response.content_type == "application/json"
    error: dict[str, Any] = orjson.loads(body)["error"]
    assert error["status"] == status
    return error


def named(error: dict[str, Any]) -> set[str]:
    return {field["field"] for field in error.get("fields", [])}


async def waiting_run(app: Served) -> dict[str, Any]:
    run = await app.start_run(tasks=2, auto_answer=False)
    return await app.wait_for_status(run["id"], {"awaiting_answers"})


@pytest.mark.parametrize(
    "budget",
    [1e308, 5e-324, 1e-12, 9.3e9, "1e999999", 0.0123456789, -1, 0, True, "5"],
)
async def test_budgets_the_store_cannot_keep_are_422_naming_the_field(
    tmp_path: Path, database_url: str, budget: object
) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        error = await refusal(app, "POST", "/runs", 422, json=run_body(1, budget_usd=budget))
        assert named(error) == {"options.budget_usd"}
        assert await app.json("GET", "/runs") == []


async def test_the_smallest_and_largest_budgets_are_kept_exactly(tmp_path: Path, database_url: str) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        for budget in (1e-9, 100_000, 12.345678901):
            run = await app.json("POST", "/runs", run_body(1, budget_usd=budget), status=201)
            assert run["budget_usd"] == budget
            await app.json("POST", f"/runs/{run['id']}/cancel")


async def test_seqs_beyond_64_bits_are_422_over_http_and_refused_before_the_websocket_opens(
    tmp_path: Path, database_url: str
) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        run = await app.start_run(tasks=1)
        for after in ("9223372036854775808", "1e20", "-1", "+1", " 1", "١"):
            error = await refusal(app, "GET", f"/runs/{run['id']}/events?after={after}", 422)
            assert named(error) == {"after"}, after
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await app.http.ws_connect(f"/runs/{run['id']}/ws?after={after}")
            assert refused.value.status == 422
        assert await app.json("GET", f"/runs/{run['id']}/events?after=9223372036854775807") == []
        limit = await refusal(app, "GET", "/runs?limit=99999999999999999999", 422)
        assert named(limit) == {"limit"}


async def test_nul_characters_are_422_in_a_request_an_answer_and_a_prompt(tmp_path: Path, database_url: str) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        error = await refusal(app, "POST", "/runs", 422, json={"request": "an API\u0000", "options": {"checks": []}})
        assert named(error) == {"request"}
        assert "U+0000" in error["fields"][0]["message"]
        lone_surrogate = b'{"request": "an API \\ud800", "options": {"checks": []}}'
        await refusal(app, "POST", "/runs", 400, data=lone_surrogate, headers=JSON)

        waiting = await waiting_run(app)
        question = waiting["questions"][0]["id"]
        path = f"/runs/{waiting['id']}/answers"
        answer = await refusal(app, "POST", path, 422, json={"answers": {question: "SQLite\u0000"}})
        assert named(answer) == {f"answers.{question}"}
        key = await refusal(app, "POST", path, 422, json={"answers": {"q\u0000": "SQLite"}})
        assert named(key) == {"answers.q\u0000.[key]"}
        prompt = await refusal(app, "PUT", "/prompts/developer", 422, json={"body": "Write code.\u0000"})
        assert named(prompt) == {"body"}
        for nul_path in ("/runs/%00", "/runs/%00/events", "/prompts/%00", f"/runs/{waiting['id']}/artifacts/%00"):
            method = "PUT" if nul_path.startswith("/prompts") else "GET"
            await refusal(app, method, nul_path, 404, json={"body": "x"} if method == "PUT" else None)
        assert (await app.json("GET", f"/runs/{waiting['id']}"))["status"] == "awaiting_answers"


async def test_a_nul_answer_over_the_websocket_is_an_error_message_and_the_socket_stays_open(
    tmp_path: Path, database_url: str
) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        waiting = await waiting_run(app)
        question = waiting["questions"][0]["id"]
        async with app.http.ws_connect(f"/runs/{waiting['id']}/ws") as socket:
            await socket.send_str(orjson.dumps({"type": "answers", "answers": {question: "SQLite\u0000"}}).decode())
            await socket.send_str('{"type": "answers", "type": "answers", "answers": {}}')
            errors = []
            async with asyncio.timeout(10):
                while len(errors) < 2:
                    message = await socket.receive_json()
                    if message.get("type") == "error":
                        errors.append(message)
            assert [error["status"] for error in errors] == [422, 400]
            assert errors[0]["fields"][0]["field"] == f"answers.{question}"
            assert "twice" in errors[1]["message"]
            assert not socket.closed

            await socket.send_str(orjson.dumps({"type": "answers", "answers": {question: "SQLite"}}).decode())
            async with asyncio.timeout(60):
                async for message in socket:
                    if message.json().get("data", {}).get("status") == "completed":
                        break
        assert (await app.json("GET", f"/runs/{waiting['id']}"))["status"] == "completed"


async def test_a_request_line_over_8_kb_is_a_json_400_and_one_log_line(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        host, port = app.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET /runs?{'a' * 9000} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")

        assert head.split(b" ", 2)[1] == b"400", head
        assert b"Content-Type: application/json" in head
        error = orjson.loads(body)["error"]
        assert error["status"] == 400
        assert "cannot be read" in error["message"]
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"tasks": "12"}, "options.tasks"),
        ({"tasks": True}, "options.tasks"),
        ({"tasks": 2.0}, "options.tasks"),
        ({"auto_answer": "yes"}, "options.auto_answer"),
        ({"auto_answer": 1}, "options.auto_answer"),
        ({"budget_usd": "1_000"}, "options.budget_usd"),
        ({"concurrency": "2"}, "options.concurrency"),
        ({"checks": "pytest"}, "options.checks"),
        ({"qa": 1}, "options.qa"),
    ],
)
async def test_loose_types_are_refused(tmp_path: Path, database_url: str, options: dict[str, Any], field: str) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        body = {"request": "An API", "options": {"checks": [], **options}}
        error = await refusal(app, "POST", "/runs", 422, json=body)
        assert named(error) == {field}
        assert await app.json("GET", "/runs") == []


async def test_duplicate_keys_are_a_400_naming_the_key(tmp_path: Path, database_url: str) -> None:
    async with served(tmp_path, database_url=database_url) as app:
        twice = b'{"request": "An API", "options": {"tasks": 1, "checks": [], "tasks": 50}}'
        error = await refusal(app, "POST", "/runs", 400, data=twice, headers=JSON)
        assert "'tasks' appears twice" in error["message"]
        deep = b"[" * 5000 + b"]" * 5000
        await refusal(app, "POST", "/runs", 400, data=deep, headers=JSON)
        for constant in (b"NaN", b"Infinity", b"1e400"):
            body = b'{"request": "An API", "options": {"budget_usd": %s}}' % constant
            await refusal(app, "POST", "/runs", 400, data=body, headers=JSON)
        assert await app.json("GET", "/runs") == []


async def test_file_routes_serve_their_files_and_nothing_else(tmp_path: Path) -> None:
    """Found by the property tests: a file name over 255 bytes under /static was a 500 (ENAMETOOLONG)."""
    async with served(tmp_path) as app:
        for path in ("/static/app.js", "/docs/static/swagger-ui.css"):
            async with app.http.get(path) as response:
                assert response.status == 200, path
        for path in (f"/static/{'x' * 300}", "/static/%00", "/static/../README.md", "/docs/static/%2e%2e/x"):
            await refusal(app, "GET", path, 404)


async def test_a_body_in_an_encoding_it_is_not_is_a_400_and_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the property tests: Content-Encoding: gzip on a plain body was a 500, then a logged traceback."""
    async with served(tmp_path) as app:
        headers = {**JSON, "Content-Encoding": "gzip"}
        error = await refusal(app, "POST", "/runs", 400, data=orjson.dumps(run_body(1)), headers=headers)
        assert "cannot be read" in error["message"]
        assert await app.json("GET", "/runs") == []
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]
