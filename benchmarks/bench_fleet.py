"""Fleet solver: fewest hosts / least cost at scale, against first fit decreasing and the bound (issue 12).

The instance is deterministic: 20 profiles from 64 MiB to 16 GiB with 1-8 vCPUs; each
guest's host overhead is KubeVirt's formula as quoted in the reference (218 MiB + 8 MiB
per vCPU + 0.2 % of RAM; overhead-formulas-and-peers.md §2, "os-sizer"), 226-282 MiB.
Three host types of 2 NUMA nodes: 128/256/512 GiB (4 GiB per node held back for the host)
with 64/96/128 CPUs at 4 vCPUs per CPU, costing 10/16/28, 1,000/700/300 available (2,000).
Guest counts per profile fall off as 1/(1 + i mod 7). The resulting fleet is then checked
for N+1 and N+2, and headroom is computed on 1,000 of its hosts.

Run:  .venv/bin/python benchmarks/bench_fleet.py [--write] [--time-limit S]
(--write records the table in benchmarks/results/fleet-solver.md)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import scipy

from planner.capacity.failover import check_failover
from planner.capacity.fleet import headroom, plan_fleet
from planner.capacity.model import FleetProblem, HostType
from planner.capacity.results import FleetPlan
from planner.files import write_atomic
from planner.solver import GuestKind, NodeCapacity
from planner.units import KIB_PER_GIB, KIB_PER_MIB

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fleet-solver.md"
SIZES_MIB = [
    64,
    96,
    128,
    192,
    256,
    384,
    512,
    640,
    768,
    1024,
    1536,
    2048,
    3072,
    4096,
    6144,
    8192,
    10240,
    12288,
    14336,
    16384,
]
TARGET_S = {10_000: 5.0, 100_000: 60.0}


def profiles() -> tuple[GuestKind, ...]:
    out = []
    for i, size_mib in enumerate(SIZES_MIB):
        vcpu_count = 1 + (i * 3) % 8
        overhead_kib = (218 + 8 * vcpu_count) * KIB_PER_MIB + (size_mib * KIB_PER_MIB) // 500
        out.append(
            GuestKind(
                f"p{i:02d}-{size_mib}mib",
                {"memory_kib": size_mib * KIB_PER_MIB + overhead_kib},
                {"vcpu_count": vcpu_count},
            )
        )
    return tuple(out)


def host_types() -> tuple[HostType, ...]:
    out = []
    for gib, cpus, cost, available in ((128, 64, 10, 1000), (256, 96, 16, 700), (512, 128, 28, 300)):
        node_kib = (gib // 2 - 4) * KIB_PER_GIB
        nodes = (NodeCapacity(0, {"memory_kib": node_kib}), NodeCapacity(1, {"memory_kib": node_kib}))
        out.append(HostType(f"h{gib}g", nodes, {"vcpu_count": cpus * 4.0}, cost, available))
    return tuple(out)


def problem(guest_count: int, time_limit_s: float) -> FleetProblem:
    kinds = profiles()
    weights = [1.0 / (1 + i % 7) for i in range(len(kinds))]
    counts = [int(guest_count * w / sum(weights)) for w in weights]
    counts[0] += guest_count - sum(counts)
    return FleetProblem(
        kinds,
        host_types(),
        {k.name: n for k, n in zip(kinds, counts, strict=True)},
        time_limit_s=time_limit_s,
    )


def _hosts(plan: FleetPlan) -> str:
    return " + ".join(f"{n} {t}" for t, n in sorted(plan.hosts_per_type.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    lines = [
        "# Fleet solver: 20 profiles onto 3 host types (2,000 hosts available)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_fleet.py --write --time-limit {args.time_limit:g}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"scipy {scipy.__version__} (HiGHS); load average at start {os.getloadavg()[0]:.2f}",
        "Targets (issue 12): optimal or within 1 host of the bound; 10,000 guests < 5 s; 100,000 < 60 s.",
        "Cost: the host types' costs (10/16/28); FFD: first fit decreasing (vector aware, per node).",
        "",
        "| guests | status | cost | bound (LP) | gap | hosts | FFD cost | FFD hosts | iterations | solve s "
        "| time target met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    plans = {}
    for guests in (10_000, 100_000):
        start = time.perf_counter()
        plan = plan_fleet(problem(guests, args.time_limit))
        wall = time.perf_counter() - start
        plans[guests] = plan
        ffd = "did not fit" if plan.ffd_objective == float("inf") else f"{plan.ffd_objective:g}"
        lines.append(
            f"| {guests:,} | {plan.status} | {plan.objective:g} | {plan.lower_bound:g} ({plan.lp_value:.1f}) "
            f"| {plan.gap:.4f} | {_hosts(plan)} | {ffd} | {plan.ffd_hosts} | {plan.iterations} | {wall:.1f} "
            f"| {'yes' if wall < TARGET_S[guests] else 'NO'} |"
        )
    lines += [
        "",
        "| fleet | check | scenarios | host sets | survives | spares needed | check s |",
        "|---|---|---|---|---|---|---|",
    ]
    for guests, plan in plans.items():
        fleet = dataclasses.replace(
            problem(guests, args.time_limit), existing=plan.as_existing(), inventory={}
        )
        for r in (1, 2):
            start = time.perf_counter()
            report = check_failover(fleet, r)
            wall = time.perf_counter() - start
            lines.append(
                f"| {len(plan.hosts):,} hosts ({guests:,} guests) | N+{r} | {len(report.scenarios)} "
                f"| {report.host_sets_checked:,} of {report.host_sets:,} | {report.survives} "
                f"| {report.spare_hosts_needed} {report.spare_host_type} | {wall:.2f} |"
            )
    big = plans[100_000]
    subset = dataclasses.replace(
        problem(100_000, args.time_limit), existing=big.as_existing()[:1000], inventory={}
    )
    start = time.perf_counter()
    room = headroom(subset)
    wall = time.perf_counter() - start
    lines += [
        "",
        f"Headroom on {len(room.hosts):,} hosts (of the 100,000-guest fleet), 20 profiles: {wall:.2f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_atomic(RESULTS, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
