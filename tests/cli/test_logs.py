"""Structured logs: one JSON object a line with the run, task and phase; plain text by default."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from masterplan.logs import configure_logging, log_context

from .test_commands import MASTERPLAN, clean_env, free_port


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_carry_the_run_task_phase_and_exception() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    log = logging.getLogger("masterplan.test")
    with log_context(run_id="r1"):
        log.info("planning")
        with log_context(task_id="T03", phase="task_execution"):
            try:
                raise ValueError("no such file")
            except ValueError:
                log.exception("task failed")
        log.warning("after the task")
    log.info("outside any run")
    first, failed, after, outside = lines_of(stream)
    assert first == {**first, "level": "INFO", "logger": "masterplan.test", "message": "planning", "run_id": "r1"}
    assert "task_id" not in first
    assert failed["task_id"] == "T03"
    assert failed["phase"] == "task_execution"
    assert failed["run_id"] == "r1"
    exception = failed["exception"]
    assert isinstance(exception, dict)
    assert exception["type"] == "ValueError"
    assert exception["message"] == "no such file"
    assert "raise ValueError" in str(exception["traceback"])
    assert after["run_id"] == "r1"
    assert "task_id" not in after
    assert "run_id" not in outside


@pytest.mark.usefixtures("restore_root_logger")
async def test_tasks_started_inside_a_run_log_with_its_id() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)

    async def side_task() -> None:
        logging.getLogger("masterplan.side").info("from a task")

    with log_context(run_id="r2"):
        task = asyncio.create_task(side_task())
    await task
    assert lines_of(stream)[0]["run_id"] == "r2"


@pytest.mark.usefixtures("restore_root_logger")
def test_text_is_the_default_and_shows_the_context() -> None:
    stream = io.StringIO()
    configure_logging("text", "INFO", stream=stream)
    with log_context(run_id="r3", task_id="T01"):
        logging.getLogger("masterplan.test").info("hello")
    line = stream.getvalue().strip()
    assert line.endswith("INFO masterplan.test [run_id=r3 task_id=T01]: hello")


@pytest.mark.parametrize("asked_by", ["flag", "setting"])
def test_serve_logs_json_lines_when_asked(tmp_path: Path, asked_by: str) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = [*MASTERPLAN, "serve", "--sim", "--port", str(port)]
    env = clean_env(tmp_path)
    if asked_by == "flag":
        command += ["--log-format", "json"]
    else:
        env["MASTERPLAN_LOG_FORMAT"] = "json"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 60
        while "serving on" not in log_path.read_text() and time.monotonic() < deadline:
            assert server.poll() is None, log_path.read_text()
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = log_path.read_text().splitlines()
    assert lines, "serve logged nothing"
    records = [orjson.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "message"} <= record.keys() for record in records)
    assert any("serving on" in str(record["message"]) for record in records)
