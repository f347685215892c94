"""How a plan under review is stored: the plan, its model pins and its forecast, as the run's artifacts.

``masterplan.json`` is the plan (generated, edited or replanned); ``plan_pins.json`` maps task ids to the
models the user pinned; ``FORECAST.json`` is the plan's forecast and ``MASTERPLAN.md`` the human document
with its forecast section. They are written together, in the transaction that records the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from masterplan.executor.tags import json_artifact
from masterplan.forecast.report import Forecast
from masterplan.models import Artifact, MasterPlan
from masterplan.service.documents import render_master_plan
from masterplan.store import StoreTx

PLAN_JSON = "masterplan.json"
FORECAST_JSON = "FORECAST.json"
FORECAST_ACCURACY_JSON = "FORECAST_ACCURACY.json"
"""The approved forecast beside what the run did, written with REPORT.md (``service.run_report``)."""
PINS_JSON = "plan_pins.json"
REPLAN_JSON = "replan.json"
"""The user's feedback for a replan, with ``pending`` true until the new plan is stored."""


@dataclass(frozen=True)
class ReviewedPlan:
    plan: MasterPlan
    forecast: Forecast | None
    pins: dict[str, str] = field(default_factory=dict)


def plan_artifacts(run_id: str, reviewed: ReviewedPlan) -> list[Artifact]:
    artifacts = [
        json_artifact(run_id, PLAN_JSON, reviewed.plan),
        Artifact(run_id=run_id, name="MASTERPLAN.md", content=render_master_plan(reviewed.plan, reviewed.forecast)),
        json_artifact(run_id, PINS_JSON, reviewed.pins),
    ]
    if reviewed.forecast is not None:
        artifacts.append(json_artifact(run_id, FORECAST_JSON, reviewed.forecast))
    return artifacts


async def put_reviewed(tx: StoreTx, run_id: str, reviewed: ReviewedPlan) -> None:
    for artifact in plan_artifacts(run_id, reviewed):
        await tx.put_artifact(artifact)


async def load_reviewed(tx: StoreTx, run_id: str) -> ReviewedPlan | None:
    plan = await tx.get_artifact(run_id, PLAN_JSON)
    if plan is None:
        return None
    forecast = await tx.get_artifact(run_id, FORECAST_JSON)
    return ReviewedPlan(
        plan=MasterPlan.model_validate_json(plan.content),
        forecast=Forecast.model_validate_json(forecast.content) if forecast is not None else None,
        pins=await load_pins(tx, run_id),
    )


async def load_pins(tx: StoreTx, run_id: str) -> dict[str, str]:
    pins = await tx.get_artifact(run_id, PINS_JSON)
    value = orjson.loads(pins.content) if pins is not None else {}
    return {str(key): str(model) for key, model in value.items()} if isinstance(value, dict) else {}


async def pending_replan(tx: StoreTx, run_id: str) -> str | None:
    """The feedback of a replan the user asked for and that has not been made yet."""
    stored = await tx.get_artifact(run_id, REPLAN_JSON)
    if stored is None:
        return None
    value = orjson.loads(stored.content)
    if isinstance(value, dict) and value.get("pending"):
        return str(value.get("feedback", ""))
    return None


def replan_artifact(run_id: str, feedback: str, *, pending: bool) -> Artifact:
    return json_artifact(run_id, REPLAN_JSON, {"feedback": feedback, "pending": pending})


def forecast_summary(forecast: Forecast | None) -> dict[str, object] | None:
    """A forecast's totals, as events carry them (the per-task figures are in FORECAST.json)."""
    if forecast is None:
        return None
    return {
        "cost": forecast.cost.model_dump(mode="json"),
        "calls": forecast.calls,
        "cache_read_share": forecast.cache_read_share,
        "wall_time": forecast.wall_time.model_dump(mode="json"),
        "budget": forecast.budget.model_dump(mode="json"),
    }
