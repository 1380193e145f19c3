"""What ``--html`` and ``--csv`` add to a command: wall time of fresh processes with and without.

Each run is a new ``python -m planner`` process; the HTML run pays for importing
matplotlib and Jinja2, drawing every chart and rendering the page; the CSV run builds the
same tables without drawing (it imports neither). Target: a report adds under 3 s.

Run:  .venv/bin/python benchmarks/bench_report.py [--write] [--repeat N]
(--write records the table in benchmarks/results/report-speed.md)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "report-speed.md"
TARGET_S = 3.0


def run_once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "planner", *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    commands = [
        (["fit", str(p.relative_to(ROOT))], p.name) for p in sorted((ROOT / "examples").glob("*.yaml"))
    ]
    commands.append((["predict", "--kernel", "debian12-cloud-amd64", "--memory", "128MiB"], "predict 128MiB"))
    lines = [
        "# Report speed: what `--html` and `--csv` add",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_report.py --write --repeat {args.repeat}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average at start {os.getloadavg()[0]:.2f} (other work shares these CPUs)",
        f"Target: the HTML report adds under {TARGET_S} s (medians of fresh processes).",
        "",
        "| command | plain s | --csv s | --html s | html adds s | HTML KiB | target met |",
        "|---|---|---|---|---|---|---|",
    ]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for base, label in commands:
            html = Path(tmp) / "r.html"
            plain = statistics.median(run_once(base) for _ in range(args.repeat))
            csv = statistics.median(
                run_once([*base, "--csv", str(Path(tmp) / "csv")]) for _ in range(args.repeat)
            )
            rich = statistics.median(run_once([*base, "--html", str(html)]) for _ in range(args.repeat))
            added = rich - plain
            met = added < TARGET_S
            ok &= met
            lines.append(
                f"| {label} | {plain:.2f} | {csv:.2f} | {rich:.2f} | {added:.2f} | "
                f"{html.stat().st_size / 1024:.0f} | {'yes' if met else 'no'} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
