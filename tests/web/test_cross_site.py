"""No page of another site, and no request over HTTP, can make the service run a command of its choosing."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from masterplan.config import Settings

from .web_helpers import Served, run_body, served

ATTACK = '{"request":"x","options":{"tasks":1,"auto_answer":true,"checks":["sh -c \\"id > %s\\""]}}'
EVIL = "http://evil.example"


async def curl(*args: str) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of a request sent by the real curl, as the issue's attacker sent it."""
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr
    body, _, status = stdout.decode().rpartition("\n")
    return int(status), orjson.loads(body)


async def no_runs(app: Served) -> bool:
    return await app.json("GET", "/runs") == []


async def post(app: Served, path: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any], Any]:
    async with app.http.post(path, data=orjson.dumps(body), headers=headers) as response:
        return response.status, orjson.loads(await response.read()), response.headers


async def test_the_reported_text_plain_attack_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    async with served(tmp_path) as app:
        status, body = await curl(
            "-X", "POST", f"{app.url}/runs", "-H", "Content-Type: text/plain", "--data", ATTACK % pwned
        )

        assert status == 415
        assert "application/json" in body["error"]["message"]
        assert "text/plain" in body["error"]["message"]
        assert await no_runs(app)
    assert not pwned.exists()


async def test_json_from_a_foreign_origin_is_refused_before_anything_runs(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    async with served(tmp_path) as app:
        status, body = await curl(
            *("-X", "POST", f"{app.url}/runs", "-H", "Content-Type: application/json", "-H", f"Origin: {EVIL}"),
            *("--data", ATTACK % pwned),
        )

        assert status == 403
        assert EVIL in body["error"]["message"]
        assert "MASTERPLAN_ALLOWED_ORIGINS" in body["error"]["message"]
        assert await no_runs(app)
    assert not pwned.exists()


async def test_custom_checks_over_http_are_refused_unless_the_setting_allows_them(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        refused = await app.json("POST", "/runs", run_body(1, checks=["python -m pytest -q"]), status=403)
        assert refused["error"]["fields"][0]["field"] == "options.checks"
        assert "MASTERPLAN_ALLOW_HTTP_CHECKS" in refused["error"]["message"]
        assert await no_runs(app)
        # no checks, or the default (pytest), stay open
        await app.json("POST", "/runs", run_body(1, checks=[]), status=201)
        default = run_body(1)
        del default["options"]["checks"]
        await app.json("POST", "/runs", default, status=201)

    async with served(tmp_path / "allowed", allow_http_checks=True) as app:
        run = await app.json("POST", "/runs", run_body(1, checks=["python -c pass"]), status=201)
        done = await app.wait_for_status(run["id"], {"completed", "failed"})
        assert done["status"] == "completed"


async def test_the_services_own_origin_passes_and_a_foreign_one_cannot_open_the_websocket(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        status, run, _ = await post(app, "/runs", run_body(1), {"Origin": app.url, "Content-Type": "application/json"})
        assert status == 201

        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await app.http.ws_connect(f"/runs/{run['id']}/ws", origin=EVIL)
        assert refused.value.status == 403
        async with app.http.ws_connect(f"/runs/{run['id']}/ws", origin=app.url) as socket:
            first = await socket.receive_json(timeout=10)
        assert first["type"] == "run.created"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/x-www-form-urlencoded"},  # an HTML form
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "text/plain;charset=UTF-8"},  # fetch() with a string body and no-cors
        {},  # aiohttp names raw bytes application/octet-stream
    ],
)
async def test_bodies_that_are_not_json_are_refused_with_415(tmp_path: Path, headers: dict[str, str]) -> None:
    async with served(tmp_path) as app:
        status, body, _ = await post(app, "/runs", run_body(1), headers)
        assert status == 415, body
        assert await no_runs(app)


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1", "https://127.0.0.1:1", "file://", "http://[::1]:1"])
async def test_origins_other_than_the_service_itself_are_refused(tmp_path: Path, origin: str) -> None:
    async with served(tmp_path) as app:
        status, body, _ = await post(app, "/runs", run_body(1), {"Origin": origin, "Content-Type": "application/json"})
        assert status == 403, body
        async with app.http.get("/runs", headers={"Origin": origin}) as response:
            assert response.status == 403


async def test_an_allowed_origin_gets_cors_answers_including_its_errors(tmp_path: Path) -> None:
    allowed = "http://localhost:5173"
    async with served(tmp_path, allowed_origins=f"{allowed}, https://ops.example") as app:
        preflight = {"Origin": allowed, "Access-Control-Request-Method": "POST"}
        async with app.http.options("/runs", headers=preflight) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == allowed
            assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
        json_from_allowed = {"Origin": allowed, "Content-Type": "application/json"}
        status, _, headers = await post(app, "/runs", run_body(1), json_from_allowed)
        assert status == 201
        assert headers["Access-Control-Allow-Origin"] == allowed
        assert headers["Vary"] == "Origin"
        async with app.http.get("/runs/0123456789abcdef", headers={"Origin": allowed}) as response:
            assert response.status == 404
            assert response.headers["Access-Control-Allow-Origin"] == allowed
        async with app.http.options("/runs", headers={**preflight, "Origin": EVIL}) as response:
            assert response.status == 403
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_a_dns_rebinding_page_cannot_use_the_api_without_a_token(tmp_path: Path) -> None:
    rebound = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    async with served(tmp_path) as app:
        async with app.http.get("/runs", headers=rebound) as response:
            assert response.status == 403
            assert "MASTERPLAN_API_TOKEN" in (await response.json())["error"]["message"]
        status, _, _ = await post(app, "/runs", run_body(1), {**rebound, "Content-Type": "application/json"})
        assert status == 403
        for public in ("/health", "/metrics", "/"):
            async with app.http.get(public, headers={"Host": "evil.example:8080"}) as response:
                assert response.status == 200, public
        async with app.http.get("/runs", headers={"Host": f"localhost:{app.url.rsplit(':', 1)[1]}"}) as response:
            assert response.status == 200
        assert await no_runs(app)

    # with a token, the token is the guard: any host name works
    async with (
        served(tmp_path / "token", token="s3cret") as app,
        app.http.get("/runs", headers={"Host": "masterplan.internal:8080"}) as response,
    ):
        assert response.status == 200


def test_allowed_origins_must_be_origins() -> None:
    assert Settings(allowed_origins="HTTP://LocalHost:80/, https://a.example:443").allowed_origins == (
        "http://localhost",
        "https://a.example",
    )
    for wrong in ("localhost:3000", "ftp://a.example", "http://a.example/path", "http://a.example:99999", "*"):
        with pytest.raises(ValueError, match="is not an origin"):
            Settings(allowed_origins=wrong)
