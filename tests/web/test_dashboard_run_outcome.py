"""The dashboard shows a run that ended with failed and skipped tasks as such, in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright

from masterplan.config import Settings
from masterplan.models import RunOptions, RunRequest
from masterplan.sim import SimConfig, running_simulator
from masterplan.web.app import create_app, running_app
from masterplan.web.keys import SERVICE

from .test_dashboard import CHROMIUM, CHROMIUM_ARGS, REQUEST, RUN_TIMEOUT_MS

REFUSE_BASE_PY = (
    "python -c \"import pathlib, sys; sys.exit(any(p.name == 'base.py' for p in pathlib.Path('.').rglob('*.py')))\""
)
"""Fails while a file named base.py exists: T03 of the simulator's six-task plan fails, T05 and T06 are skipped."""
COLOR = "selector => getComputedStyle(document.querySelector(selector)).color"


async def test_a_run_completed_with_failures_gets_its_own_badge_and_its_stream_ends(tmp_path: Path) -> None:
    async with running_simulator(SimConfig(port=0, tier="none", latency="none")) as sim:
        app = create_app(
            Settings(
                anthropic_api_key="sim-key",
                anthropic_base_url=sim.base_url,
                database_url=f"sqlite://{tmp_path / 'masterplan.db'}",
                workspace_root=tmp_path / "workspaces",
                rate_limit_tier="none",
            )
        )
        async with running_app(app, host="127.0.0.1", port=0) as base_url, async_playwright() as playwright:
            service = app[SERVICE]
            options = RunOptions(
                tasks=6, auto_answer=True, approval="auto", checks=["python -m compileall -q .", REFUSE_BASE_PY]
            )
            run = await service.wait((await service.create(RunRequest(request=REQUEST, options=options))).id)
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = await browser.new_page()
                page.set_default_timeout(RUN_TIMEOUT_MS)
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(f"{base_url}/#run={run.id}")
                await page.wait_for_selector('#run-status[data-status="completed_with_failures"]')
                assert await page.inner_text("#run-status") == "completed with failures"
                await page.wait_for_selector(f'#runs li[data-run-id="{run.id}"] .badge')
                assert await page.inner_text(f'#runs li[data-run-id="{run.id}"] .badge') == "completed with failures"
                await page.wait_for_selector('#stream-status[data-state="closed"]')
                assert await page.inner_text("#stream-status") == "run ended"

                await page.wait_for_selector('#tasks tr[data-task-id="T05"][data-status="skipped"]')
                shown = await page.evaluate(COLOR, "#run-status")
                assert shown == await page.evaluate(COLOR, '#tasks tr[data-task-id="T05"] .badge')  # the warning colour
                assert shown != await page.evaluate(COLOR, '#tasks tr[data-task-id="T01"] .badge')  # not completed's
                assert errors == []
            finally:
                await browser.close()
