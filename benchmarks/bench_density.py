"""Guest density in a memory-capped cgroup against fit's counts (issue 14 item 3).

Each case is one ``planner density`` run (qemu TCG, Debian 6.1 cloud kernel, idle guests,
held 60 s), made through the same workflow the command calls; the reference figures are the
issue's. Each run's result is saved as ``benchmarks/results/density/CASE.json`` (everything
``planner density --json`` prints, plus the machine) and ``CASE.txt`` (what the command
prints); ``--write`` then rebuilds ``benchmarks/results/density.md`` from every saved case.

Run:  .venv/bin/python benchmarks/bench_density.py [--case NAME ...] [--hold S] [--write]
(cases: 128-in-1536, 256-in-2048, 96-in-1024, 128-tmpfs32-in-1536; default all)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from planner.report.density import density_text
from planner.workflows.density import density_request, run_density_profile

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "density"
TABLE = ROOT / "benchmarks" / "results" / "density.md"
#: the hand-written part of density.md, kept when the table is rebuilt
NOTES = "\n## What the runs show\n"

#: name -> (profile, limit, --memory, --workload-tmpfs, the issue's reference count)
CASES: dict[str, tuple[str, str, str | None, str | None, int]] = {
    "128-in-1536": ("kvm-cloud-128mib", "1536MiB", None, None, 7),
    "256-in-2048": ("kvm-cloud-256mib", "2048MiB", None, None, 10),
    "96-in-1024": ("kvm-cloud-128mib", "1024MiB", "96MiB", None, 5),
    "128-tmpfs32-in-1536": ("kvm-cloud-128mib", "1536MiB", None, "32MiB", 7),
}


def command(name: str, hold_s: float) -> str:
    profile, limit, memory, tmpfs, _ = CASES[name]
    args = [f"planner density {profile} --limit {limit}"]
    args += [f"--memory {memory}"] if memory else []
    args += [f"--workload-tmpfs {tmpfs}"] if tmpfs else []
    return " ".join([*args, f"--hold {hold_s:g} --accel tcg"])


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next(line.split()[1] for line in meminfo if line.startswith("MemTotal:"))
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "mem_total_kib": int(mem),
        "host_kernel": platform.release(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def run_case(name: str, hold_s: float) -> None:
    profile, limit, memory, tmpfs, reference = CASES[name]
    request = density_request(
        profile, limit=limit, memory=memory, workload_tmpfs=tmpfs, hold_s=hold_s, accel="tcg",
        output=OUT / f"{name}-logs",
    )  # fmt: skip
    print(f"{name}: {command(name, hold_s)} (load average {os.getloadavg()[0]:.2f})", flush=True)
    result = run_density_profile(
        request, progress=lambda e: e.kind == "hold" or print(f"  {e.text}", flush=True)
    )
    doc = result.to_json() | {"case": name, "command": command(name, hold_s), "reference": reference}
    doc["machine"] = machine()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    (OUT / f"{name}.txt").write_text(density_text(result) + "\n")
    print(density_text(result), flush=True)


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def write_table() -> None:
    rows = []
    machines = set()
    for name in CASES:
        path = OUT / f"{name}.json"
        if not path.is_file():
            continue
        d = json.loads(path.read_text())
        run, fit, m = d["run"], d["fit"], d["measured"] or {}
        marginal = d["marginal_costs_kib"][1:] or d["marginal_costs_kib"]
        la = f"{run['load_average_start'][0]:.1f} -> {run['load_average_end'][0]:.1f}"
        rows.append(
            f"| `{d['command']}` | {d['reference']} | **{d['booted']}** | {run['stable_count']} | "
            f"{fit['guaranteed_count']} | "
            f"{fit['expected_count']} | {_mib(d['per_guest_cost_kib'])} | "
            f"{_mib(min(marginal)) if marginal else '-'}..{_mib(max(marginal)) if marginal else '-'} | "
            f"{_mib(fit['guaranteed_demand_kib'])} / {_mib(fit['expected_demand_kib'])} | "
            f"{_mib(m.get('rss_kib'))} / {_mib(m.get('guest_ram_kib'))} / "
            f"{_mib(m.get('beyond_guest_ram_kib'))} | "
            f"{_mib(m.get('file_rss_kib'))} / {_mib(fit.get('shared_kib'))} | "
            f"{run['stop_reason']} ({run['oom_kills']}) | {run.get('restarts', 0)} | {la} | "
            f"{run['wall_s']:.0f} s | "
            f"{d['machine']['date_utc']} |"
        )
        mc = d["machine"]
        machines.add(
            f"{mc['cpu']}, {mc['cpu_count']} cores, {mc['mem_total_kib'] // 1024} MiB, host kernel "
            f"{mc['host_kernel']}, cgroup v{run['cgroup_version']}, {d['lab']['qemu_version']}, guest "
            f"kernel {d['lab']['kernel']['package']} {d['lab']['kernel']['version']}"
        )
    head = (
        "| command | reference | booted | held before | guaranteed | expected | cost/guest MiB | "
        "marginal MiB | fit demand G / E MiB | RSS / guest RAM / beyond MiB | "
        "file pages: qemu / fit once MiB | stop (OOM kills) | started again | "
        "load avg | wall | date |"
    )
    text = [
        "# Guest density in a memory-capped cgroup",
        "",
        "Made by `.venv/bin/python benchmarks/bench_density.py [--case NAME] --write` (each row: the "
        "`planner density` command it equals); per-case JSON, text and console logs in "
        "`benchmarks/results/density/`. booted = guests up after the hold; held before = guests up before "
        "the guest whose boot made the OOM killer strike was started; guaranteed / expected = fit's "
        "counts for the same limit; cost/guest = cgroup usage at the last count that held / that count; "
        "RSS / guest RAM / beyond = qemu's VmRSS, its guest-RAM mapping's Rss, and the difference, "
        "means at that count; file pages = qemu's RssFile (binary and libraries, mean) and what fit "
        "counts of them once in the limit (the profile's shared_file_kib); started again = guests "
        "started after the stop in place of guests the OOM killer took beyond one. "
        "Goal: guaranteed <= booted always, expected = booted.",
        "",
        *(f"Machine: {m}." for m in sorted(machines)),
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
        *rows,
        "",
    ]
    kept = TABLE.read_text().split(NOTES, 1) if TABLE.is_file() else []
    notes = NOTES + kept[1] if len(kept) == 2 else ""
    TABLE.write_text("\n".join(text) + notes)
    print(f"wrote {TABLE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=list(CASES), help="run this case (repeatable)")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold (default 60)")
    parser.add_argument("--write", action="store_true", help="rebuild density.md from the saved cases")
    parser.add_argument("--no-run", action="store_true", help="only --write")
    args = parser.parse_args()
    if not args.no_run:
        for name in args.case or list(CASES):
            run_case(name, args.hold)
    if args.write:
        write_table()


if __name__ == "__main__":
    main()
