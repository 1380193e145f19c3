"""Wall time of `planner calibrate` on 30 logs and of `planner predict` from a cold start.

Targets (issue 2): calibrate on 30 logs in under 2 s; predict under 0.5 s wall from
a cold start. Each command runs in a fresh process (the console script), 5 times;
the median is reported.

Run:  .venv/bin/python benchmarks/bench_kernel_speed.py [--write]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLANNER = str(Path(sys.executable).parent / "planner")
RUNS = 5


def timed(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the results in benchmarks/results/")
    args = parser.parse_args()
    cloud = sorted((ROOT / "tests/data/bootlab/cloud-amd64").glob("*MiB-*.log")) + sorted(
        (ROOT / "tests/data/bootlab/cloud-amd64").glob("*GiB-*.log")
    )
    usable = [p for p in cloud if "Memory:" in p.read_text(errors="replace")]
    logs = [str(p) for p in itertools.islice(itertools.cycle(usable), 30)]
    with tempfile.TemporaryDirectory() as tmp:
        calib_s = timed([PLANNER, "calibrate", *logs, "--name", "bench", "-o", os.path.join(tmp, "c.yaml")])
    predict_s = timed([PLANNER, "predict", "--kernel", "debian12-cloud-amd64", "--memory", "512MiB"])
    predict_json_s = timed([PLANNER, "predict", "--kernel", "debian12-s390x", "--memory", "64MiB", "--json"])
    lines = [
        "# Kernel model speed",
        "",
        "Made by `.venv/bin/python benchmarks/bench_kernel_speed.py --write` on "
        f"{time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; median of {RUNS} "
        "fresh processes (console script, wall time).",
        "",
        "| command | median wall s | target |",
        "|---|---|---|",
        f"| `planner calibrate` 30 logs ({len(usable)} distinct cloud-amd64 boots, cycled) "
        f"| {calib_s:.2f} | < 2 |",
        f"| `planner predict --memory 512MiB` (cold start) | {predict_s:.2f} | < 0.5 |",
        f"| `planner predict --memory 64MiB --json` (s390x, cold start) | {predict_json_s:.2f} | < 0.5 |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        (ROOT / "benchmarks/results/kernel-speed.md").write_text(text + "\n")
    return 0 if calib_s < 2 and predict_s < 0.5 and predict_json_s < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
