"""Accuracy of the kernel model: calibrate on three sizes, predict every other measured boot.

For each kernel captured by ``planner bootlab`` under ``tests/data/bootlab/<flavour>/``:
calibrate from the 1-vCPU boots at 128 MiB, 512 MiB and 2 GiB, then predict every
other boot that reached /init (all sizes, all vCPU counts) and compare with its
/proc/meminfo; compare every ``... hash table entries`` line of every boot with
the computed table. Targets (issue 2): MemTotal within 64 KiB, MemAvailable within
2 % or 3 MiB (whichever is larger), hash-table sizes exact.

Run:  .venv/bin/python benchmarks/bench_kernel_accuracy.py [--write]
(--write records the table in benchmarks/results/kernel-accuracy.md)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from planner.evidence.logset import load_logs
from planner.kernel.calibrate import calibrate
from planner.kernel.hashtables import hash_tables
from planner.kernel.layout import guest_layout, nr_kernel_pages
from planner.kernel.model import GuestSpec, predict

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "bootlab"
TRAIN_MIB = (128, 512, 2048)
MEMTOTAL_TOL_KIB = 64


def available_tolerance_kib(measured_kib: int) -> float:
    return max(0.02 * measured_kib, 3 * 1024)


def run(flavour_dir: Path) -> tuple[list[str], dict[str, int]]:
    logs = load_logs([flavour_dir]).evidences
    train = [
        e
        for e in logs
        if e.meminfo is not None
        and e.vcpu_count == 1
        and e.memory_kib in {m * 1024 for m in TRAIN_MIB}
        and "log_buf_len=1M" in (e.cmdline or e.dmesg.command_line or "")
    ]
    t0 = time.perf_counter()
    cal = calibrate(train, name=f"bench-{flavour_dir.name}")
    calibrate_s = time.perf_counter() - t0
    rows = []
    stats = {"predicted": 0, "memtotal_ok": 0, "available_ok": 0, "hash_lines": 0, "hash_exact": 0}
    worst_total = worst_avail_pct = 0.0
    for ev in sorted(logs, key=lambda e: (e.vcpu_count or 1, e.memory_kib or 0)):
        assert ev.dmesg is not None
        cmdline = ev.dmesg.command_line or ev.cmdline or ""
        possible = ev.dmesg.nr_cpu_ids
        spec = GuestSpec(
            ev.memory_kib or 0,
            ev.vcpu_count or 1,
            possible if possible and possible != (ev.vcpu_count or 1) else None,
            cmdline,
            ev.machine,
        )
        # hash tables: every line of every boot, including boots that panicked later
        computed = {
            t.name: t
            for t in hash_tables(
                cal.arch,
                nr_kernel_pages(guest_layout(cal.arch, spec.memory_kib, spec.machine)),
                possible_cpu_count=spec.possible_cpu_count or spec.vcpu_count,
                cmdline=cmdline,
            )
        }
        for line in ev.dmesg.hash_tables:
            if line.name in computed:
                stats["hash_lines"] += 1
                stats["hash_exact"] += computed[line.name].size_bytes == line.size_bytes
        if ev.meminfo is None or ev in train:
            continue
        p = predict(cal, spec, out_of_range="ignore")
        mt, ma = ev.meminfo["MemTotal"], ev.meminfo["MemAvailable"]
        d_total, d_avail = p.mem_total_kib - mt, p.mem_available_kib - ma
        ok_total = abs(d_total) <= MEMTOTAL_TOL_KIB
        ok_avail = abs(d_avail) <= available_tolerance_kib(ma)
        stats["predicted"] += 1
        stats["memtotal_ok"] += ok_total
        stats["available_ok"] += ok_avail
        worst_total = max(worst_total, abs(d_total))
        worst_avail_pct = max(worst_avail_pct, abs(d_avail) / ma * 100)
        rows.append(
            f"| {Path(ev.source).name} | {spec.memory_kib // 1024} | {spec.vcpu_count} | {mt} | {d_total:+d} "
            f"| {ma} | {d_avail:+d} | {100 * d_avail / ma:+.2f} "
            f"| {'ok' if ok_total and ok_avail else 'MISS'} |"
        )
    head = [
        f"### {flavour_dir.name} ({cal.kernel_release}, {cal.arch})",
        "",
        f"Calibrated on {len(train)} boots ({', '.join(f'{m} MiB' for m in TRAIN_MIB)}, 1 vCPU) in "
        f"{calibrate_s:.2f} s. Predicted {stats['predicted']} other boots: MemTotal within "
        f"{MEMTOTAL_TOL_KIB} KiB for {stats['memtotal_ok']}/{stats['predicted']} "
        f"(worst {worst_total:.0f} KiB), MemAvailable within 2 % or 3 MiB for "
        f"{stats['available_ok']}/{stats['predicted']} (worst {worst_avail_pct:.2f} %); "
        f"hash tables exact for {stats['hash_exact']}/{stats['hash_lines']} "
        "dmesg lines.",
        "",
        "| boot | MiB | vCPU | MemTotal | model - measured | MemAvailable | model - measured | % | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    return head + rows + [""], stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the results in benchmarks/results/")
    args = parser.parse_args()
    out = [
        "# Kernel model accuracy",
        "",
        "Made by `.venv/bin/python benchmarks/bench_kernel_accuracy.py --write` "
        f"on {time.strftime('%Y-%m-%d')}; data: tests/data/bootlab (real boots, qemu TCG).",
        "",
    ]
    failed = False
    for flavour in sorted(p for p in DATA.iterdir() if (p / "manifest.json").is_file()):
        lines, stats = run(flavour)
        out += lines
        failed |= stats["memtotal_ok"] < stats["predicted"] or stats["available_ok"] < stats["predicted"]
        failed |= stats["hash_exact"] < stats["hash_lines"]
    text = "\n".join(out)
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "results" / "kernel-accuracy.md").write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
