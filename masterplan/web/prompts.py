"""Role prompts: list the newest versions, store an edited text as a new version."""

from __future__ import annotations

from aiohttp import web

from masterplan.web.inputs import PROMPT_NAME, PromptUpdate
from masterplan.web.keys import SERVICE
from masterplan.web.responses import json_response, read_model
from masterplan.web.schemas import PromptView

routes = web.RouteTableDef()


@routes.get("/prompts")
async def list_prompts(request: web.Request) -> web.Response:
    async with request.app[SERVICE].store.transaction() as tx:
        prompts = await tx.list_prompts()
    return json_response([PromptView.of(prompt) for prompt in prompts])


@routes.put(f"/prompts/{PROMPT_NAME}")
async def put_prompt(request: web.Request) -> web.Response:
    """201 with the new version; 200 when the text equals the newest version (nothing changes).

    Only prompts the phases use can be edited (404 otherwise), so a typo cannot
    create a prompt nothing reads. Runs already going keep the version they pinned.
    """
    body = await read_model(request, PromptUpdate)
    name = request.match_info["name"]
    async with request.app[SERVICE].store.transaction() as tx:
        await tx.get_prompt(name)
        prompt, created = await tx.put_prompt(name, body.body)
    return json_response(PromptView.of(prompt), status=201 if created else 200)
