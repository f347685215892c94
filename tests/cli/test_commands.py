"""The command line as a user runs it: real processes, the simulator over HTTP, SQLite files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

MASTERPLAN = [sys.executable, "-m", "masterplan.cli"]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No Anthropic settings from the developer's shell; everything under tmp_path."""
    env = {k: v for k, v in os.environ.items() if "ANTHROPIC" not in k and not k.startswith("MASTERPLAN_")}
    env.update(
        MASTERPLAN_DATABASE_URL=f"sqlite://{tmp_path / 'masterplan.db'}",
        MASTERPLAN_WORKSPACE_ROOT=str(tmp_path / "workspaces"),
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_run_without_a_key_refuses_in_one_line_and_never_simulates(tmp_path: Path) -> None:
    result = subprocess.run(
        [*MASTERPLAN, "run", "A todo list", "--auto-answer", "--yes"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "MASTERPLAN_ANTHROPIC_API_KEY" in lines[0]
    assert "--sim" in lines[0]
    assert "simulator" not in result.stdout
    assert not (tmp_path / "workspaces").exists()


def test_demo_completes_a_run_and_prints_the_dashboard_and_a_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [*MASTERPLAN, "demo", "--tasks", "4", "--sim-latency", "none"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "dashboard: http://127.0.0.1:" in result.stdout
    assert "run is completed" in result.stdout
    summary = [line for line in result.stdout.splitlines() if line.startswith("run ") and " completed: $" in line]
    assert len(summary) == 1, result.stdout
    workspace = Path(summary[0].rsplit("workspace ", 1)[1])
    assert (workspace / "REPORT.md").is_file()
    assert "4/4 tasks completed" in result.stdout or "tasks completed" in result.stdout
    forecast = [line for line in result.stdout.splitlines() if line.startswith("forecast $")]
    assert len(forecast) == 1, result.stdout
    assert " the range); time forecast " in forecast[0]
    assert "stopped early" not in forecast[0]


def test_serve_then_run_on_the_server_and_watch_it(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [*MASTERPLAN, "serve", "--sim", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        started = subprocess.run(
            [
                *MASTERPLAN,
                "run",
                "A library with books and members",
                "--auto-answer",
                "--yes",
                "--tasks",
                "3",
                "--server",
                base,
                "--watch",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        run_id = started.stdout.split("run ", 1)[1].split(" ", 1)[0]
        assert "run is completed" in started.stdout
        with urllib.request.urlopen(f"{base}/runs/{run_id}", timeout=5) as response:
            view = orjson.loads(response.read())
        assert view["status"] == "completed"
        watched = subprocess.run(
            [*MASTERPLAN, "watch", run_id, "--server", base],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert watched.returncode == 0, watched.stderr
        assert f"run {run_id} completed" in watched.stdout
        assert "final check passed" in watched.stdout
        actual = f"actual ${float(view['forecast_vs_actual']['cost']['actual_usd']):.4f}"
        assert any(line.startswith("forecast $") and actual in line for line in watched.stdout.splitlines())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]


def test_run_with_custom_checks_runs_them_on_copies_of_the_workspace(tmp_path: Path) -> None:
    """The checks see the workspace's files (a copy of them): what they write never reaches it."""
    check = (
        "python -c \"import pathlib, sys; pathlib.Path('CHECKED').write_text('ran'); "
        "sys.exit(0 if pathlib.Path('pyproject.toml').is_file() else 7)\""
    )
    options = ["--sim", "--sim-latency", "none", "--tasks", "2", "--auto-answer", "--yes", "--checks", check]
    workspace = completed_run_workspace(tmp_path, [*options, "--check", "python -c pass"])
    report = (workspace / "REPORT.md").read_text()
    assert "`python -c pass` after each task" in report
    assert "| final check | passed (" in report
    assert not (workspace / "CHECKED").exists()


def test_run_with_no_checks_runs_none_and_says_so(tmp_path: Path) -> None:
    options = ["--sim", "--sim-latency", "none", "--tasks", "2", "--auto-answer", "--yes", "--no-checks"]
    report = (completed_run_workspace(tmp_path, options) / "REPORT.md").read_text()
    assert "| checks | none: checks were turned off |" in report
    assert "| `T01` | Project setup | completed | claude-haiku-4-5 | 1 |" in report
    assert report.count(" | — |") >= 2  # no task has a check result


def test_a_budget_the_store_cannot_keep_is_refused_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*MASTERPLAN, "run", "A todo list", "--sim", "--budget", "0.0000000001"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "masterplan run: error: argument --budget: '0.0000000001' must have at most 9 decimal places "
        "(whole nano-dollars)"
    )
    assert not (tmp_path / "masterplan.db").exists()


def completed_run_workspace(tmp_path: Path, options: list[str]) -> Path:
    """``masterplan run "A todo list" OPTIONS``, which must complete; the workspace its summary names."""
    result = subprocess.run(
        [*MASTERPLAN, "run", "A todo list", *options],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = next(line for line in result.stdout.splitlines() if line.startswith("run ") and "workspace " in line)
    return Path(summary.rsplit("workspace ", 1)[1])
