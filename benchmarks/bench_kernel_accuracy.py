"""Accuracy of the kernel model: calibrate on a few sizes, predict every other measured boot.

For each kernel captured by ``planner bootlab`` under ``tests/data/bootlab/`` (the guest
directory ``<flavour>/`` plus ``<flavour>-host/`` with host sizes and NUMA nodes and
``footprint-<flavour>/`` with qemu's resident guest RAM): calibrate from the 1-vCPU,
1-node boots at 128 MiB, 512 MiB and 2 GiB, and at the smallest and largest host size
(16 GiB and 256 GiB on amd64) where the kernel has host-size boots (the direct-map slope
past its knee needs two sizes above the knee),
then predict every other boot that reached /init (all sizes, vCPU counts and node counts)
and compare with its /proc/meminfo; compare every ``... hash table entries`` line of every
boot with the computed table; compare the boot footprint (``planner.kernel.footprint``)
with qemu's resident guest RAM where the manifest recorded it. Targets (issues 2 and 14):
MemTotal within 64 KiB, MemAvailable within 2 % or 3 MiB (whichever is larger), hash-table
sizes exact; the footprint is reported (target: within 10 % or 8 MiB from 192 MiB up).

Run:  .venv/bin/python benchmarks/bench_kernel_accuracy.py [--write]
(--write records the tables in benchmarks/results/kernel-accuracy.md)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from planner.evidence.logset import load_logs
from planner.evidence.records import Evidence
from planner.kernel.calibrate import calibrate
from planner.kernel.calibration import Calibration
from planner.kernel.footprint import boot_footprint_kib
from planner.kernel.model import GuestSpec, predict
from planner.kernel.reserved import reserved_terms

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "bootlab"
TRAIN_MIB = (128, 512, 2048)
#: host sizes: the smallest and the largest of them (1 vCPU, 1 node) are calibrated on too [KiB]
HOST_MIN_KIB = 16 * 1024 * 1024
MEMTOTAL_TOL_KIB = 64
FOOTPRINT_MIN_KIB = 192 * 1024


def available_tolerance_kib(measured_kib: int) -> float:
    return max(0.02 * measured_kib, 3 * 1024)


def footprint_tolerance_kib(measured_kib: int) -> float:
    return max(0.10 * measured_kib, 8 * 1024)


def _spec(ev: Evidence) -> GuestSpec:
    assert ev.dmesg is not None
    cmdline = ev.dmesg.command_line or ev.cmdline or ""
    possible = ev.dmesg.nr_cpu_ids
    vcpus = ev.vcpu_count or 1
    return GuestSpec(
        ev.memory_kib or 0,
        vcpus,
        possible if possible and possible != vcpus else None,
        cmdline,
        ev.machine,
        ev.dmesg.node_count,
    )


def _size(kib: int) -> str:
    return f"{kib // 1024 // 1024} GiB" if kib >= 16 * 1024 * 1024 else f"{kib // 1024} MiB"


def _hash_stats(cal: Calibration, ev: Evidence, stats: dict[str, int]) -> None:
    """Every hash line of a boot (including boots that panicked later) against the model's table."""
    assert ev.dmesg is not None
    computed = {t.name: t for t in reserved_terms(cal, _spec(ev)).hash_tables}
    for line in ev.dmesg.hash_tables:
        if line.name in computed:
            stats["hash_lines"] += 1
            stats["hash_exact"] += computed[line.name].size_bytes == line.size_bytes


