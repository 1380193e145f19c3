"""Calibration constants fitted by least squares (``scipy.optimize.least_squares``, soft-L1 loss).

Everything sized from RAM, CPUs or the command line comes from the model's own code
(:func:`planner.kernel.reserved.reserved_terms`, :func:`planner.kernel.runtime.runtime_terms`),
so only constants of the build are fitted: the image reservation and a direct-map slope past a
knee from the dmesg ``reserved`` figure; a MemTotal offset; the idle runtime from /proc/meminfo
(Slab, SReclaimable, KernelStack, VmallocUsed) and /proc/zoneinfo (pages on per-CPU lists), each a
constant plus a per-vCPU slope; the boot footprint from qemu's resident guest RAM
(:mod:`planner.kernel.footprint`).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

from planner.kernel.calibrate_samples import MIN_SIZES, Fit, Sample, meminfo_field, user_kib
from planner.kernel.footprint import footprint_samples, touched_kib
from planner.kernel.reserved import reserved_terms
from planner.kernel.runtime import dma_pools_kib, runtime_terms
from planner.units import KIB_PER_GIB

#: boots whose boot-time frees stay below this fraction of the low watermarks show the
#: per-CPU-list fill; the others show its cap
PCP_FILL_BELOW = 0.5


def linear_fit(
    rows: Sequence[Sequence[float]],
    y: Sequence[float],
    names: Sequence[str],
    lower: Sequence[float] | None = None,
) -> tuple[list[float], float]:
    """Robust linear least squares (``scipy.optimize.least_squares``, soft-L1 loss). Returns (coefs, rms).

    ``lower``: per-coefficient lower bounds (a physical quantity such as a per-GiB
    page-table cost cannot be negative).
    """
    import numpy as np
    from scipy.optimize import least_squares

    a = np.asarray(rows, dtype=float)
    b = np.asarray(y, dtype=float)
    # columns the data cannot identify (constant zero) are fixed at 0
    active = [j for j in range(a.shape[1]) if np.any(a[:, j] != a[0, j]) or j == 0]
    a_act = a[:, active]
    lo = np.asarray([(lower[j] if lower is not None else -np.inf) for j in active], dtype=float)
    x0, *_ = np.linalg.lstsq(a_act, b, rcond=None)
    x0 = np.maximum(x0, np.where(np.isfinite(lo), lo, x0))
    scale = max(float(np.median(np.abs(b - a_act @ x0))), 16.0)
    result = least_squares(
        lambda x: a_act @ x - b, x0, loss="soft_l1", f_scale=scale, method="trf", bounds=(lo, np.inf)
    )
    coefs = [0.0] * a.shape[1]
    for j, value in zip(active, result.x, strict=True):
        coefs[j] = float(value)
    rms = float(np.sqrt(np.mean((a @ np.asarray(coefs) - b) ** 2)))
    return coefs, rms


#: x86-64: knees tried for the direct-map slope (:func:`planner.kernel.reserved.direct_map_kib`),
#: 0..16 GiB [KiB]
DIRECT_MAP_KNEES_KIB = tuple(k * KIB_PER_GIB // 4 for k in range(65))


def fit_reserved(fit: Fit, samples: list[Sample]) -> None:
    """The image reservation and a direct-map slope past a knee, least squares over every
    ``Memory:`` line; x86-64 tries each knee of :data:`DIRECT_MAP_KNEES_KIB` and keeps the
    best (the smallest on a tie), s390x has none."""
    present, y = [], []
    zeroed = dataclasses.replace(fit.params, image_reserved_kib=0.0, direct_map_kib_per_gib=0.0)
    for s in samples:
        zero = reserved_terms(fit.draft, s.spec, zeroed)
        present.append(zero.layout.present_kib)
        y.append(s.reserved_kib - zero.reserved_kib)
    knees = DIRECT_MAP_KNEES_KIB if fit.draft.arch == "x86_64" else (0,)
    best: tuple[float, int, float, float] | None = None
    for knee in knees:
        rows = [[1.0, max(kib - knee, 0) / KIB_PER_GIB] for kib in present]
        (image, slope), rms = linear_fit(
            rows, y, ["image_reserved_kib", "direct_map_kib_per_gib"], lower=[0.0, 0.0]
        )
        if best is None or rms < best[0] - 0.5:
            best = (rms, knee, image, slope)
    assert best is not None
    rms, knee, image, slope = best
    if slope == 0.0:
        knee = 0
    if len({s.spec.memory_kib for s in samples}) < MIN_SIZES:
        image, slope, knee = statistics.fmean(y), 0.0, 0
    how = f"least_squares: dmesg reserved over {len(samples)} logs (rms {rms:.0f} KiB)"
    fit.set(how, image_reserved_kib=image, direct_map_kib_per_gib=slope, direct_map_free_kib=float(knee))


def fit_memtotal_offset(fit: Fit, runtime: list[Sample]) -> None:
    """MemTotal against physpages - reserved + what the log says was freed (the model's terms when silent)."""
    p = fit.params
    offsets = []
    for s in runtime:
        assert s.meminfo is not None
        freed = s.freed_total_kib or (p.initrd_kib + p.freed_init_kib + p.smp_alternatives_kib)
        present = reserved_terms(fit.draft, s.spec, p).layout.present_kib
        offsets.append(s.meminfo["MemTotal"] - (present - s.reserved_kib + freed))
    (adjust,), _ = linear_fit([[1.0]] * len(offsets), offsets, ["memtotal_adjust_kib"])
    how = f"least_squares: MemTotal - (physpages - reserved + freed) over {len(offsets)} boots"
    fit.set(how, memtotal_adjust_kib=adjust)


def _vmalloc_hash_kib(fit: Fit, s: Sample) -> float:
    """The boot's hash tables that ``VmallocUsed`` counts (``vmalloc``: order >= MAX_ORDER, or
    ``hashdist`` on several NUMA nodes), as the model sizes them. [KiB]"""
    tables = reserved_terms(fit.draft, s.spec, fit.params).hash_tables
    return float(sum(t.size_kib for t in tables if t.vmalloc))


def fit_runtime(fit: Fit, runtime: list[Sample]) -> None:
    """The idle runtime from /proc/meminfo and /proc/zoneinfo: constants plus per-vCPU slopes."""
    n = len(runtime)
    extra = [[1.0, float(s.spec.vcpu_count - 1)] for s in runtime]
    (slab, slab_v), _ = linear_fit(extra, [meminfo_field(s, "Slab") for s in runtime], ["slab", "per_vcpu"])
    (srecl, _), _ = linear_fit(
        extra, [meminfo_field(s, "SReclaimable") for s in runtime], ["srecl", "per_vcpu"]
    )
    (stacks, stacks_v), _ = linear_fit(
        extra, [meminfo_field(s, "KernelStack") for s in runtime], ["stacks", "per_vcpu"]
    )
    fit.set(
        f"least_squares: /proc/meminfo over {n} boots (constant + per-vCPU slope)",
        slab_kib=slab,
        slab_kib_per_vcpu=slab_v,
        sreclaimable_kib=srecl,
        kernel_stacks_kib=stacks,
        kernel_stacks_kib_per_vcpu=stacks_v,
    )
    inverse = [[1.0, 1.0 / reserved_terms(fit.draft, s.spec, fit.params).possible_cpu_count] for s in runtime]
    vm_y = [
        meminfo_field(s, "VmallocUsed") - meminfo_field(s, "KernelStack") - _vmalloc_hash_kib(fit, s)
        for s in runtime
    ]
    (vmalloc, vmalloc_inv), _ = linear_fit(inverse, vm_y, ["vmalloc", "per_inverse_cpu"])
    fit.set(
        f"least_squares: VmallocUsed - KernelStack over {n} boots (a + b / possible CPUs)",
        vmalloc_kib=vmalloc,
        vmalloc_kib_cpu_inverse=vmalloc_inv,
    )
    _fit_pcp(fit, runtime)
    # everything else used at idle: MemTotal - MemFree minus the named terms
    other_y = []
    for s in runtime:
        rt = reserved_terms(fit.draft, s.spec, fit.params)
        run = runtime_terms(fit.draft, s.spec, rt, fit.params)
        pcp_measured = s.pcp_kib if s.pcp_kib is not None else run.pcp_kib
        used = meminfo_field(s, "MemTotal") - meminfo_field(s, "MemFree") - user_kib(s)
        other_y.append(
            used
            - meminfo_field(s, "Slab")
            - (meminfo_field(s, "VmallocUsed") - _vmalloc_hash_kib(fit, s))
            - run.hash_late_kib
            - dma_pools_kib(fit.params.dma_pool_count, rt.totalram_at_print_kib)
            - pcp_measured
        )
    (other, other_v), rms_other = linear_fit(extra, other_y, ["other", "per_vcpu"])
    fit.set(
        f"least_squares: MemTotal - MemFree - named terms over {n} boots (rms {rms_other:.0f} KiB)",
        other_kib=other,
        other_kib_per_vcpu=other_v,
    )


def _fit_pcp(fit: Fit, runtime: list[Sample]) -> None:
    """Free pages on per-CPU lists: the fill where the boot-time frees cannot reach the cap (a share of
    the low watermarks), the cap's share elsewhere."""
    rows, y, ratios = [], [], []
    for s in runtime:
        if s.pcp_kib is None:
            continue
        rt = reserved_terms(fit.draft, s.spec, fit.params)
        low_kib = runtime_terms(fit.draft, s.spec, rt, fit.params).watermarks.low_kib
        if s.freed_total_kib < PCP_FILL_BELOW * low_kib:
            rows.append([1.0, rt.layout.present_kib / KIB_PER_GIB, float(s.spec.vcpu_count - 1)])
            y.append(float(s.pcp_kib))
        elif low_kib:
            ratios.append(s.pcp_kib / low_kib)
    pcp = pcp_gib = pcp_v = 0.0
    if y:
        (pcp, pcp_gib, pcp_v), _ = linear_fit(rows, y, ["pcp", "per_gib", "per_vcpu"])
        how = f"least_squares: /proc/zoneinfo pageset counts of {len(y)} boots below the cap"
    elif ratios:
        pcp = float(max(s.pcp_kib or 0 for s in runtime))
        how = "measured: largest /proc/zoneinfo pageset count (every boot at the cap)"
    else:
        how = "not measured (no /proc/zoneinfo in the logs): 0"
    fit.set(how, pcp_kib=pcp, pcp_kib_per_gib=pcp_gib, pcp_kib_per_vcpu=pcp_v)
    if ratios:
        fit.set(
            f"measured: median pageset count / low watermarks over {len(ratios)} boots at the cap",
            pcp_low_fraction=statistics.median(ratios),
        )
    else:
        fit.set("default: the cap is the low watermarks", pcp_low_fraction=1.0)


def fit_footprint(fit: Fit, samples: list[Sample]) -> None:
    """The boot footprint's base and per-vCPU slope, over the boots whose manifest recorded
    qemu's resident guest RAM (:mod:`planner.kernel.footprint`)."""
    usable = footprint_samples([s.evidence for s in samples])
    if len({e.memory_kib for e in usable}) < MIN_SIZES:
        fit.set("not measured (fewer than 2 sizes with qemu's resident guest RAM): 0",
                footprint_base_kib=0.0, footprint_kib_per_vcpu=0.0, footprint_kib_per_node=0.0)  # fmt: skip
        return
    by_source = {s.evidence.source: s for s in samples}
    rows, y = [], []
    for e in usable:
        spec = by_source[e.source].spec
        assert e.guest_ram_resident_kib is not None
        touched = touched_kib(fit.draft, spec.memory_kib, spec.vcpu_count, spec.node_count, fit.params)
        rows.append([1.0, float(spec.vcpu_count - 1), float(spec.node_count - 1)])
        y.append(e.guest_ram_resident_kib - touched)
    (base, per_vcpu, per_node), rms = linear_fit(
        rows, y, ["footprint_base_kib", "footprint_kib_per_vcpu", "footprint_kib_per_node"]
    )
    fit.set(
        f"least_squares: bootlab resident guest RAM - touched over {len(y)} boots (rms {rms:.0f} KiB)",
        footprint_base_kib=base,
        footprint_kib_per_vcpu=per_vcpu,
        footprint_kib_per_node=per_node,
    )
