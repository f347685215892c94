"""A small client of masterplan's HTTP API, for ``run --server`` and ``watch``.

``follow`` reads a run's events over the WebSocket and, when the socket closes
before the run ends (a dropped connection, or the server closing a slow
client), reconnects with ``after`` set to the last seq it saw: every event
arrives exactly once, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from masterplan.models import Event, RunRequest

TERMINAL = frozenset({"completed", "completed_with_failures", "failed", "cancelled", "budget_exceeded"})
WAITING = frozenset({"awaiting_answers", "awaiting_approval"})
RECONNECT_DELAY_S = 0.5
MAX_RECONNECTS = 50


class APIError(Exception):
    """The server refused a request; the message is the server's, ``problems`` its field messages."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class MasterplanClient:
    def __init__(self, base_url: str, *, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session = aiohttp.ClientSession(headers=headers, json_serialize=lambda v: orjson.dumps(v).decode())

    async def __aenter__(self) -> MasterplanClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._session.close()

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with self._session.request(method, self.base_url + path, json=body) as response:
                payload = await response.read()
                data = orjson.loads(payload) if payload else None
                if response.status >= 400:
                    error = data.get("error", {}) if isinstance(data, dict) else {}
                    message = error.get("message")
                    problems = [str(field.get("message")) for field in error.get("fields") or []]
                    raise APIError(f"{method} {path}: HTTP {response.status}: {message or payload[:200]!r}", problems)
                return data
        except aiohttp.ClientConnectionError as error:
            raise APIError(f"cannot reach masterplan at {self.base_url}: {error}") from None

    async def create_run(self, request: RunRequest) -> dict[str, Any]:
        body = request.model_dump(mode="json", exclude_none=True)
        if request.options.budget_usd is not None:  # the API takes money as a JSON number
            body["options"]["budget_usd"] = float(request.options.budget_usd)
        repository = body["options"].pop("repository", None)
        if repository is not None:  # the API takes it beside the options; the server resolves the base
            body["repository"] = {key: repository[key] for key in ("path", "base") if key in repository}
        result: dict[str, Any] = await self._json("POST", "/runs", body)
        return result

    async def get_run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"/runs/{run_id}")
        return result

    async def get_plan(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"/runs/{run_id}/plan")
        return result

    async def edit_plan(self, run_id: str, edits: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("PATCH", f"/runs/{run_id}/plan", edits)
        return result

    async def approve(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("POST", f"/runs/{run_id}/approve")
        return result

    async def replan(self, run_id: str, feedback: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("POST", f"/runs/{run_id}/replan", {"feedback": feedback})
        return result

    async def cancel(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("POST", f"/runs/{run_id}/cancel")
        return result

    async def follow(self, run_id: str, on_event: Callable[[Event], None], *, after: int = 0) -> int:
        """Deliver the run's events until it ends or waits for the user; returns the last seq seen."""
        last = after
        for _ in range(MAX_RECONNECTS):
            url = f"{self.base_url}/runs/{run_id}/ws?after={last}"
            if self._token:
                url += f"&token={self._token}"
            try:
                async with self._session.ws_connect(url, heartbeat=30) as socket:
                    async for message in socket:
                        if message.type is not aiohttp.WSMsgType.TEXT:
                            break
                        data = orjson.loads(message.data)
                        if "seq" not in data:
                            continue
                        event = Event(run_id=run_id, **data)
                        if event.seq <= last:
                            continue
                        last = event.seq
                        on_event(event)
                        if event.type == "run.status" and (
                            event.data.get("status") in TERMINAL or event.data.get("status") in WAITING
                        ):
                            return last
            except aiohttp.WSServerHandshakeError as error:
                raise APIError(f"cannot follow run {run_id}: HTTP {error.status}") from None
            except aiohttp.ClientConnectionError:
                pass
            run = await self.get_run(run_id)
            if run["status"] in TERMINAL | WAITING:
                return last
            await asyncio.sleep(RECONNECT_DELAY_S)
        raise APIError(f"lost the connection to run {run_id} {MAX_RECONNECTS} times")
