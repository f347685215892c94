"""Logging: plain text for people, one JSON object a line for machines, with the run, task and phase of each record.

Where a record comes from is carried by context variables that the run's driver, the task runner and the
phase caller set (``log_context``); asyncio copies them into every task it starts, so a record logged deep
inside a call knows its run without any parameter passing. ``configure_logging`` is called once, by the CLI.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal, TextIO

import orjson

LogFormat = Literal["text", "json"]

CONTEXT_FIELDS = ("run_id", "task_id", "phase")
_context: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"masterplan_{name}", default=None) for name in CONTEXT_FIELDS
}


@contextmanager
def log_context(*, run_id: str | None = None, task_id: str | None = None, phase: str | None = None) -> Iterator[None]:
    """Records logged inside the block (and in tasks started from it) carry the given fields."""
    given = {"run_id": run_id, "task_id": task_id, "phase": phase}
    tokens = [(name, _context[name].set(value)) for name, value in given.items() if value is not None]
    try:
        yield
    finally:
        for name, token in reversed(tokens):
            _context[name].reset(token)


def current_context() -> dict[str, str]:
    """The context fields set where the caller runs (those not set are left out)."""
    return {name: value for name, variable in _context.items() if (value := variable.get()) is not None}


class ContextFilter(logging.Filter):
    """Copies the current run, task and phase onto each record (a record's own ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_context().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, run_id, task_id, phase, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info and record.exc_info[0] is not None:
            kind, error, trace = record.exc_info
            entry["exception"] = {
                "type": kind.__name__,
                "message": str(error),
                "traceback": "".join(traceback.format_exception(kind, error, trace)),
            }
        elif record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level logger [run task phase]: message``; the context is left out when there is none."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None)) is not None]
        record.where = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def configure_logging(log_format: LogFormat, level: str, *, stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger (replacing any this function installed before); returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.set_name("masterplan")
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == "masterplan"]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