def run(name: str, dirs: list[Path]) -> tuple[list[str], dict[str, int]]:
    logs = load_logs(dirs).evidences
    plain = [
        e
        for e in logs
        if e.meminfo is not None
        and e.vcpu_count == 1
        and e.dmesg is not None
        and e.dmesg.node_count == 1
        and "log_buf_len=1M" in (e.cmdline or e.dmesg.command_line or "")
        and "footprint" not in Path(e.source).parent.name
    ]
    host = sorted(e.memory_kib or 0 for e in plain if (e.memory_kib or 0) >= HOST_MIN_KIB)
    train_kib = {m * 1024 for m in TRAIN_MIB} | ({host[0], host[-1]} if host else set())
    train = [e for e in plain if e.memory_kib in train_kib]
    t0 = time.perf_counter()
    cal = calibrate(train, name=f"bench-{name}")
    calibrate_s = time.perf_counter() - t0
    # the footprint is fitted from every capture (its own fit; the meminfo model above is not)
    footprint_cal = calibrate([e for e in logs if e.meminfo is not None], name=f"bench-{name}-all")
    rows = []
    stats = {k: 0 for k in ("predicted", "memtotal_ok", "available_ok", "hash_lines", "hash_exact")}
    stats |= {"footprints": 0, "footprint_ok": 0}
    worst_total = worst_avail_pct = worst_fp_pct = 0.0
    key = lambda e: (e.dmesg.node_count if e.dmesg else 1, e.vcpu_count or 1, e.memory_kib or 0)  # noqa: E731
    for ev in sorted(logs, key=key):
        assert ev.dmesg is not None
        _hash_stats(cal, ev, stats)
        if ev.meminfo is None or ev in train:
            continue
        spec = _spec(ev)
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
        fp_cell = "|"
        fp = boot_footprint_kib(footprint_cal, spec.memory_kib, spec.vcpu_count, spec.node_count)
        if ev.guest_ram_resident_kib and fp is not None:
            res = ev.guest_ram_resident_kib
            fp_cell = f"{res // 1024} | {(fp - res) / 1024:+.0f} |"
            if spec.memory_kib >= FOOTPRINT_MIN_KIB:
                stats["footprints"] += 1
                stats["footprint_ok"] += abs(fp - res) <= footprint_tolerance_kib(res)
                worst_fp_pct = max(worst_fp_pct, abs(fp - res) / res * 100)
        rows.append(
            f"| {Path(ev.source).parent.name}/{Path(ev.source).name} | {_size(spec.memory_kib)} "
            f"| {spec.vcpu_count} | {spec.node_count} | {mt} | {d_total:+d} "
            f"| {ma} | {d_avail:+d} | {100 * d_avail / ma:+.2f} | {fp_cell} "
            f"{'ok' if ok_total and ok_avail else 'MISS'} |"
        )
    fp_params = footprint_cal.parameters
    head = [
        f"### {name} ({cal.kernel_release}, {cal.arch})",
        "",
        f"Calibrated on {len(train)} boots ({', '.join(_size(e.memory_kib or 0) for e in train)}, "
        f"1 vCPU, 1 node) in {calibrate_s:.2f} s. Predicted {stats['predicted']} other boots: "
        "MemTotal within "
        f"{MEMTOTAL_TOL_KIB} KiB for {stats['memtotal_ok']}/{stats['predicted']} "
        f"(worst {worst_total:.0f} KiB), MemAvailable within 2 % or 3 MiB for "
        f"{stats['available_ok']}/{stats['predicted']} (worst {worst_avail_pct:.2f} %); "
        f"hash tables exact for {stats['hash_exact']}/{stats['hash_lines']} dmesg lines.",
        "",
        f"Boot footprint (qemu's resident guest RAM at the end of the dump; fitted on all "
        f"{name} captures from 256 MiB up: base {fp_params.footprint_base_kib / 1024:.1f} MiB, "
        f"{fp_params.footprint_kib_per_vcpu / 1024:.1f} MiB per extra vCPU, "
        f"{fp_params.footprint_kib_per_node / 1024:.1f} MiB per extra node): within 10 % or 8 MiB "
        f"for {stats['footprint_ok']}/{stats['footprints']} boots of 192 MiB or more "
        f"(worst {worst_fp_pct:.1f} %).",
        "",
        "| boot | RAM | vCPU | nodes | MemTotal | model - measured | MemAvailable | model - measured | % "
        "| resident MiB | footprint model - measured MiB | |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    return head + rows + [""], stats


def flavours() -> dict[str, list[Path]]:
    """Kernel -> its bootlab directories (``amd64``, ``amd64-host``, ``footprint-amd64``, ...)."""
    out: dict[str, list[Path]] = {}
    for d in sorted(p for p in DATA.iterdir() if (p / "manifest.json").is_file()):
        name = d.name.removeprefix("footprint-").removesuffix("-host")
        out.setdefault(name, []).append(d)
    return out


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
    for name, dirs in flavours().items():
        lines, stats = run(name, dirs)
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
