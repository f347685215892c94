"""Every refusal is JSON ``{"error": {"status", "message"}}`` with the status a client can act on."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from .web_helpers import Served, run_body, served

JSON = {"Content-Type": "application/json"}


async def error_of(app: Served, method: str, path: str, *, status: int, **kwargs: Any) -> dict[str, Any]:
    async with app.http.request(method, path, **kwargs) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        body: dict[str, Any] = orjson.loads(await response.read())
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    error: dict[str, Any] = body["error"]
    assert error["message"]
    return error


async def test_malformed_json_is_400_and_names_the_problem(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        error = await error_of(app, "POST", "/runs", data=b'{"request": "x",', headers=JSON, status=400)
        assert "not valid JSON" in error["message"]
        empty = await error_of(app, "POST", "/runs", data=b"", headers=JSON, status=400)
        assert "empty" in empty["message"]


async def test_invalid_fields_are_422_and_each_field_is_named(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        body = {"request": "   ", "options": {"tasks": 0, "qa": "sometimes", "surprise": True}}
        error = await error_of(app, "POST", "/runs", json=body, status=422)
        assert {field["field"] for field in error["fields"]} == {
            "request",
            "options.tasks",
            "options.qa",
            "options.surprise",
        }
        assert "options.tasks" in error["message"]
        not_an_object = await error_of(app, "POST", "/runs", json=["a list"], status=422)
        assert not_an_object["fields"][0]["field"] == "body"
        bad_query = await error_of(app, "GET", "/runs/0123456789abcdef/events?after=-1", status=422)
        assert [field["field"] for field in bad_query["fields"]] == ["after"]


async def test_unknown_run_and_unknown_route_are_404(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        for path in ["/runs/nope", "/runs/nope/tasks", "/runs/nope/calls", "/runs/nope/events", "/runs/nope/artifacts"]:
            error = await error_of(app, "GET", path, status=404)
            assert "nope" in error["message"]
        await error_of(app, "POST", "/runs/nope/answers", json={"answers": {}}, status=404)
        await error_of(app, "POST", "/runs/nope/cancel", status=404)
        route = await error_of(app, "GET", "/no/such/thing", status=404)
        assert "/no/such/thing" in route["message"]
        await error_of(app, "GET", "/runs/nope/ws", status=404)


async def test_answers_to_a_run_not_waiting_and_cancel_of_an_ended_run_are_409(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=3)
        await app.wait_for_status(run["id"], {"completed"})

        error = await error_of(app, "POST", f"/runs/{run['id']}/answers", json={"answers": {"q": "a"}}, status=409)
        assert "not awaiting answers" in error["message"]
        cancel = await error_of(app, "POST", f"/runs/{run['id']}/cancel", status=409)
        assert "already ended" in cancel["message"]


async def test_body_over_one_mebibyte_is_413(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        body = orjson.dumps(run_body()).replace(b'"request":"', b'"request":"' + b"x" * (1024 * 1024))
        error = await error_of(app, "POST", "/runs", data=io.BytesIO(body), headers=JSON, status=413)
        assert "1048576" in error["message"]
        assert await app.json("GET", "/runs") == []


async def test_with_a_token_only_health_ready_metrics_and_pages_are_open(tmp_path: Path) -> None:
    async with served(tmp_path, token="s3cret-token") as app:
        run = await app.start_run(tasks=1)
        async with aiohttp.ClientSession(app.url) as anonymous:
            for path in ["/runs", f"/runs/{run['id']}", "/prompts", f"/runs/{run['id']}/events"]:
                async with anonymous.get(path) as response:
                    assert response.status == 401
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")
                    body = await response.json()
                    assert body["error"]["message"].startswith("missing bearer token")
                    assert "s3cret-token" not in await response.text()
            async with anonymous.post("/runs", json=run_body(), headers={"Authorization": "Bearer wrong"}) as response:
                assert response.status == 401
                assert (await response.json())["error"]["message"].startswith("wrong bearer token")
            for path in ["/health", "/ready", "/metrics", "/openapi.json", "/docs"]:
                async with anonymous.get(path) as response:
                    assert response.status == 200, path
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await anonymous.ws_connect(f"/runs/{run['id']}/ws")
            assert refused.value.status == 401
            async with anonymous.ws_connect(f"/runs/{run['id']}/ws?token=s3cret-token") as ws:
                first = await ws.receive_json(timeout=10)
                assert first["seq"] == 1
            await app.wait_for_status(run["id"], {"completed"})


async def test_wrong_method_is_405_naming_the_allowed_ones(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        error = await error_of(app, "DELETE", "/runs", status=405)
        assert error["message"].startswith("DELETE is not allowed on /runs; allowed:")
        assert "POST" in error["message"]


async def test_token_is_never_bypassed_by_paths_that_look_public_nor_written_to_the_access_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(tmp_path, token="s3cret-token") as app:
        run = await app.start_run(tasks=1)
        for raw in ("/static/../runs", "/static/%2e%2e/runs", "/docs/../runs", "/health/../runs"):
            reader, writer = await asyncio.open_connection(URL(app.url).host, URL(app.url).port)
            writer.write(f"GET {raw} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
            answer = await reader.read()
            writer.close()
            # the token is asked for, or a public file route finds no such file; the runs are never listed
            assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 404 Not Found"), raw
            assert run["id"].encode() not in answer, raw
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with aiohttp.ClientSession(app.url) as anonymous:
                async with anonymous.ws_connect(f"/runs/{run['id']}/ws?after=0&token=s3cret-token") as ws:
                    await ws.receive_json(timeout=10)
                async with anonymous.get("/health?token=s3cret-token") as response:
                    assert response.status == 200
            await app.wait_for_status(run["id"], {"completed"})
    access = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    assert any("/health?token=***" in line for line in access), access
    assert not any("s3cret-token" in record.getMessage() for record in caplog.records)
