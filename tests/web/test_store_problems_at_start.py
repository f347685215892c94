"""Store problems are found when the service starts, before anything is paid: a read-only database file, a
workspace root that cannot be written. The service says "not ready" naming the problem and refuses runs with 503."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from masterplan.config import Settings
from masterplan.sim import SimConfig, SimulatorHandle, running_simulator
from masterplan.store import open_store
from masterplan.web import create_app, running_app

from .web_helpers import run_body

MASTERPLAN = [sys.executable, "-m", "masterplan.cli"]
READ_ONLY = ["unshare", "--map-root-user", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"']
"""Runs a command with one path bind-mounted read-only over itself: unwritable even for root, in its own namespace."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "ANTHROPIC" not in k and not k.startswith("MASTERPLAN_")}
    env["MASTERPLAN_WORKSPACE_ROOT"] = str(tmp_path / "workspaces")
    return env


def unwritable_root(tmp_path: Path) -> Path:
    """A workspace root that cannot be created: its parent is a regular file (unwritable even for root)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the workspace root's parent should be\n")
    return blocker / "workspaces"


async def until_healthy(base: str, server: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession(base) as http, asyncio.timeout(60):
        while True:
            assert server.returncode is None, "the server exited at start"
            try:
                async with http.get("/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.2)


async def test_serve_on_a_read_only_database_file_is_not_ready_and_refuses_runs_with_503(tmp_path: Path) -> None:
    database = tmp_path / "masterplan.db"
    await (await open_store(f"sqlite://{database}", migrate=True)).close()
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = [*MASTERPLAN, "serve", "--sim", "--port", str(port), "--db", f"sqlite://{database}"]
    with log_path.open("wb") as log:
        server = await asyncio.create_subprocess_exec(
            *READ_ONLY, str(database), *command, env=clean_env(tmp_path), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        await until_healthy(base, server)
        start_log = log_path.read_text()
        async with aiohttp.ClientSession(base) as http:
            async with http.get("/ready") as response:
                ready_status, ready = response.status, await response.json()
            async with http.post("/runs", json=run_body()) as response:
                run_status, run = response.status, await response.json()
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)
    log_text = log_path.read_text()

    problem = f"SQLite database {database} cannot be written: attempt to write a readonly database"
    assert [line for line in start_log.splitlines() if "not ready" in line] == [
        next(line for line in start_log.splitlines() if line.endswith(f"not ready: store unavailable: {problem}"))
    ]
    assert ready_status == 503
    assert ready == {"status": "not ready", "reason": f"store unavailable: {problem}"}
    assert run_status == 503
    assert problem in run["error"]["message"]
    assert "Traceback" not in log_text


@pytest.fixture
async def unwritable_root_app(tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, SimulatorHandle]]:
    async with running_simulator(SimConfig(port=0, tier="none")) as sim:
        settings = Settings(
            anthropic_api_key="sim-key",
            anthropic_base_url=sim.base_url,
            database_url=f"sqlite://{tmp_path / 'masterplan.db'}",
            workspace_root=unwritable_root(tmp_path),
            rate_limit_tier="none",
        )
        async with (
            running_app(create_app(settings), host="127.0.0.1", port=0) as url,
            aiohttp.ClientSession(url) as http,
        ):
            yield http, sim


async def test_an_unwritable_workspace_root_refuses_the_run_with_503_naming_it_before_any_call(
    tmp_path: Path, unwritable_root_app: tuple[aiohttp.ClientSession, SimulatorHandle]
) -> None:
    http, sim = unwritable_root_app
    async with http.get("/ready") as response:
        ready_status, ready = response.status, await response.json()
    async with http.post("/runs", json=run_body()) as response:
        run_status, run = response.status, await response.json()
    async with http.get("/runs") as response:
        runs = await response.json()

    root = unwritable_root(tmp_path)
    assert ready_status == 503
    assert ready["reason"] == f"the workspace root {root} is not writable: Not a directory"
    assert run_status == 503
    assert run["error"]["message"].endswith(f"the workspace root {root} is not writable: Not a directory")
    assert runs == []
    assert sum(sim.stats()["requests_by_role"].values()) == 0


def test_the_cli_refuses_a_run_whose_workspace_root_is_unwritable_in_one_line_before_any_call(tmp_path: Path) -> None:
    root = unwritable_root(tmp_path)
    database = tmp_path / "masterplan.db"
    options = [
        "--sim",
        "--auto-answer",
        "--yes",
        "--tasks",
        "3",
        "--db",
        f"sqlite://{database}",
        "--workspace-root",
        str(root),
    ]
    started = time.monotonic()
    result = subprocess.run(
        [*MASTERPLAN, "run", "A todo list", *options],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"masterplan: error: the workspace root {root} is not writable: Not a directory"
    ]
    assert "discovery" not in result.stdout
    assert time.monotonic() - started < 60


def test_the_cli_refuses_a_run_on_a_read_only_database_in_one_line_before_any_call(tmp_path: Path) -> None:
    database = tmp_path / "masterplan.db"
    subprocess.run([*MASTERPLAN, "migrate", "--db", f"sqlite://{database}"], check=True, capture_output=True)
    command = [*MASTERPLAN, "run", "A todo list", "--sim", "--auto-answer", "--yes", "--db", f"sqlite://{database}"]
    result = subprocess.run(
        [*READ_ONLY, str(database), *command],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"masterplan: error: SQLite database {database} cannot be written: attempt to write a readonly database"
    ]
    assert "discovery" not in result.stdout
