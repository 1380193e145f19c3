"""The smallest size a kernel boots at: a k-ary bisection over boots run ``jobs`` at a time.

``planner bootlab --find-min`` (reference ``bootlab-debian-6.1.md`` §3: the smallest bootable
sizes of the Debian 6.1 kernels, and s390x booting 5 times out of 8 at a marginal 44 MiB).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from planner.bootlab import fetch
from planner.bootlab.boots import BootRecord, BootSpec, Manifest, run_boots
from planner.bootlab.lab import Lab
from planner.errors import InputError
from planner.units import KIB_PER_MIB, size_label_kib


@dataclass(frozen=True)
class FindMinResult:
    """Outcome of :func:`find_min`: smallest size that reached the dump, and what failed below."""

    min_boot_kib: int
    below_kib: int | None
    below_outcome: str | None
    records: list[BootRecord]


def find_min(
    lab: Lab,
    out_dir: Path,
    *,
    low_kib: int,
    high_kib: int,
    step_kib: int = 2 * KIB_PER_MIB,
    vcpu_count: int = 1,
    jobs: int | None = None,
    progress: Callable[[BootRecord], None] | None = None,
) -> FindMinResult:
    """Smallest size in ``[low_kib, high_kib]`` (multiples of ``step_kib``) that reaches the dump.

    ``high_kib`` must boot. Each round boots ``jobs`` evenly spread sizes at once and keeps
    the interval between the largest failure and the smallest success (a k-ary bisection),
    so the answer assumes booting is monotone in RAM, which holds except at a marginal size
    (the reference saw s390x boot 5 times out of 8 at 44 MiB).
    """
    if step_kib <= 0 or step_kib % KIB_PER_MIB:
        raise InputError(f"expected a whole number of MiB; found {step_kib} KiB", field="--step")
    if not 0 < low_kib < high_kib:
        raise InputError(
            f"expected two sizes, the lower below the upper; found {low_kib} KiB and {high_kib} KiB",
            field="--memory",
        )
    fetch.make_dir(out_dir, field="--output")
    manifest = Manifest(out_dir, lab)
    workers = max(1, jobs or os.cpu_count() or 1)
    all_records: list[BootRecord] = []

    def boot(sizes: list[int]) -> dict[int, BootRecord]:
        recs = run_boots(
            lab,
            [BootSpec(k, vcpu_count) for k in sizes],
            out_dir,
            jobs=workers,
            progress=progress,
            manifest=manifest,
        )
        all_records.extend(recs)
        return {r.memory_kib: r for r in recs}

    first = boot(sorted({low_kib, high_kib}))
    if first[high_kib].outcome != "dump":
        raise InputError(
            f"expected the upper size {size_label_kib(high_kib)} to boot; it ended in "
            f"{first[high_kib].outcome} ({out_dir / first[high_kib].log})",
            field="--memory",
        )
    if first[low_kib].outcome == "dump":
        return FindMinResult(low_kib, None, None, all_records)
    ok_kib, fail_kib, fail_outcome = _bisect(
        boot, low_kib, high_kib, first[low_kib].outcome, step_kib, workers
    )
    return FindMinResult(ok_kib, fail_kib, fail_outcome, all_records)


def _bisect(
    boot: Callable[[list[int]], dict[int, BootRecord]],
    fail_kib: int,
    ok_kib: int,
    fail_outcome: str,
    step_kib: int,
    workers: int,
) -> tuple[int, int, str]:
    """Narrow ``(fail_kib, ok_kib]`` to one step: each round boots up to ``workers`` sizes evenly
    spread inside it. Returns (smallest size that booted, largest that failed, how it failed)."""
    while ok_kib - fail_kib > step_kib:
        n_steps = (ok_kib - fail_kib) // step_kib
        count = min(workers, n_steps - 1) if n_steps > 1 else 1
        points = sorted(
            {fail_kib + step_kib * max(1, round(n_steps * (i + 1) / (count + 1))) for i in range(count)}
        )
        points = [p for p in points if fail_kib < p < ok_kib]
        if not points:
            break
        got = boot(points)
        for p in points:
            if got[p].outcome == "dump":
                ok_kib = min(ok_kib, p)
        for p in points:
            if p < ok_kib and p > fail_kib and got[p].outcome != "dump":
                fail_kib, fail_outcome = p, got[p].outcome
    return ok_kib, fail_kib, fail_outcome
