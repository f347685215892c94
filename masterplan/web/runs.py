"""Run endpoints: create, list, show, answer, cancel, and what a run recorded."""

from __future__ import annotations

from aiohttp import web

from masterplan.forecast.accuracy import ForecastAccuracy
from masterplan.service.plan_store import FORECAST_ACCURACY_JSON
from masterplan.service.runs import RunService
from masterplan.store import NotFound
from masterplan.web.inputs import ARTIFACT_NAME, RUN_ID, AnswersRequest, EventsQuery, RunRequest, RunsQuery
from masterplan.web.keys import SERVICE, SETTINGS
from masterplan.web.responses import error_body, json_response, query_model, read_model
from masterplan.web.schemas import ArtifactSummary, CallView, EventView, RunView, TaskView

routes = web.RouteTableDef()


async def run_view(service: RunService, run_id: str) -> RunView:
    run = await service.get(run_id)
    async with service.store.transaction() as tx:
        counts = await tx.count_tasks(run_id)
        compared = await tx.get_artifact(run_id, FORECAST_ACCURACY_JSON) if run.status.is_terminal else None
    accuracy = ForecastAccuracy.model_validate_json(compared.content) if compared is not None else None
    return RunView.of(run, counts, accuracy)


async def require_run(service: RunService, run_id: str) -> None:
    await service.get(run_id)


@routes.post("/runs")
async def create_run(request: web.Request) -> web.Response:
    body = (await read_model(request, RunRequest)).to_domain()
    if body.options.checks and not request.app[SETTINGS].allow_http_checks:
        message = "custom check commands are refused over HTTP unless MASTERPLAN_ALLOW_HTTP_CHECKS is set"
        field = {"field": "options.checks", "message": "leave it out (pytest runs) or send [] (no checks)"}
        return json_response(error_body(403, message, [field]), status=403)
    service = request.app[SERVICE]
    run = await service.create(body)
    return json_response(RunView.of(run, {}), status=201, headers={"Location": f"/runs/{run.id}"})


@routes.get("/runs")
async def list_runs(request: web.Request) -> web.Response:
    query = query_model(request, RunsQuery)
    service = request.app[SERVICE]
    runs = await service.list_runs(query.limit)
    async with service.store.transaction() as tx:
        views = [RunView.of(run, await tx.count_tasks(run.id)) for run in runs]
    return json_response(views)


@routes.get(f"/runs/{RUN_ID}")
async def show_run(request: web.Request) -> web.Response:
    return json_response(await run_view(request.app[SERVICE], request.match_info["run_id"]))


@routes.post(f"/runs/{RUN_ID}/answers")
async def answer_run(request: web.Request) -> web.Response:
    body = await read_model(request, AnswersRequest)
    service = request.app[SERVICE]
    run = await service.answer(request.match_info["run_id"], body.answers)
    return json_response(await run_view(service, run.id))


@routes.post(f"/runs/{RUN_ID}/cancel")
async def cancel_run(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run = await service.cancel(request.match_info["run_id"])
    return json_response(await run_view(service, run.id))


@routes.get(f"/runs/{RUN_ID}/tasks")
async def list_tasks(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run_id = request.match_info["run_id"]
    await require_run(service, run_id)
    async with service.store.transaction() as tx:
        tasks = await tx.list_tasks(run_id)
    return json_response([TaskView.of(task) for task in tasks])


@routes.get(f"/runs/{RUN_ID}/calls")
async def list_calls(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run_id = request.match_info["run_id"]
    await require_run(service, run_id)
    async with service.store.transaction() as tx:
        calls = await tx.list_llm_calls(run_id)
    return json_response([CallView.of(call) for call in calls])


@routes.get(f"/runs/{RUN_ID}/events")
async def list_events(request: web.Request) -> web.Response:
    query = query_model(request, EventsQuery)
    service = request.app[SERVICE]
    run_id = request.match_info["run_id"]
    await require_run(service, run_id)
    async with service.store.transaction() as tx:
        events = await tx.events_after(run_id, query.after, query.limit)
    return json_response([EventView.of(event) for event in events])


@routes.get(f"/runs/{RUN_ID}/artifacts")
async def list_artifacts(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run_id = request.match_info["run_id"]
    await require_run(service, run_id)
    async with service.store.transaction() as tx:
        artifacts = await tx.list_artifacts(run_id)
    return json_response(
        [
            ArtifactSummary(
                name=artifact.name,
                content_type=artifact.content_type,
                size_bytes=len(artifact.content.encode()),
                created_at=artifact.created_at,
            )
            for artifact in artifacts
        ]
    )


@routes.get(f"/runs/{RUN_ID}/artifacts/{ARTIFACT_NAME}")
async def show_artifact(request: web.Request) -> web.Response:
    """The artifact's content as it is (Markdown or JSON), with its content type."""
    service = request.app[SERVICE]
    run_id, name = request.match_info["run_id"], request.match_info["name"]
    await require_run(service, run_id)
    async with service.store.transaction() as tx:
        artifact = await tx.get_artifact(run_id, name)
    if artifact is None:
        raise NotFound(f"run {run_id} has no artifact {name!r}")
    return web.Response(text=artifact.content, content_type=artifact.content_type, charset="utf-8")
