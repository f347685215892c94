"""The repository map of masterplan's own repository: its size and build time at several budgets.

Builds the map (git ls-files, every tracked Python file parsed with ``ast``, ranking, rendering) of the
repository this file is in, for one request, at each budget, and prints per budget the map's tokens, the
files shown in detail and summarised by directory, and the median build time of ``--repeat`` builds. The
budget ``none`` shows every file in detail: the size of the whole outline.

    .venv/bin/python bench/bench_repository_map.py
    .venv/bin/python bench/bench_repository_map.py --repeat 3 --request "add a retry budget to the gateway"
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from masterplan.repository.map import RepositoryMap, build_repository_map

ROOT = Path(__file__).resolve().parents[1]
UNBOUNDED = 10**9


def timed(root: Path, request: str, budget: int, repeat: int) -> tuple[RepositoryMap, float]:
    seconds = []
    built = None
    for _ in range(repeat):
        started = time.perf_counter()
        built = build_repository_map(root, request, budget_tokens=budget)
        seconds.append(time.perf_counter() - started)
    assert built is not None
    return built, statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--request", default="make the rate limiter share its buckets between replicas")
    parser.add_argument("--budgets", default="2000,4000,8000,16000,none")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"repository map of {args.root} ({args.repeat} builds each, median time)")
    print(f"request: {args.request}")
    print(f"  {'budget':>8s} {'tokens':>7s} {'detailed':>8s} {'summarised':>10s} {'tracked':>7s} {'build':>8s}")
    for budget_text in args.budgets.split(","):
        budget = UNBOUNDED if budget_text == "none" else int(budget_text)
        built, seconds = timed(args.root, args.request, budget, args.repeat)
        print(
            f"  {budget_text:>8s} {built.tokens:7d} {built.detailed:8d} {built.summarised:10d} "
            f"{built.tracked:7d} {seconds * 1000:6.0f} ms"
        )
    print(f"  left out of the map: {built.left_out}; test command: {built.test_command}")


if __name__ == "__main__":
    sys.exit(main())
