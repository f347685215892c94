"""The dashboard page in a real headless Chromium, against the real app, service and simulator.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright; the app listens on an ephemeral port
on 127.0.0.1, the anthropic SDK talks to the in-process simulator over HTTP, the store is SQLite in
tmp_path. The simulator answers with a small fraction of its realistic latency, so a run lasts a few
seconds and the page can be seen filling its task table while the run goes on.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson
from playwright.async_api import Page, WebSocketRoute, async_playwright

from masterplan.config import Settings
from masterplan.sim import SimConfig, running_simulator
from masterplan.web.app import create_app, running_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUEST = "A task-tracking API with users, projects and comments"
SIM_LATENCY = 0.01
"""A hundredth of the realistic latency: a twelve-task run takes some ten seconds."""
RUN_TIMEOUT_MS = 120_000
TOKEN = "s3cret-dashboard-token"


@dataclass(frozen=True)
class Dashboard:
    page: Page
    base_url: str

    async def api(self, path: str) -> Any:
        """GET an API path the way a script would, to compare with what the page shows."""
        async with aiohttp.ClientSession() as session, session.get(self.base_url + path) as response:
            assert response.status == 200, await response.text()
            return orjson.loads(await response.read())

    async def start_run(self, *, tasks: int, auto_answer: bool, auto_approve: bool = True) -> str:
        """Fills and sends the page's start form; the id of the run the page then shows."""
        await self.page.fill("#request", REQUEST)
        await self.page.fill("#tasks-count", str(tasks))
        await self.page.set_checked("#auto-answer", auto_answer)
        await self.page.set_checked("#auto-approve", auto_approve)
        await self.page.click("#start-form button[type=submit]")
        await self.page.wait_for_url(re.compile(r"#run=\w+"))
        return self.page.url.rsplit("#run=", 1)[1]


@asynccontextmanager
async def dashboard(tmp_path: Path, **settings: Any) -> AsyncIterator[Dashboard]:
    """Simulator, app and a fresh Chromium profile; the page is not opened yet."""
    async with running_simulator(SimConfig(port=0, tier="none", latency=SIM_LATENCY)) as sim:
        app = create_app(
            Settings(
                anthropic_api_key="sim-key",
                anthropic_base_url=sim.base_url,
                database_url=f"sqlite://{tmp_path / 'masterplan.db'}",
                workspace_root=tmp_path / "workspaces",
                rate_limit_tier="none",
                **settings,
            )
        )
        async with running_app(app, host="127.0.0.1", port=0) as base_url, async_playwright() as playwright:
            browser = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1280, "height": 900},
            )
            try:
                page = browser.pages[0] if browser.pages else await browser.new_page()
                page.set_default_timeout(RUN_TIMEOUT_MS)
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                yield Dashboard(page, base_url)
                assert errors == [], f"the page raised: {errors}"
            finally:
                await browser.close()


async def row_statuses(page: Page) -> list[str]:
    statuses: list[str] = await page.eval_on_selector_all(
        "#tasks tbody tr[data-task-id]", "rows => rows.map(row => row.dataset.status)"
    )
    return statuses


async def total(page: Page, name: str) -> str:
    return await page.inner_text(f'#totals [data-total="{name}"]')


async def logged_seqs(page: Page) -> list[int]:
    seqs: list[int] = await page.eval_on_selector_all(
        "#events li[data-seq]", "items => items.map(item => Number(item.dataset.seq))"
    )
    return seqs


DISPLAY_ROUNDING_USD = 0.00005 + 1e-12
"""The page shows dollars with four decimals: what it shows is within this of the exact amount."""

SHOWS_DOLLARS = """([selector, expected]) => {
  const shown = Number(document.querySelector(selector).textContent.replace('$', ''));
  return Math.abs(shown - expected) <= 0.00005 + 1e-12;
}"""


def dollars(text: str) -> float:
    return float(text.removeprefix("$"))


SOME_BUT_NOT_ALL_COMPLETED = """() => {
  const rows = [...document.querySelectorAll('#tasks tbody tr[data-task-id]')];
  const done = rows.filter(row => row.dataset.status === 'completed').length;
  return rows.length > 0 && done > 0 && done < rows.length;
}"""

ALL_COMPLETED = """count => {
  const rows = [...document.querySelectorAll('#tasks tbody tr[data-task-id]')];
  return rows.length === count && rows.every(row => row.dataset.status === 'completed');
}"""


