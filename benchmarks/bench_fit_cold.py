"""Cold start: wall time of `planner fit examples/X.yaml` in a fresh process (target: under 1.5 s).

Each run is a new ``python -m planner fit`` process (interpreter start, imports of typer,
pydantic, yaml, numpy and scipy.optimize, profile and calibration loading, kernel model,
solve, text output), timed from spawn to exit.

Run:  .venv/bin/python benchmarks/bench_fit_cold.py [--write] [--repeat N]
(--write records the table in benchmarks/results/fit-cold.md)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from planner.files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fit-cold.md"
TARGET_S = 1.5


def run_once(example: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "planner", "fit", str(example)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = [
        "# `planner fit` cold start",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_fit_cold.py --write --repeat {args.repeat}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average at start {os.getloadavg()[0]:.2f} (other work shares these CPUs)",
        f"Target: under {TARGET_S} s wall from a fresh process.",
        "",
        "| example | runs | median s | min s | max s | target met (median) |",
        "|---|---|---|---|---|---|",
    ]
    ok = True
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        times = [run_once(example) for _ in range(args.repeat)]
        median = statistics.median(times)
        met = median < TARGET_S
        ok &= met
        lines.append(
            f"| {example.name} | {len(times)} | {median:.2f} | {min(times):.2f} | {max(times):.2f} "
            f"| {'yes' if met else 'NO'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(RESULTS, text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
