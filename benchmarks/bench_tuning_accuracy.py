"""Accuracy of `planner tune`: each command-line change, measured on two real boots against predicted.

For every pair of boots under ``tests/data/bootlab/tune/`` (one kernel, one size, with and without
a change; commands in its README) the measured change of ``reserved``, MemTotal and MemAvailable
is compared with the model's (:func:`planner.kernel.tuning_check.check_change`, calibrations
``debian12-*``). Targets (issue 13): MemTotal terms within 64 KiB; hash tables exact.
MemAvailable is reported: two identical boots differ by a few hundred KiB there.

Run:  .venv/bin/python benchmarks/bench_tuning_accuracy.py [--write]
(--write records the table in benchmarks/results/tuning-accuracy.md)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.evidence import load_evidence
from planner.inputs.calibrations import load_calibration
from planner.kernel.tuning_check import check_change

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "bootlab" / "tune"
CALIBRATION = {"cloud-amd64": "debian12-cloud-amd64", "amd64": "debian12-amd64", "s390x": "debian12-s390x"}
#: (kernel directory, baseline log, changed log)
PAIRS = [
    ("cloud-amd64", "512MiB-1cpu-base", "512MiB-1cpu-hash1024"),
    ("cloud-amd64", "4GiB-1cpu-base", "4GiB-1cpu-swiotlb-noforce"),
    ("cloud-amd64", "512MiB-1cpu-base", "512MiB-1cpu-logbuf-default"),
    ("amd64", "512MiB-1cpu-base", "512MiB-1cpu-logbuf-default"),
    ("s390x", "512MiB-1cpu-base", "512MiB-1cpu-logbuf-default"),
    ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-logbuf-default"),
    ("s390x", "64MiB-1cpu-base", "64MiB-1cpu-logbuf-default"),
    ("cloud-amd64", "512MiB-1cpu-base", "512MiB-1cpu-crashkernel128M"),
    ("cloud-amd64", "1GiB-1cpu-base", "1GiB-1cpu-thp-never"),
    ("cloud-amd64", "512MiB-1cpu-possible4", "512MiB-1cpu-possible4-nr_cpus1"),
    ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-nokmem"),
    ("s390x", "64MiB-1cpu-base", "64MiB-1cpu-nokmem"),
    ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-coherent_pool4K"),
    ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-dhash-ihash1024"),
    ("s390x", "64MiB-1cpu-base", "64MiB-1cpu-dhash-ihash1024"),
    ("cloud-amd64", "128MiB-1cpu-tune00-baseline", "128MiB-1cpu-tune99-recommended"),
    ("s390x", "64MiB-1cpu-tune00-baseline", "64MiB-1cpu-tune99-recommended"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the results in benchmarks/results/")
    args = parser.parse_args()
    rows = []
    judged = agreed = tables = tables_exact = 0
    for kernel_dir, baseline, changed in PAIRS:
        cal = load_calibration(CALIBRATION[kernel_dir])
        check = check_change(
            cal,
            load_evidence(DATA / kernel_dir / f"{baseline}.log"),
            load_evidence(DATA / kernel_dir / f"{changed}.log"),
        )
        r, t, a = (check.delta(q) for q in ("reserved_kib", "mem_total_kib", "mem_available_kib"))
        hashes = [d for d in check.deltas if d.quantity.startswith("hash:")]
        judged += 1
        agreed += check.agrees
        tables += len(hashes)
        tables_exact += sum(d.error_kib == 0 for d in hashes)
        size = changed.split("-")[0]
        rows.append(
            f"| {kernel_dir} | {size} | `{check.label}` | {r.measured_kib:+d} / {r.predicted_kib:+d} "
            f"| {t.measured_kib:+d} / {t.predicted_kib:+d} | {a.measured_kib:+d} / {a.predicted_kib:+d} "
            f"| {len(hashes)} | {'ok' if check.agrees else 'MISS'} |"
        )
    out = [
        "# Tuning accuracy: command-line changes measured on real boots against the model",
        "",
        "Made by `.venv/bin/python benchmarks/bench_tuning_accuracy.py --write` "
        f"on {time.strftime('%Y-%m-%d')}; data: tests/data/bootlab/tune (real boots, qemu TCG).",
        "",
        f"{agreed}/{judged} changes agree (reserved and MemTotal within 64 KiB, hash tables exact); "
        f"{tables_exact}/{tables} resized hash tables exact. Figures are changed boot - baseline boot, "
        "measured / predicted, in KiB.",
        "",
        "| kernel | size | change | reserved | MemTotal | MemAvailable | tables | |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    text = "\n".join(out)
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "results" / "tuning-accuracy.md").write_text(text)
    return 0 if agreed == judged else 1


if __name__ == "__main__":
    raise SystemExit(main())
