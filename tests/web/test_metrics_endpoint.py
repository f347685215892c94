"""GET /metrics after real runs: the counters agree with the audit trail, and promtool accepts the output."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .web_helpers import Served, follow, served

PARSE_FAILURES = {"parse_error", "validation_error", "truncated"}
TRANSPORT_FAILURES = {"rate_limited", "overloaded", "server_error", "connection_error"}


async def scrape(app: Served) -> tuple[str, dict[str, list[tuple[dict[str, str], float]]]]:
    async with app.http.get("/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return text, samples


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(value for found, value in samples[name] if labels.items() <= found.items())


async def wait_for_no_clients(app: Served) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with asyncio.timeout(10):
        while True:
            _, samples = await scrape(app)
            if total(samples, "masterplan_websocket_clients") == 0:
                return samples
            await asyncio.sleep(0.02)


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: apt-get install prometheus"
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )


async def test_counters_after_a_run_equal_the_audit_trail_and_promtool_accepts_them(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=3)
        _, during = await scrape(app)
        events, _ = await follow(app, run["id"])
        finished = await app.json("GET", f"/runs/{run['id']}")
        calls: list[dict[str, Any]] = await app.json("GET", f"/runs/{run['id']}/calls")
        samples = await wait_for_no_clients(app)
        text, _ = await scrape(app)

    assert events[-1]["data"]["status"] == "completed"
    for kind in ("input", "cache_write", "cache_read", "output"):
        expected = sum(call[f"{kind}_tokens"] for call in calls)
        assert total(samples, "masterplan_llm_tokens_total", kind=kind) == expected, kind
    assert total(samples, "masterplan_llm_cost_usd_total") == pytest.approx(sum(c["cost_usd"] for c in calls))
    assert total(samples, "masterplan_llm_cost_usd_total") == pytest.approx(finished["cost_usd"])
    assert total(samples, "masterplan_llm_requests_total") == len(calls)

    assert total(samples, "masterplan_runs_created_total") == 1
    assert total(samples, "masterplan_runs_finished_total", status="completed") == 1
    assert total(samples, "masterplan_run_cost_usd_count") == 1
    assert total(samples, "masterplan_run_cost_usd_sum") == pytest.approx(finished["cost_usd"])
    assert total(samples, "masterplan_tasks_total", status="completed") == 3
    assert total(samples, "masterplan_task_duration_seconds_count", status="completed") == 3
    assert total(samples, "masterplan_wasted_cost_usd_total") == 0
    assert total(during, "masterplan_active_runs") == 1
    assert total(samples, "masterplan_active_runs") == 0
    assert total(samples, "masterplan_websocket_slow_clients_dropped_total") == 0

    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == ""


def rejected_answer_costs(events: list[dict[str, Any]], calls: list[dict[str, Any]]) -> float:
    """The cost of the developer answers rejected for their files: the answered attempt before each rejection.

    An ``llm.call`` event's cost includes its transport retries (a stream dropped midway), which are wasted as
    retries; the rejected answer is the attempt that answered, the call's last ``ok`` record.
    """
    answered: dict[str, list[float]] = {}
    for call in calls:
        if call["phase"] == "task_execution" and call["outcome"] == "ok":
            answered.setdefault(call["task_id"], []).append(call["cost_usd"])
    answers = {task_id: iter(costs) for task_id, costs in answered.items()}
    last_answer: dict[str, float] = {}
    rejected = 0.0
    for event in events:
        data = event["data"]
        if event["type"] == "llm.call" and data["phase"] == "task_execution" and data["outcome"] == "ok":
            last_answer[data["task_id"]] = next(answers[data["task_id"]])
        elif event["type"] == "task.answer_rejected":
            rejected += last_answer.pop(data["task_id"])
    return rejected


async def test_wasted_cost_splits_into_parse_failures_and_retries_as_the_calls_show(tmp_path: Path) -> None:
    faults = "malformed_json=0.15,syntax_error=0.3,disconnect=0.1"
    # Unparsable answers need a model without structured outputs.
    async with served(tmp_path, faults=faults, seed=11, structured_outputs=False) as app:
        run = await app.start_run(tasks=4)
        await app.wait_for_status(run["id"], {"completed", "failed"})
        events, _ = await follow(app, run["id"])
        calls: list[dict[str, Any]] = await app.json("GET", f"/runs/{run['id']}/calls")
        tasks: list[dict[str, Any]] = await app.json("GET", f"/runs/{run['id']}/tasks")
        _, samples = await scrape(app)

    parse_failed = sum(call["cost_usd"] for call in calls if call["outcome"] in PARSE_FAILURES)
    transport_failed = sum(call["cost_usd"] for call in calls if call["outcome"] in TRANSPORT_FAILURES)
    developer_calls = [call for call in calls if call["phase"] == "task_execution" and call["outcome"] == "ok"]
    # every answered developer call was thrown away except the last one of each completed task
    kept = {call["task_id"]: call["cost_usd"] for call in developer_calls}
    completed = {task["task_id"] for task in tasks if task["status"] == "completed"}
    discarded = sum(call["cost_usd"] for call in developer_calls) - sum(kept[task] for task in completed)
    # of those, answers whose files failed validation (syntax errors here) count as unusable answers
    rejected = rejected_answer_costs(events, calls)

    assert parse_failed > 0
    assert rejected > 0
    assert total(samples, "masterplan_wasted_cost_usd_total", reason="parse_failures") == pytest.approx(
        parse_failed + rejected
    )
    assert total(samples, "masterplan_wasted_cost_usd_total", reason="retries") == pytest.approx(
        transport_failed + discarded - rejected
    )
    assert total(samples, "masterplan_wasted_cost_usd_total", reason="qa_rejections") == 0
    failed = sum(1 for task in tasks if task["status"] == "failed")
    assert total(samples, "masterplan_tasks_total", status="failed") == failed
    assert total(samples, "masterplan_tasks_total", status="completed") == len(completed)
