"""1,000 live hosts through the libvirt test driver: headroom and N+1 (issue 12, target < 30 s).

Each host is a test-driver XML file (``test:///ABS/PATH.xml``, no daemon) with the 2-cell
host of ``tests/data/libvirt/host-two-nodes.xml`` (2 and 4 GiB nodes) and a seeded random
set of running guests (128 MiB-1 GiB, 1-2 vCPUs, pinned to a node, filling it to 30-70 %),
so hosts differ. ``planner fleet --from-check`` reads them all read-only (``planner check``,
in parallel threads), then answers headroom, N+1 and consolidation. Times: the whole call,
and the fleet questions alone (read excluded).

Run:  .venv/bin/python benchmarks/bench_fleet_live.py [--hosts 1000] [--write]
(--write records the table in benchmarks/results/fleet-live.md)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from planner.files import write_atomic
from planner.workflows.check import check
from planner.workflows.fleet import answer
from planner.workflows.fleet_live import fleet_from_check, live_problem

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fleet-live.md"
HEAD = """<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <cpu><mhz>1400</mhz><model>x86_64</model><nodes>2</nodes><sockets>2</sockets><cores>8</cores><threads>1</threads><active>16</active></cpu>
  <memory>6291456</memory>
"""
DOMAIN = (
    "  <domain type='test'><name>g{i}</name><memory unit='MiB'>{mib}</memory><vcpu>{vcpus}</vcpu>"
    "<numatune><memory mode='strict' nodeset='{node}'/></numatune>"
    "<os><type arch='x86_64'>hvm</type></os></domain>\n"
)
SIZES_MIB = (128, 256, 512, 1024)


def host_xml(rng: random.Random) -> str:
    out, i = [HEAD], 0
    for node, node_mib in ((0, 2048), (1, 4096)):
        target = node_mib * rng.uniform(0.3, 0.7)
        used = 0.0
        while True:
            mib = rng.choice(SIZES_MIB)
            if used + mib * 1.25 > target:  # guest RAM + about a quarter for the qemu overhead
                break
            out.append(DOMAIN.format(i=i, mib=mib, vcpus=1 + (mib >= 512), node=node))
            used += mib * 1.25
            i += 1
    out.append("</node>\n")
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rng = random.Random(12)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        uris = []
        for h in range(args.hosts):
            path = Path(tmp) / f"host{h:04d}.xml"
            path.write_text(host_xml(rng))
            uris.append(f"test://{path}")
        t0 = time.monotonic()
        result = fleet_from_check(uris, failures=1)
        total_s = time.monotonic() - t0
        t1 = time.monotonic()
        hosts = check(uris).hosts
        read_s = time.monotonic() - t1
    problem = live_problem(hosts, 60.0)
    t2 = time.monotonic()
    again = answer(problem, name="bench", failures=1, plan=False)
    questions_s = time.monotonic() - t2
    assert again.failover is not None and again.headroom is not None and again.consolidation is not None
    assert result.failover is not None and result.headroom is not None and result.consolidation is not None
    guests = sum(sum(h.counts.values()) for h in problem.existing)
    f = result.failover
    lines = [
        "# Fleet from live hosts: 1,000 libvirt test-driver hosts, headroom and N+1",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_fleet_live.py --hosts {args.hosts} --write`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load "
        f"average (1 min) {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (shared machine)",
        "Target (issue 12): checking 1,000 hosts in under 30 s.",
        "",
        "| hosts | running guests | profiles | host types | whole call s | read (check) s | questions s "
        "| N+1 scenarios | N+1 survives | consolidation | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {args.hosts:,} | {guests:,} | {len(problem.profiles)} | {len(problem.host_types)} "
        f"| {total_s:.1f} | {read_s:.1f} | {questions_s:.1f} "
        f"| {len(f.scenarios):,} ({f.host_sets:,} host sets) | {f.survives} "
        f"| {len(result.consolidation.emptied)} emptied | {'met' if total_s < 30 else 'NOT met'} (< 30 s) |",
        "",
        "Whole call: `fleet_from_check(uris, failures=1)` (what `planner fleet --from-check` runs): "
        "read every host, headroom, N+1, consolidation. Read: `check(uris)` alone, again. Questions: "
        "headroom, N+1 and consolidation on the hosts read.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_atomic(RESULTS, text)


if __name__ == "__main__":
    sys.exit(main())
