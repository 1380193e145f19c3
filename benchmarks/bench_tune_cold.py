"""Cold start: wall time of `planner tune TARGET` in a fresh process.

Each run is a new ``python -m planner tune`` process: interpreter start, imports (typer,
pydantic, yaml, numpy, scipy.optimize), the profile or host file, the kernel model for every
candidate, and one ``planner fit`` packing per candidate and per recommendation (a host file:
per kernel, then all at once), text output. Targets: a guest profile under 1.5 s (as
``planner fit``), a host file under 3 s; the 1 TiB example is listed without a target: its
all-tuned packing is an integer program HiGHS needs seconds to prove optimal (gap 0, as fit).

Run:  .venv/bin/python benchmarks/bench_tune_cold.py [--write] [--repeat N]
(--write records the table in benchmarks/results/tune-cold.md)
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
RESULTS = ROOT / "benchmarks" / "results" / "tune-cold.md"
#: (target, what it is, wall-time target in s or None)
CASES: list[tuple[str, str, float | None]] = [
    ("kvm-cloud-128mib", "guest profile, default host", 1.5),
    ("kvm-web-auto", "guest profile, memory: auto", 1.5),
    ("kvm-s390x-64mib", "guest profile, s390x LPAR", 1.5),
    ("examples/kvm-two-nodes.yaml", "host file: host kernel + 4 guests", 3.0),
    ("examples/xen-host.yaml", "host file: 2 guests (Xen)", 3.0),
    ("examples/one-tib-eight-nodes.yaml", "host file: 1 TiB, 8 nodes", None),
]


def run_once(target: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "planner", "tune", target], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = [
        "# `planner tune` cold start",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_tune_cold.py --write --repeat {args.repeat}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average at start {os.getloadavg()[0]:.2f} (other work shares these CPUs); "
        f"{time.strftime('%Y-%m-%d')}",
        "Wall time from a fresh process to exit (text output).",
        "",
        "| target | what | runs | median s | min s | max s | target s | met (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    for target, what, limit in CASES:
        times = [run_once(target) for _ in range(args.repeat)]
        median = statistics.median(times)
        met = "-" if limit is None else "yes" if median < limit else "NO"
        ok &= met != "NO"
        lines.append(
            f"| `{target}` | {what} | {len(times)} | {median:.2f} | {min(times):.2f} | {max(times):.2f} "
            f"| {limit if limit is not None else '-'} | {met} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_atomic(RESULTS, text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
