"""Helpers of the web tests: the real application on an ephemeral port, fed by the simulator.

Everything is real: the app's service opens a SQLite file in tmp_path and talks
to the simulator through the anthropic SDK; clients talk to the app over
sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from yarl import URL

from masterplan.config import Settings
from masterplan.service.runs import RunService
from masterplan.sim import SimConfig, SimulatorHandle, running_simulator
from masterplan.web import WebSocketLimits, create_app, running_app
from masterplan.web.keys import SERVICE

REQUEST = "A task-tracking API with users, projects and comments"
TERMINAL = {"completed", "completed_with_failures", "failed", "cancelled", "budget_exceeded"}


def run_body(tasks: int = 3, **options: Any) -> dict[str, Any]:
    """A POST /runs body; checks off unless asked, so runs take about a second."""
    return {
        "request": REQUEST,
        "options": {"tasks": tasks, "auto_answer": True, "checks": [], "approval": "auto", **options},
    }


@dataclass
class Served:
    url: str
    app: web.Application
    sim: SimulatorHandle
    http: aiohttp.ClientSession

    @property
    def service(self) -> RunService:
        return self.app[SERVICE]

    async def json(self, method: str, path: str, body: Any = None, *, status: int = 200) -> Any:
        async with self.http.request(method, path, json=body) as response:
            payload = await response.read()
            assert response.status == status, payload[:500]
            return orjson.loads(payload)

    async def start_run(self, tasks: int = 3, **options: Any) -> dict[str, Any]:
        run: dict[str, Any] = await self.json("POST", "/runs", run_body(tasks, **options), status=201)
        return run

    async def wait_for_status(self, run_id: str, wanted: set[str], timeout_s: float = 60.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                run: dict[str, Any] = await self.json("GET", f"/runs/{run_id}")
                if run["status"] in wanted:
                    return run
                await asyncio.sleep(0.05)

    async def events(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await self.json("GET", f"/runs/{run_id}/events?after={after}")
        return events

    def settings(self) -> Settings:
        return self.service.settings


@asynccontextmanager
async def served(
    tmp_path: Path,
    *,
    token: str | None = None,
    limits: WebSocketLimits | None = None,
    latency: str | float = "none",
    faults: str = "",
    seed: int = 0,
    database_url: str | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Served]:
    async with running_simulator(SimConfig(port=0, tier="none", latency=latency, faults=faults, seed=seed)) as sim:
        settings = Settings(
            anthropic_api_key="sim-key",
            anthropic_base_url=sim.base_url,
            database_url=database_url or f"sqlite://{tmp_path / 'masterplan.db'}",
            workspace_root=tmp_path / "workspaces",
            rate_limit_tier="none",
            api_token=token,
            **settings_overrides,
        )
        app = create_app(settings, websocket_limits=limits)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            running_app(app, host="127.0.0.1", port=0) as url,
            aiohttp.ClientSession(url, headers=headers) as http,
        ):
            yield Served(url, app, sim, http)


async def follow(
    served_app: Served, run_id: str, *, after: int = 0, stop_after: int | None = None, timeout_s: float = 60.0
) -> tuple[list[dict[str, Any]], int | None]:
    """Events read over the WebSocket until it closes (or ``stop_after`` events); (events, close code)."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s), served_app.http.ws_connect(f"/runs/{run_id}/ws?after={after}") as ws:
        async for message in ws:
            assert message.type is aiohttp.WSMsgType.TEXT, message
            events.append(orjson.loads(message.data))
            if stop_after is not None and len(events) >= stop_after:
                return events, None
        return events, ws.close_code


# ------------------------------------------------------------ a stalled client


class StalledClient:
    """A WebSocket client with a tiny receive buffer that reads nothing until told to: a frozen browser tab.

    Written on a raw socket because a library client keeps reading into its own
    buffers; this one leaves the bytes in the kernel, so the server's sends back up.
    """

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        self._sock = sock
        self._pending = pending

    @classmethod
    async def connect(cls, base_url: str, path: str) -> StalledClient:
        url = URL(base_url)
        assert url.host is not None
        assert url.port is not None
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.setblocking(False)
        await loop.sock_connect(sock, (url.host, url.port))
        key = base64.b64encode(os.urandom(16)).decode()
        handshake = (
            f"GET {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, handshake.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = await loop.sock_recv(sock, 256)
            assert chunk, "connection closed during the handshake"
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock, rest)

    async def read_until_close(self, timeout_s: float = 30.0) -> tuple[list[dict[str, Any]], int, str]:
        """Every text message, then the close code and reason (the close is answered)."""
        loop = asyncio.get_running_loop()
        data, messages = self._pending, []
        async with asyncio.timeout(timeout_s):
            while True:
                frame = _next_frame(data)
                if frame is None:
                    chunk = await loop.sock_recv(self._sock, 65536)
                    assert chunk, "connection ended without a close frame"
                    data += chunk
                    continue
                opcode, payload, data = frame
                if opcode == 0x1:
                    messages.append(orjson.loads(payload))
                elif opcode == 0x8:
                    await loop.sock_sendall(self._sock, _masked_close(payload[:2]))
                    return messages, int.from_bytes(payload[:2], "big"), payload[2:].decode()

    def close(self) -> None:
        self._sock.close()


def _next_frame(data: bytes) -> tuple[int, bytes, bytes] | None:
    """(opcode, payload, rest) of the first complete unmasked server frame in ``data``."""
    if len(data) < 2:
        return None
    length, offset = data[1] & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        length, offset = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, offset = int.from_bytes(data[2:10], "big"), 10
    if len(data) < offset + length:
        return None
    return data[0] & 0x0F, data[offset : offset + length], data[offset + length :]


def _masked_close(code: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes([0x88, 0x80 | len(code)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(code))
