"""Plan review endpoints: the priced plan of a run awaiting approval, its edits, a replan, the approval."""

from __future__ import annotations

from aiohttp import web

from masterplan.service.plan_store import ReviewedPlan
from masterplan.service.runs import RunService
from masterplan.web.inputs import RUN_ID
from masterplan.web.keys import SERVICE
from masterplan.web.plan_inputs import PlanEditRequest, ReplanRequest
from masterplan.web.responses import json_response, read_model
from masterplan.web.runs import run_view
from masterplan.web.schemas import PlanView

routes = web.RouteTableDef()


async def plan_view(service: RunService, run_id: str, reviewed: ReviewedPlan) -> PlanView:
    return PlanView(
        run=await run_view(service, run_id),
        plan=reviewed.plan,
        pins=reviewed.pins,
        forecast=reviewed.forecast,
        over_budget=reviewed.forecast.budget.message
        if reviewed.forecast and reviewed.forecast.budget.exceeded
        else None,
    )


@routes.get(f"/runs/{RUN_ID}/plan")
async def show_plan(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run, reviewed = await service.plan(request.match_info["run_id"])
    return json_response(await plan_view(service, run.id, reviewed))


@routes.patch(f"/runs/{RUN_ID}/plan")
async def edit_plan(request: web.Request) -> web.Response:
    body = await read_model(request, PlanEditRequest)
    service = request.app[SERVICE]
    run, reviewed = await service.edit_plan(request.match_info["run_id"], body.to_domain(), by="http")
    return json_response(await plan_view(service, run.id, reviewed))


@routes.post(f"/runs/{RUN_ID}/approve")
async def approve_plan(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run = await service.approve(request.match_info["run_id"], by="http")
    return json_response(await run_view(service, run.id))


@routes.post(f"/runs/{RUN_ID}/replan")
async def replan(request: web.Request) -> web.Response:
    body = await read_model(request, ReplanRequest)
    service = request.app[SERVICE]
    run = await service.replan(request.match_info["run_id"], body.feedback, by="http")
    return json_response(await run_view(service, run.id), status=202)
