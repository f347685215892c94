"""Edits against whole-file rewrites: output tokens per modifying task of a repository run, same plan.

Runs the same repository run twice on the simulator, once with its scripted model changing existing files by
search/replace edits (what masterplan's prompts ask for) and once rewriting each changed file whole
(``masterplan sim --edit-style rewrite``). The plan, the map and the new files are the same in both runs;
only how existing files are changed differs. For each task that changes an existing file it prints the
output tokens of its answer both ways, then the totals, and the repository map's size and build time.
Checks are off (the answers are what is measured; the tests of both runs pass in the test suite).

    .venv/bin/python bench/bench_repository_edits.py                      # a copy of masterplan's repository
    .venv/bin/python bench/bench_repository_edits.py --repository tests/repository/sample_repo
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from masterplan.config import Settings
from masterplan.models import LLMCallRecord, RepositoryRef, RunOptions, RunRequest, TaskState
from masterplan.repository.map import build_repository_map
from masterplan.service.assembly import open_service
from masterplan.sim import SimConfig, running_simulator

ROOT = Path(__file__).resolve().parents[1]
REQUEST = "Add a summary of a repository map"
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgSign=false"]


def copy_repository(source: Path, target: Path) -> Path:
    """A committed copy: a clone of a git repository, or a directory committed as a new one."""
    if (source / ".git").exists():
        subprocess.run(["git", "clone", "-q", str(source), str(target)], check=True)
    else:
        shutil.copytree(source, target)
        subprocess.run([*GIT, "init", "-q"], cwd=target, check=True)
        subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
        subprocess.run([*GIT, "commit", "-q", "-m", "base"], cwd=target, check=True)
    return target


async def one_run(
    repository: Path, work: Path, style: str, request: str, tasks: int
) -> tuple[list[TaskState], list[LLMCallRecord]]:
    async with running_simulator(SimConfig(port=0, tier="none", latency="none", edit_style=style)) as sim:
        settings = Settings(
            anthropic_api_key="sim-key",
            anthropic_base_url=sim.base_url,
            database_url=f"sqlite://{work / 'masterplan.db'}",
            workspace_root=work / "workspaces",
            rate_limit_tier="none",
        )
        options = RunOptions(
            tasks=tasks, auto_answer=True, approval="auto", checks=[], repository=RepositoryRef(path=str(repository))
        )
        async with open_service(settings) as service:
            run = await service.create(RunRequest(request=request, options=options), local=True)
            run = await service.wait(run.id)
            if not run.status.is_terminal or run.status.value != "completed":
                raise SystemExit(f"the {style} run ended {run.status}: {run.error}")
            async with service.store.transaction() as tx:
                return await tx.list_tasks(run.id), await tx.list_llm_calls(run.id)


def output_tokens(calls: list[LLMCallRecord]) -> dict[str, int]:
    """Output tokens of each task's answers (re-asks included)."""
    by_task: dict[str, int] = defaultdict(int)
    for call in calls:
        if call.phase == "task_execution" and call.task_id is not None:
            by_task[call.task_id] += call.output_tokens
    return by_task


def tracked_files(repository: Path) -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=repository, capture_output=True, text=True, check=True)
    return set(listed.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, default=ROOT, help="default: masterplan's own repository")
    parser.add_argument("--request", default=REQUEST)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--map-tokens", type=int, default=8_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-edits-") as scratch:
        base = copy_repository(args.repository.resolve(), Path(scratch) / "repos" / args.repository.resolve().name)
        started = time.perf_counter()
        built = build_repository_map(base, args.request, budget_tokens=args.map_tokens, name=base.name)
        map_seconds = time.perf_counter() - started
        existing = tracked_files(base)
        results = {}
        for style in ("edits", "rewrite"):
            work = Path(scratch) / style
            work.mkdir()
            results[style] = asyncio.run(one_run(base, work, style, args.request, args.tasks))
    tasks, edit_calls = results["edits"]
    _, rewrite_calls = results["rewrite"]
    edits, rewrites = output_tokens(edit_calls), output_tokens(rewrite_calls)
    print(f"repository {args.repository.resolve()} ({built.tracked} tracked files), request: {args.request}")
    print(
        f"map: {built.tokens} tokens at a {args.map_tokens}-token budget, {built.detailed} files in detail, "
        f"{built.summarised} by directory; built in {map_seconds * 1000:.0f} ms"
    )
    print(f"  {'task':6s} {'existing files changed':44s} {'edits':>7s} {'rewrite':>8s} {'rewrite/edits':>13s}")
    total_edits = total_rewrites = 0
    for task in tasks:
        changed = [path for path in task.definition.files if path in existing]
        if not changed:
            continue
        ours, theirs = edits[task.task_id], rewrites[task.task_id]
        total_edits, total_rewrites = total_edits + ours, total_rewrites + theirs
        shown = ", ".join(changed)[:44]
        print(f"  {task.task_id:6s} {shown:44s} {ours:7d} {theirs:8d} {theirs / ours:12.1f}x")
    if total_edits:
        print(
            f"  modifying tasks: {total_edits} output tokens with edits, {total_rewrites} with rewrites "
            f"({total_rewrites / total_edits:.1f}x); the whole run's task answers: {sum(edits.values())} against "
            f"{sum(rewrites.values())}"
        )


if __name__ == "__main__":
    sys.exit(main())