async def test_a_run_started_in_the_page_fills_its_task_table_live(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as board:
        page = board.page
        await page.goto(board.base_url + "/")
        run_id = await board.start_run(tasks=12, auto_answer=True)

        await page.wait_for_selector(f'#runs li[data-run-id="{run_id}"]')
        await page.wait_for_function(SOME_BUT_NOT_ALL_COMPLETED, polling=50)
        midway = await row_statuses(page)
        assert len(midway) == 12
        assert 0 < midway.count("completed") < 12
        assert await page.get_attribute("#stream-status", "data-state") == "open"
        assert await page.get_attribute("#run-status", "data-status") == "executing"
        await page.screenshot(path=str(tmp_path / "dashboard-midway.png"), full_page=True)

        await page.wait_for_function(ALL_COMPLETED, arg=12)
        await page.wait_for_selector('#run-status[data-status="completed"]')
        await page.wait_for_selector(f'#runs li[data-run-id="{run_id}"][data-status="completed"]')

        run = await board.api(f"/runs/{run_id}")
        await page.wait_for_function(SHOWS_DOLLARS, arg=["#totals [data-total='cost']", run["cost_usd"]])
        assert run["cost_usd"] > 0
        share = await total(page, "cache-read-share")
        assert abs(float(share.removesuffix("%")) - 100 * run["cache_read_share"]) <= 0.05 + 1e-9
        assert float(share.removesuffix("%")) > 0
        assert await total(page, "tasks") == "12 / 12"
        assert await total(page, "cache_read_tokens") == f"{run['usage']['cache_read_tokens']:,}"

        tasks = await board.api(f"/runs/{run_id}/tasks")
        for task in tasks:
            row = page.locator(f'#tasks tr[data-task-id="{task["task_id"]}"]')
            cells = await row.locator("td").all_inner_texts()
            assert cells[:5] == [task["task_id"], task["title"], "completed", task["model"], str(task["attempts"])]
            assert abs(dollars(cells[5]) - task["cost_usd"]) <= DISPLAY_ROUNDING_USD

        events = await board.api(f"/runs/{run_id}/events")
        seqs = await logged_seqs(page)
        assert seqs == [event["seq"] for event in events]
        assert await page.get_attribute("#events li:last-child", "data-type") == "run.status"
        assert await page.locator('#events li[data-type="llm.call"]').count() > 12
        await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        await page.reload()
        await page.wait_for_function(ALL_COMPLETED, arg=12)
        await page.wait_for_selector('#stream-status[data-state="closed"]')
        assert await logged_seqs(page) == [event["seq"] for event in events]
        assert await page.inner_text("#stream-status") == "run ended"


async def test_a_dropped_socket_resumes_after_the_last_event_without_gaps_or_repeats(tmp_path: Path) -> None:
    socket_urls: list[str] = []
    dropped_after: list[int] = []

    async def drop_the_first_socket_after_the_plan(route: WebSocketRoute) -> None:
        socket_urls.append(route.url)
        server = route.connect_to_server()
        if len(socket_urls) > 1:
            return

        async def forward(message: str | bytes) -> None:
            if dropped_after:
                return
            route.send(message)
            event = orjson.loads(message)
            if event["type"] == "plan.completed":
                dropped_after.append(event["seq"])
                await route.close(code=4008, reason="too slow")
                await server.close()

        server.on_message(forward)

    async with dashboard(tmp_path) as board:
        page = board.page
        await page.route_web_socket(re.compile(r"/runs/\w+/ws"), drop_the_first_socket_after_the_plan)
        await page.goto(board.base_url + "/")
        run_id = await board.start_run(tasks=4, auto_answer=True)
        await page.wait_for_function(ALL_COMPLETED, arg=4)
        await page.wait_for_selector('#run-status[data-status="completed"]')

        events = await board.api(f"/runs/{run_id}/events")
        plan_seq = next(event["seq"] for event in events if event["type"] == "plan.completed")
        assert len(socket_urls) >= 2
        assert parse_qs(urlsplit(socket_urls[0]).query)["after"] == ["0"]
        assert dropped_after == [plan_seq]
        assert parse_qs(urlsplit(socket_urls[1]).query)["after"] == [str(plan_seq)]
        assert await logged_seqs(page) == [event["seq"] for event in events]
        assert await page.locator("#events li.note").count() == 1


async def test_discovery_questions_are_answered_in_the_page_and_the_run_goes_on(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as board:
        page = board.page
        await page.goto(board.base_url + "/")
        run_id = await board.start_run(tasks=2, auto_answer=False)

        await page.wait_for_selector('#run-status[data-status="awaiting_answers"]')
        form = page.locator("#answer-form")
        await form.wait_for(state="visible")
        run = await board.api(f"/runs/{run_id}")
        questions = run["questions"]
        assert await form.locator("textarea").count() == len(questions)
        for question in questions:
            assert await form.get_by_label(question["question"]).count() == 1
        first = questions[0]
        await form.get_by_label(first["question"]).fill("PostgreSQL, please")
        await form.locator("button[type=submit]").click()

        await page.wait_for_function(ALL_COMPLETED, arg=2)
        await page.wait_for_selector('#run-status[data-status="completed"]')
        assert await page.locator("#questions").is_hidden()
        answers = await page.locator('#events li[data-type="discovery.answers"]').count()
        assert answers == 1
        run = await board.api(f"/runs/{run_id}")
        assert run["status"] == "completed"


async def test_a_server_with_a_token_gets_it_from_the_page_once_and_lists_the_runs(tmp_path: Path) -> None:
    async with dashboard(tmp_path, api_token=TOKEN) as board:
        page = board.page
        await page.goto(board.base_url + "/")
        await page.locator("#auth").wait_for(state="visible")
        assert "requires an access token" in await page.inner_text("#notice")

        await page.fill("#token", "not-the-token")
        await page.click("#token-form button[type=submit]")
        await page.locator("#auth").wait_for(state="visible")
        assert "refused the token" in await page.inner_text("#notice")

        await page.fill("#token", TOKEN)
        await page.click("#token-form button[type=submit]")
        await page.locator("#auth").wait_for(state="hidden")
        run_id = await board.start_run(tasks=2, auto_answer=True)
        await page.wait_for_function(ALL_COMPLETED, arg=2)
        await page.wait_for_selector(f'#runs li[data-run-id="{run_id}"]')
        assert await page.get_attribute("#stream-status", "data-state") in {"open", "closed"}
