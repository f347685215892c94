"""Health, readiness, prompts, the OpenAPI document, Swagger UI, and a shutdown that tells clients."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import orjson

from masterplan.config import Settings
from masterplan.llm.gateway import LLMGateway
from masterplan.service.assembly import store_recorder
from masterplan.service.runs import RunService
from masterplan.store import open_store
from masterplan.web import create_app, running_app

from .web_helpers import served

CONTRACT_PATHS = {
    "/runs": {"get", "post"},
    "/runs/{run_id}": {"get"},
    "/runs/{run_id}/answers": {"post"},
    "/runs/{run_id}/cancel": {"post"},
    "/runs/{run_id}/plan": {"get", "patch"},
    "/runs/{run_id}/approve": {"post"},
    "/runs/{run_id}/replan": {"post"},
    "/runs/{run_id}/tasks": {"get"},
    "/runs/{run_id}/calls": {"get"},
    "/runs/{run_id}/events": {"get"},
    "/runs/{run_id}/ws": {"get"},
    "/runs/{run_id}/artifacts": {"get"},
    "/runs/{run_id}/artifacts/{name}": {"get"},
    "/prompts": {"get"},
    "/prompts/{name}": {"put"},
    "/health": {"get"},
    "/ready": {"get"},
    "/metrics": {"get"},
    "/openapi.json": {"get"},
    "/docs": {"get"},
}


async def test_health_and_ready_on_a_migrated_database(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        assert await app.json("GET", "/health") == {"status": "ok"}
        assert await app.json("GET", "/ready") == {"status": "ready", "reason": None}


async def test_ready_is_503_naming_the_pending_migrations(tmp_path: Path) -> None:
    settings = Settings(anthropic_api_key="unused", database_url=f"sqlite://{tmp_path / 'bare.db'}")
    store = await open_store(settings.database_url)
    try:
        async with LLMGateway(settings, recorder=store_recorder(store)) as gateway:
            service = RunService(store=store, gateway=gateway, settings=settings)
            async with (
                running_app(create_app(settings, service=service), host="127.0.0.1", port=0) as url,
                aiohttp.ClientSession(url) as http,
                http.get("/ready") as response,
            ):
                assert response.status == 503
                body = await response.json()
    finally:
        await store.close()
    assert body["status"] == "not ready"
    assert body["reason"].startswith("pending migrations: 0001_")


async def test_openapi_document_lists_every_contract_path_with_schemas_from_the_models(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        document = await app.json("GET", "/openapi.json")

    assert document["openapi"].startswith("3.")
    assert {path: set(methods) for path, methods in document["paths"].items()} == CONTRACT_PATHS
    schemas = document["components"]["schemas"]
    assert {"RunRequest", "RunOptions", "RunView", "TaskView", "CallView", "EventView", "ErrorBody"} <= set(schemas)
    assert set(schemas["RunView"]["required"]) >= {"id", "status", "cost_usd", "usage", "tasks", "workspace"}
    assert schemas["RunOptions"]["properties"]["qa"]["enum"] == ["off", "task", "milestone"]
    references = set(re.findall(r'"#/components/schemas/([^"]+)"', orjson.dumps(document).decode()))
    assert references <= set(schemas)
    create = document["paths"]["/runs"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunRequest"}
    assert {"201", "400", "401", "413", "422"} <= set(create["responses"])
    assert document["paths"]["/health"]["get"]["security"] == []


async def test_docs_page_is_swagger_ui_with_its_assets_served_locally(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        async with app.http.get("/docs") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert all(asset.startswith("/docs/") for asset in assets), assets
        assert "/docs/static/swagger-ui-bundle.js" in assets
        for asset in assets:
            async with app.http.get(asset) as response:
                assert response.status == 200, asset
                assert len(await response.read()) > 0
        async with app.http.get("/docs/swagger-initializer.js") as response:
            assert '"/openapi.json"' in await response.text()


async def test_prompt_edit_creates_a_new_version_once(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        prompts = await app.json("GET", "/prompts")
        developer = next(prompt for prompt in prompts if prompt["name"] == "developer")
        edited = developer["body"] + "\nPrefer small functions.\n"

        created = await app.json("PUT", "/prompts/developer", {"body": edited}, status=201)
        again = await app.json("PUT", "/prompts/developer", {"body": edited}, status=200)
        listed = await app.json("GET", "/prompts")
        unknown = await app.json("PUT", "/prompts/no-such-role", {"body": "x"}, status=404)
        empty = await app.json("PUT", "/prompts/developer", {"body": ""}, status=422)

    assert created["version"] == developer["version"] + 1
    assert created["body"] == edited
    assert again == created
    assert next(prompt for prompt in listed if prompt["name"] == "developer") == created
    assert "no-such-role" in unknown["error"]["message"]
    assert empty["error"]["fields"][0]["field"] == "body"


async def test_shutdown_closes_open_sockets_with_going_away(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=2, auto_answer=False)
        await app.wait_for_status(run["id"], {"awaiting_answers"})
        ws = await app.http.ws_connect(f"/runs/{run['id']}/ws")
        first = await ws.receive_json(timeout=10)
        assert first["seq"] == 1
        shutdown = asyncio.create_task(app.app.shutdown())
        messages = [message async for message in ws]
        await shutdown

    assert all(message.type is aiohttp.WSMsgType.TEXT for message in messages)
    assert ws.close_code == 1001


async def test_dashboard_page_and_its_files_load_without_a_token(tmp_path: Path) -> None:
    async with served(tmp_path, token="t0ken") as app, aiohttp.ClientSession(app.url) as anonymous:
        async with anonymous.get("/") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
        scripts = re.findall(r'src="(/static/[^"]+)"', page)
        assert scripts
        for script in scripts:
            async with anonymous.get(script) as response:
                assert response.status == 200, script
        async with anonymous.get("/static/missing.css") as response:
            assert response.status == 404
        async with anonymous.get("/runs") as response:
            assert response.status == 401
