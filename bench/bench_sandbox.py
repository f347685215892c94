"""What the sandbox costs per check: a small project's pytest with and without bubblewrap.

Writes a project of a few modules and test files (the size of a generated task's), then runs the
default check (``python -m pytest -q -p no:cacheprovider``) through ``run_checks`` alternately
unconfined and in the sandbox, and prints the median and mean wall time of each and the difference.
The sandbox's first probe is timed on its own.

    .venv/bin/python bench/bench_sandbox.py              # 7 repeats each
    .venv/bin/python bench/bench_sandbox.py --repeats 15
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from masterplan.executor.checks import DEFAULT_CHECKS, run_checks
from masterplan.executor.sandbox import Sandbox, SandboxPolicy

MODULES = 4


def write_project(root: Path) -> None:
    (root / "app").mkdir()
    (root / "tests").mkdir()
    (root / "app" / "__init__.py").write_text("")
    for index in range(MODULES):
        (root / "app" / f"entity{index}.py").write_text(
            f"class Entity{index}:\n    def __init__(self, name: str) -> None:\n        self.name = name\n\n"
            f"    def rename(self, name: str) -> 'Entity{index}':\n        return Entity{index}(name)\n"
        )
        (root / "tests" / f"test_entity{index}.py").write_text(
            f"from app.entity{index} import Entity{index}\n\n"
            f"def test_rename():\n    assert Entity{index}('a').rename('b').name == 'b'\n\n"
            f"def test_name():\n    assert Entity{index}('a').name == 'a'\n"
        )


async def timed_check(project: Path, sandbox: Sandbox) -> float:
    started = time.perf_counter()
    [result] = await run_checks(DEFAULT_CHECKS, project, timeout_s=120, sandbox=sandbox)
    elapsed = time.perf_counter() - started
    if not result.passed:
        raise SystemExit(f"the check failed:\n{result.output}")
    return elapsed


async def main(repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="masterplan-bench-sandbox-", dir="/var/tmp") as directory:
        project = Path(directory)
        write_project(project)
        sandbox = Sandbox(SandboxPolicy(mode="required"))
        started = time.perf_counter()
        status = await sandbox.require()
        probe_s = time.perf_counter() - started
        unconfined = Sandbox.off()
        await timed_check(project, unconfined)  # warm the page cache for both
        plain: list[float] = []
        confined: list[float] = []
        for _ in range(repeats):
            plain.append(await timed_check(project, unconfined))
            confined.append(await timed_check(project, sandbox))
    print(f"sandbox: {status.describe()}")
    print(f"first probe: {probe_s * 1000:.0f} ms (once per process)")
    print(f"pytest of a {MODULES * 2}-test project, {repeats} runs each:")
    for name, times in (("unconfined", plain), ("sandboxed", confined)):
        median, mean = statistics.median(times) * 1000, statistics.mean(times) * 1000
        print(f"  {name:<11} median {median:6.0f} ms   mean {mean:6.0f} ms   min {min(times) * 1000:6.0f} ms")
    overhead = statistics.median(confined) - statistics.median(plain)
    print(f"  overhead    median {overhead * 1000:+6.0f} ms per check ({overhead / statistics.median(plain):+.1%})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each variant")
    asyncio.run(main(parser.parse_args().repeats))
