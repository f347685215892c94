"""The plan review in the page, in real Chromium: the priced plan drawn as a graph with its forecast table,
an edit re-priced, the budget flag, Approve; then the graph coloured live and cost drawn against the forecast."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from masterplan.config import Settings

from .test_dashboard import dashboard
from .web_helpers import run_body

GRAPH_ALL_COMPLETED = """count => {
  const statuses = JSON.parse(document.querySelector('#plan-graph').dataset.statuses || '{}');
  const values = Object.values(statuses);
  return values.length === count && values.every(status => status === 'completed');
}"""


async def test_the_plan_is_reviewed_edited_and_approved_in_the_page(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as board:
        page = board.page
        await page.goto(board.base_url + "/")
        run_id = await board.start_run(tasks=4, auto_answer=True, auto_approve=False)

        await page.wait_for_selector("#approve-plan", state="visible")
        view = await board.api(f"/runs/{run_id}/plan")
        tasks = view["plan"]["tasks"]
        assert await page.locator("#forecast-table tbody tr").count() == len(tasks)
        assert await page.get_attribute("#plan-graph", "data-nodes") == str(len(tasks))
        edges = sum(len(task["depends_on"]) for task in tasks)
        assert await page.get_attribute("#plan-graph", "data-edges") == str(edges)
        expected = float(view["forecast"]["cost"]["expected_usd"])
        assert f"${expected:.4f}" in await page.inner_text("#forecast-totals")
        assert await page.is_hidden("#plan-over-budget")
        await page.screenshot(path=str(tmp_path / "plan-review.png"), full_page=True)

        low = next(task for task in tasks if task["complexity"] != "high")
        row = page.locator(f'#forecast-table tr[data-task-id="{low["task_id"]}"]')
        await row.locator("select").select_option("high")
        await page.wait_for_function(  # re-priced on the strong model a high-complexity task is routed to
            "([id, model]) => document.querySelector(`#forecast-table tr[data-task-id='${id}']`)"
            ".textContent.includes(model)",
            arg=[low["task_id"], Settings().strong_model],
        )
        edited = await board.api(f"/runs/{run_id}/plan")
        assert next(t for t in edited["plan"]["tasks"] if t["task_id"] == low["task_id"])["complexity"] == "high"

        await page.click("#approve-plan")
        await page.wait_for_selector('#run-status[data-status="completed"]')
        await page.wait_for_function(GRAPH_ALL_COMPLETED, arg=len(tasks))
        assert await page.is_hidden("#plan-review")
        assert await page.is_visible("#cost-chart")
        compared = (await board.api(f"/runs/{run_id}"))["forecast_vs_actual"]["cost"]
        await page.wait_for_function(  # the forecast beside the actual, once the run has ended
            "([sign, position]) => { const text = document.querySelector('[data-total=\"forecast\"]').textContent;"
            " return text.includes(`forecast, ${sign}`) && text.endsWith(`(${position} the range)`); }",
            arg=["+" if compared["error"] >= 0 else "-", compared["position"]],
        )
        logged = {
            kind: await page.locator(f'#events li[data-type="{kind}"]').last.inner_text()
            for kind in ("plan.forecast", "plan.edited", "plan.approved", "forecast.compared")
        }
        assert "by http" in logged["plan.approved"]
        assert re.search(r"\$\d+\.\d{4} \(\$\d+\.\d{4}–\$\d+\.\d{4}\)", logged["plan.forecast"])  # cost, range
        assert "by http" in logged["plan.edited"]
        assert f"{compared['position']} the range" in logged["forecast.compared"]
        events = await board.api(f"/runs/{run_id}/events")
        approved = [event for event in events if event["type"] == "plan.approved"]
        assert approved[0]["data"]["by"] == "http"
        await page.screenshot(path=str(tmp_path / "plan-executed.png"), full_page=True)


async def test_a_plan_over_budget_is_flagged_in_the_page(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as board:
        page = board.page
        async with aiohttp.ClientSession() as http:
            body = run_body(8, approval="manual", budget_usd=0.3)
            async with http.post(board.base_url + "/runs", json=body) as response:
                run_id = (await response.json())["id"]
        await page.goto(f"{board.base_url}/#run={run_id}")
        flag = await page.wait_for_selector("#plan-over-budget", state="visible")
        text = await flag.inner_text()
        assert text.startswith("Over budget:")
        assert "over the run's budget" in text
