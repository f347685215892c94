"""What the API shows about a run: the run view, its tasks, LLM calls, events and documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from .web_helpers import REQUEST, served

RUN_FIELDS = {
    "id",
    "status",
    "request",
    "created_at",
    "updated_at",
    "cost_usd",
    "reserved_usd",
    "budget_usd",
    "usage",
    "cache_read_share",
    "tasks",
    "questions",
    "workspace",
    "repository",
    "error",
    "forecast_vs_actual",
}


def workspace_file(workspace: str, name: str) -> str:
    """What the run wrote to its workspace (the documents are copied there at the end)."""
    return Path(workspace, name).read_text(encoding="utf-8")


async def test_created_run_is_201_with_the_run_view_and_its_location(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        async with app.http.post("/runs", json={"request": REQUEST, "options": {"budget_usd": 2.5}}) as response:
            assert response.status == 201
            run = await response.json()
            assert response.headers["Location"] == f"/runs/{run['id']}"
        assert set(run) == RUN_FIELDS
        assert run["status"] == "queued"
        assert run["budget_usd"] == 2.5
        assert run["cost_usd"] == 0
        assert run["reserved_usd"] == 0
        assert run["tasks"] == {"total": 0, "completed": 0, "failed": 0, "skipped": 0, "pending": 0}
        assert run["workspace"] == str((tmp_path / "workspaces" / run["id"]).resolve())
        await app.wait_for_status(run["id"], {"awaiting_answers", "completed", "failed"})


async def test_finished_run_shows_its_totals_tasks_calls_and_documents(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        created = await app.start_run(tasks=3)
        run = await app.wait_for_status(created["id"], {"completed", "failed"})
        tasks = await app.json("GET", f"/runs/{run['id']}/tasks")
        calls = await app.json("GET", f"/runs/{run['id']}/calls")
        listed = await app.json("GET", "/runs")

        assert run["status"] == "completed"
        assert set(run) == RUN_FIELDS
        assert isinstance(run["cost_usd"], float)
        assert isinstance(run["budget_usd"], float)
        assert run["tasks"] == {"total": 3, "completed": 3, "failed": 0, "skipped": 0, "pending": 0}
        assert run["error"] is None
        usage = run["usage"]
        assert run["cache_read_share"] == pytest.approx(
            usage["cache_read_tokens"]
            / (usage["input_tokens"] + usage["cache_write_tokens"] + usage["cache_read_tokens"])
        )
        assert [run_view["id"] for run_view in listed] == [run["id"]]
        assert listed[0] == {**run, "forecast_vs_actual": None}  # the comparison is in the run's own view only

        compared = run["forecast_vs_actual"]
        assert compared["counted"] is True
        assert compared["run_status"] == "completed"
        assert float(compared["cost"]["actual_usd"]) == pytest.approx(run["cost_usd"])
        assert compared["cost"]["position"] in {"below", "inside", "above"}
        assert [task["task_id"] for task in compared["tasks"]] == [task["task_id"] for task in tasks]
        execution = [call for call in calls if call["phase"] in ("task_execution", "qa_review", "phase_summary")]
        for kind in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"):
            assert compared["tokens"]["actual"][kind] == sum(call[kind] for call in execution)
        for task in compared["tasks"]:
            own = [c for c in calls if c["task_id"] == task["task_id"] and c["phase"] == "task_execution"]
            assert float(task["cost"]["actual_usd"]) == pytest.approx(sum(c["cost_usd"] for c in own))
        assert compared["wall_time_s"]["actual"] > 0

        assert [task["status"] for task in tasks] == ["completed"] * 3
        assert all(task["files"] and task["model"] and task["attempts"] >= 1 for task in tasks)
        assert sum(task["cost_usd"] for task in tasks) < run["cost_usd"]

        assert sum(call["cost_usd"] for call in calls) == pytest.approx(run["cost_usd"])
        for kind in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"):
            assert sum(call[kind] for call in calls) == usage[kind]
        assert {call["task_id"] for call in calls if call["phase"] == "task_execution"} == {
            task["task_id"] for task in tasks
        }
        assert all(call["task_id"] is None for call in calls if call["phase"].startswith("discovery"))
        first = calls[0]
        assert {"phase", "role", "prompt_name", "prompt_version", "model", "latency_ms", "ttft_ms", "outcome"} <= set(
            first
        )

        artifacts = await app.json("GET", f"/runs/{run['id']}/artifacts")
        names = {artifact["name"] for artifact in artifacts}
        assert {"DISCOVERY.md", "MASTERPLAN.md", "REPORT.md"} <= names
        async with app.http.get(f"/runs/{run['id']}/artifacts/REPORT.md") as response:
            assert response.status == 200
            assert response.content_type == "text/markdown"
            report = await response.text()
        assert report == workspace_file(run["workspace"], "REPORT.md")
        size = next(artifact["size_bytes"] for artifact in artifacts if artifact["name"] == "REPORT.md")
        assert size == len(report.encode())
        async with app.http.get(f"/runs/{run['id']}/artifacts/NOPE.md") as response:
            assert response.status == 404


async def test_events_after_a_seq_are_the_rest_in_order(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=2)
        await app.wait_for_status(run["id"], {"completed"})
        every = await app.events(run["id"])
        rest = await app.events(run["id"], after=5)
        page = await app.json("GET", f"/runs/{run['id']}/events?after=2&limit=3")

        assert [event["seq"] for event in every] == list(range(1, len(every) + 1))
        assert rest == every[5:]
        assert page == every[2:5]


async def test_cancel_of_a_waiting_run_ends_it(tmp_path: Path) -> None:
    async with served(tmp_path) as app:
        run = await app.start_run(tasks=2, auto_answer=False)
        await app.wait_for_status(run["id"], {"awaiting_answers"})

        cancelled = await app.json("POST", f"/runs/{run['id']}/cancel")

        assert cancelled["status"] == "cancelled"
        assert cancelled["error"] == "cancelled by request"
