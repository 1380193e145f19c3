"""Calibrate the kernel memory model from real boot evidence.

``calibrate(evidences, name=...) -> Calibration`` is pure and deterministic.
Only constants of a kernel build are fitted, with ``scipy.optimize.least_squares``;
everything sized from RAM, CPUs or the command line is derived by
:mod:`planner.kernel.model` from the same code that predicts.

What is read, per log (reference kernel-memory-facts.md §8):
structural constants straight from dmesg (``percpu: Embedded N pages/cpu``, the
``Freeing ...`` lines, the THP mode); the dmesg ``reserved`` figure, fitted with
the image reservation and a direct-map slope; MemTotal (an offset); the idle
runtime from /proc/meminfo (Slab, SReclaimable, KernelStack, VmallocUsed) and
/proc/zoneinfo (pages on per-CPU lists), each a constant plus a per-vCPU slope.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from planner.errors import CalibrationError, EvidenceError, InfeasibleError
from planner.evidence.dmesg import require_memory_line
from planner.evidence.records import Evidence
from planner.kernel.calibration import (
    CalibratedRange,
    Calibration,
    KernelParameters,
    LogRecord,
)
from planner.kernel.footprint import footprint_samples, touched_kib
from planner.kernel.layout import nr_kernel_pages
from planner.kernel.model import GuestSpec, predict
from planner.kernel.reserved import machine_layout, reserved_terms
from planner.kernel.runtime import dma_pools_kib, runtime_terms
from planner.units import KIB_PER_GIB, format_kib

#: defaults by architecture, from the Debian 6.1 configs
#: (reference bootlab-debian-6.1.md, kernel-memory-facts.md §4)
ARCH_DEFAULTS: dict[str, dict[str, object]] = {
    "x86_64": {
        "swiotlb_available": True,
        "crashkernel_available": True,
        "dma_pool_count": 3,
        "pageblock_kib": 2048,
    },
    # CONFIG_CRASH_DUMP is not set in Debian s390x 6.1; no swiotlb outside Secure Execution
    "s390x": {
        "cma_available": True,
        "swiotlb_available": False,
        "crashkernel_available": False,
        # no 'DMA: preallocated ... pool for atomic allocations' line in any s390x boot
        "dma_pool_count": 0,
        "pageblock_kib": 1024,
    },
}
MIN_RUNTIME_LOGS = 3
MIN_SIZES = 2
#: boots whose boot-time frees stay below this fraction of the low watermarks show the
#: per-CPU-list fill; the others show its cap
PCP_FILL_BELOW = 0.5


@dataclass(frozen=True)
class _Sample:
    evidence: Evidence
    spec: GuestSpec
    reserved_kib: int
    freed_total_kib: int
    meminfo: dict[str, int] | None
    pcp_kib: int | None


def _build_key(ev: Evidence) -> tuple[object, ...]:
    assert ev.dmesg is not None and ev.dmesg.memory is not None
    m = ev.dmesg.memory
    return (
        ev.dmesg.release,
        m.kernel_code_kib,
        m.rwdata_kib,
        m.rodata_kib,
        m.init_kib,
        m.bss_kib,
        m.data_kib,
    )


def _vcpus(ev: Evidence) -> int:
    if ev.vcpu_count:
        return ev.vcpu_count
    return 1


def _possible(ev: Evidence) -> int | None:
    return ev.dmesg.nr_cpu_ids if ev.dmesg is not None else None


def _samples(evidences: Sequence[Evidence]) -> list[_Sample]:
    out = []
    for ev in evidences:
        if ev.dmesg is None:
            raise CalibrationError("expected a kernel log (dmesg); found none", file=ev.source)
        if ev.dmesg.memory is None:
            try:
                require_memory_line(ev.dmesg, ev.source)
            except EvidenceError as err:
                raise CalibrationError(err.message, file=ev.source, field="Memory") from None
        memory_line = ev.dmesg.memory
        assert memory_line is not None
        if ev.memory_kib is None:
            raise CalibrationError(
                "expected the configured RAM of this boot (a bootlab manifest.json beside it, or a log that "
                "shows it); found none",
                file=ev.source,
            )
        cmdline = ev.dmesg.command_line or ev.cmdline or ""
        vcpus = _vcpus(ev)
        possible = _possible(ev)
        spec = GuestSpec(
            memory_kib=ev.memory_kib,
            vcpu_count=vcpus,
            possible_cpu_count=possible if possible and possible != vcpus else None,
            cmdline=cmdline,
            machine=ev.machine,
            node_count=ev.dmesg.node_count,
        )
        meminfo = dict(ev.meminfo.fields_kib) if ev.meminfo is not None and "MemTotal" in ev.meminfo else None
        pcp = ev.zoneinfo.pcp_kib if ev.zoneinfo is not None and ev.zoneinfo.zones else None
        freed_kib = sum(f.size_kib for f in ev.dmesg.freed)
        out.append(_Sample(ev, spec, memory_line.reserved_kib, freed_kib, meminfo, pcp))
    return out


def _mode(values: Sequence[int]) -> int:
    """The most common value (the logs of one build agree; a stray boot does not move it)."""
    value, _ = Counter(values).most_common(1)[0]
    return value


def _linear_fit(
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


@dataclass
class _Fit:
    """A calibration being made: the parameters so far and where each came from.

    Mutable while the stages below fill it in; :func:`calibrate` returns the frozen
    :class:`Calibration` made from it.
    """

    draft: Calibration
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> KernelParameters:
        return self.draft.parameters

    def set(self, how: str, **values: object) -> None:
        """Set parameters and record how they were obtained."""
        params = dataclasses.replace(self.params, **values)  # type: ignore[arg-type]
        self.draft = dataclasses.replace(self.draft, parameters=params)
        for key in values:
            self.sources[key] = how


def _check_logs(samples: list[_Sample], partial: bool) -> tuple[str, bool, list[_Sample]]:
    """One build, one known architecture, enough boots. Returns (arch, 2.6-era, boots with meminfo)."""
    first = samples[0].evidence
    first_dmesg = first.dmesg
    assert first_dmesg is not None and first_dmesg.memory is not None  # _samples() checked every log
    arch = first_dmesg.arch
    for s in samples:
        ev = s.evidence
        if _build_key(ev) != _build_key(first):
            raise CalibrationError(
                f"expected logs of one kernel build; {ev.source} is "
                f"{ev.dmesg.release if ev.dmesg else '?'} and {first.source} is {first_dmesg.release} "
                "(release or image sizes differ)",
                file=ev.source,
            )
        ev_arch = ev.dmesg.arch if ev.dmesg else None
        if ev_arch != arch:
            raise CalibrationError(
                f"expected logs of one architecture ({arch}); found {ev_arch}", file=ev.source
            )
    if arch not in ARCH_DEFAULTS:
        raise CalibrationError(
            f"expected an x86_64 or s390x kernel; found architecture {arch!r}", file=first.source
        )
    runtime = [s for s in samples if s.meminfo is not None]
    sizes = {s.spec.memory_kib for s in samples}
    if not partial and (len(sizes) < MIN_SIZES or len(runtime) < MIN_RUNTIME_LOGS):
        raise CalibrationError(
            f"expected at least {MIN_RUNTIME_LOGS} boots with /proc/meminfo at {MIN_SIZES} or more sizes; "
            f"found {len(runtime)} with meminfo at {len(sizes)} size(s) "
            "(boot more sizes with planner bootlab)"
        )
    if not runtime:
        raise CalibrationError("expected at least one boot with /proc/meminfo; found none", file=first.source)
    return arch, first_dmesg.memory.format == "2.6", runtime


def _freed_kib(s: _Sample, kind: str) -> int:
    """A boot's ``Freeing ... memory`` lines of one kind: ``initrd``, ``smp`` or ``init`` (the rest)."""
    assert s.evidence.dmesg is not None
    total = 0
    for f in s.evidence.dmesg.freed:
        what = f.what.lower()
        is_initrd = "initrd" in what
        is_smp = "smp alternatives" in what
        if (
            (kind == "initrd" and is_initrd)
            or (kind == "smp" and is_smp)
            or (kind == "init" and not is_initrd and not is_smp)
        ):
            total += f.size_kib
    return total


def _release_at_least(release: str | None, version: tuple[int, int]) -> bool:
    """Whether a ``uname -r`` such as ``6.12.95+deb12-cloud-amd64`` is at least ``version``."""
    m = re.match(r"(\d+)\.(\d+)", release or "")
    return m is not None and (int(m.group(1)), int(m.group(2))) >= version


def _structural(fit: _Fit, samples: list[_Sample], runtime: list[_Sample], era_2_6: bool) -> None:
    """Constants read straight from the logs, and the build's configuration."""
    arch = fit.draft.arch
    first = samples[0].evidence
    assert first.dmesg is not None and first.dmesg.memory is not None
    percpu_pages = [
        s.evidence.dmesg.percpu.pages_per_cpu for s in samples if s.evidence.dmesg and s.evidence.dmesg.percpu
    ]
    fit.set(
        "measured: 'percpu: Embedded N pages/cpu' x 4 KiB",
        percpu_kib_per_cpu=_mode([p * 4 for p in percpu_pages]) if percpu_pages else 0,
    )
    node_data = [kib for s in samples if s.evidence.dmesg for _, kib in s.evidence.dmesg.node_data]
    fit.set(
        "measured: 'NODE_DATA(N) allocated [mem A-B]'" if node_data else "not in the logs (no NUMA): 0",
        node_data_kib=_mode(node_data) if node_data else 0,
    )
    done = [s for s in runtime if s.evidence.dmesg and s.evidence.dmesg.run_init] or runtime
    fit.set(
        "measured: 'Freeing initrd memory' (reserved at the Memory: line, freed later)",
        initrd_kib=_mode([_freed_kib(s, "initrd") for s in done]),
    )
    freed_init_kib = _mode([_freed_kib(s, "init") for s in done])
    if era_2_6 and not any(s.evidence.dmesg and s.evidence.dmesg.freed for s in done):
        # an excerpt without the 'Freeing unused kernel memory' line: the Memory: line's init figure
        freed_init_kib = first.dmesg.memory.init_kib
    fit.set(
        "measured: every other 'Freeing ... memory' line after the Memory: line",
        freed_init_kib=freed_init_kib,
    )
    fit.set(
        "measured: 'Freeing SMP alternatives memory'",
        smp_alternatives_kib=max(_freed_kib(s, "smp") for s in done),
    )
    thp_modes = [s.evidence.thp_mode for s in runtime if s.spec.memory_kib >= 768 * 1024]
    if era_2_6:
        fit.set("2.6-era kernel: no transparent hugepages", thp_available=False)
    elif thp_modes:
        fit.set(
            "measured: /sys/kernel/mm/transparent_hugepage/enabled at >= 768 MiB",
            thp_available=any(m in ("always", "madvise") for m in thp_modes),
        )
    else:
        fit.set("config default (no boot at >= 768 MiB to measure it)", thp_available=arch == "x86_64")
    fit.set("config: Debian 6.1 " + arch, **ARCH_DEFAULTS[arch])
    fit.set("config: CONFIG_LOG_BUF_SHIFT=17", log_buf_default_kib=128)
    if _release_at_least(first.dmesg.release, (6, 10)):
        fit.set(
            "release >= 6.10: nr_kernel_pages from free memblock ranges "
            "(mm/mm_init.c calc_nr_kernel_pages())",
            hash_rules="6.10",
        )
    else:
        fit.set("config: alloc_large_system_hash() rules of 6.1", hash_rules="6.1")
    if era_2_6:
        _structural_2_6(fit, samples)


def _structural_2_6(fit: _Fit, samples: list[_Sample]) -> None:
    """A 2.6-era ``Memory:`` line (arch/x86_64/mm/init.c mem_init() @ v2.6.18): a physical PC with a
    flat memmap of 56-byte struct pages; the firmware keeps what the kernel never sees."""
    first = samples[0].evidence
    dmesg = first.dmesg
    assert dmesg is not None and dmesg.memory is not None
    present_kib = dmesg.memory.available_kib + dmesg.memory.reserved_kib
    buckets = {t.name: t.size_bytes // t.entries for t in dmesg.hash_tables if t.entries and t.size_printed}
    fit.draft = dataclasses.replace(fit.draft, machine="host")
    fit.set("2.6-era Memory: line: alloc_large_system_hash() rules of 2.6.18", hash_rules="2.6.18")
    fit.set("2.6.18 x86-64 struct page (include/linux/mm.h @ v2.6.18)", struct_page_bytes=56)
    fit.set("2.6.18 x86-64 THREAD_ORDER 1 (include/asm-x86_64/page.h)", thread_stack_kib=8)
    fit.set("2.6.18 x86-64: flat memmap per node (alloc_node_mem_map)", memmap_model="flat")
    fit.set(
        "measured: configured RAM - (available + reserved) of the Memory: line",
        firmware_kib=float((first.memory_kib or present_kib) - present_kib),
    )
    fit.set("2.6.18: no DMA atomic pools, no swiotlb below 4 GiB", dma_pool_count=0, swiotlb_available=False)
    fit.set(
        "measured: bytes / entries of the hash table line",
        tcp_ehash_bucket_bytes=buckets.get("TCP established", 16),
        tcp_bhash_bucket_bytes=buckets.get("TCP bind", 16),
        route_bucket_bytes=buckets.get("IP route cache", 8),
    )
    if dmesg.total_pages:
        # dma_reserve (pages below 16 MiB in use at boot) from the logged nr_kernel_pages
        layout = machine_layout(fit.draft, samples[0].spec.memory_kib, None, fit.params)
        without = nr_kernel_pages(layout, "2.6.18", struct_page_bytes=56, dma_reserve_pages=0)
        fit.set(
            "measured: modelled nr_kernel_pages - 'On node 0 totalpages'",
            dma_reserve_pages=max(without - dmesg.total_pages, 0),
        )


#: x86-64: knees tried for the direct-map slope (:func:`planner.kernel.reserved.direct_map_kib`),
#: 0..16 GiB [KiB]
DIRECT_MAP_KNEES_KIB = tuple(k * KIB_PER_GIB // 4 for k in range(65))


def _fit_reserved(fit: _Fit, samples: list[_Sample]) -> None:
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
        (image, slope), rms = _linear_fit(
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


def _fit_memtotal_offset(fit: _Fit, runtime: list[_Sample]) -> None:
    """MemTotal against physpages - reserved + what the log says was freed (the model's terms when silent)."""
    p = fit.params
    offsets = []
    for s in runtime:
        assert s.meminfo is not None
        freed = s.freed_total_kib or (p.initrd_kib + p.freed_init_kib + p.smp_alternatives_kib)
        present = reserved_terms(fit.draft, s.spec, p).layout.present_kib
        offsets.append(s.meminfo["MemTotal"] - (present - s.reserved_kib + freed))
    (adjust,), _ = _linear_fit([[1.0]] * len(offsets), offsets, ["memtotal_adjust_kib"])
    how = f"least_squares: MemTotal - (physpages - reserved + freed) over {len(offsets)} boots"
    fit.set(how, memtotal_adjust_kib=adjust)


def _meminfo(s: _Sample, key: str) -> float:
    assert s.meminfo is not None
    return float(s.meminfo.get(key, 0))


def _user_kib(s: _Sample) -> float:
    """User space and page cache: anonymous pages, buffers, file cache (not shmem)."""
    return _meminfo(s, "AnonPages") + _meminfo(s, "Buffers") + _meminfo(s, "Cached") - _meminfo(s, "Shmem")


def _vmalloc_hash_kib(fit: _Fit, s: _Sample) -> float:
    """The boot's hash tables that ``VmallocUsed`` counts (``vmalloc``: order >= MAX_ORDER, or
    ``hashdist`` on several NUMA nodes), as the model sizes them. [KiB]"""
    tables = reserved_terms(fit.draft, s.spec, fit.params).hash_tables
    return float(sum(t.size_kib for t in tables if t.vmalloc))


def _fit_runtime(fit: _Fit, runtime: list[_Sample]) -> None:
    """The idle runtime from /proc/meminfo and /proc/zoneinfo: constants plus per-vCPU slopes."""
    n = len(runtime)
    extra = [[1.0, float(s.spec.vcpu_count - 1)] for s in runtime]
    (slab, slab_v), _ = _linear_fit(extra, [_meminfo(s, "Slab") for s in runtime], ["slab", "per_vcpu"])
    (srecl, _), _ = _linear_fit(extra, [_meminfo(s, "SReclaimable") for s in runtime], ["srecl", "per_vcpu"])
    (stacks, stacks_v), _ = _linear_fit(
        extra, [_meminfo(s, "KernelStack") for s in runtime], ["stacks", "per_vcpu"]
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
        _meminfo(s, "VmallocUsed") - _meminfo(s, "KernelStack") - _vmalloc_hash_kib(fit, s) for s in runtime
    ]
    (vmalloc, vmalloc_inv), _ = _linear_fit(inverse, vm_y, ["vmalloc", "per_inverse_cpu"])
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
        used = _meminfo(s, "MemTotal") - _meminfo(s, "MemFree") - _user_kib(s)
        other_y.append(
            used
            - _meminfo(s, "Slab")
            - (_meminfo(s, "VmallocUsed") - _vmalloc_hash_kib(fit, s))
            - run.hash_late_kib
            - dma_pools_kib(fit.params.dma_pool_count, rt.totalram_at_print_kib)
            - pcp_measured
        )
    (other, other_v), rms_other = _linear_fit(extra, other_y, ["other", "per_vcpu"])
    fit.set(
        f"least_squares: MemTotal - MemFree - named terms over {n} boots (rms {rms_other:.0f} KiB)",
        other_kib=other,
        other_kib_per_vcpu=other_v,
    )


def _fit_pcp(fit: _Fit, runtime: list[_Sample]) -> None:
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
        (pcp, pcp_gib, pcp_v), _ = _linear_fit(rows, y, ["pcp", "per_gib", "per_vcpu"])
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


def _fit_footprint(fit: _Fit, samples: list[_Sample]) -> None:
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
    (base, per_vcpu, per_node), rms = _linear_fit(
        rows, y, ["footprint_base_kib", "footprint_kib_per_vcpu", "footprint_kib_per_node"]
    )
    fit.set(
        f"least_squares: bootlab resident guest RAM - touched over {len(y)} boots (rms {rms:.0f} KiB)",
        footprint_base_kib=base,
        footprint_kib_per_vcpu=per_vcpu,
        footprint_kib_per_node=per_node,
    )


def _log_record(s: _Sample, result: Calibration) -> LogRecord:
    """One log's measured values beside the model's, for the residuals."""
    measured = {"reserved_kib": s.reserved_kib}
    try:
        p = predict(result, s.spec, out_of_range="ignore")
        modelled = {
            "reserved_kib": p.reserved_kib,
            "mem_total_kib": p.mem_total_kib,
            "mem_free_kib": p.mem_free_kib,
            "mem_available_kib": p.mem_available_kib,
        }
    except InfeasibleError:  # a boot the model says leaves nothing (an OOM panic): keep its reserved residual
        modelled = {"reserved_kib": round(reserved_terms(result, s.spec).reserved_kib)}
    if s.meminfo is not None:
        for key, field_name in (
            ("mem_total_kib", "MemTotal"),
            ("mem_free_kib", "MemFree"),
            ("mem_available_kib", "MemAvailable"),
        ):
            if field_name in s.meminfo:
                measured[key] = s.meminfo[field_name]
    return LogRecord(
        source=s.evidence.source,
        sha256=s.evidence.sha256,
        memory_kib=s.spec.memory_kib,
        vcpu_count=s.spec.vcpu_count,
        cmdline=s.spec.cmdline,
        measured=measured,
        modelled={k: v for k, v in modelled.items() if k in measured},
    )


def calibrate(
    evidences: Sequence[Evidence],
    *,
    name: str,
    description: str = "",
    partial: bool = False,
) -> Calibration:
    """Fit a :class:`Calibration` to the evidence of one kernel build.

    Parameters
    ----------
    evidences
        Parsed boots (``planner.evidence.bundle.load_evidence``); each needs a
        ``Memory:`` line and its configured RAM. Logs with /proc/meminfo feed the
        runtime terms; failed boots (OOM panics) still feed the ``reserved`` fit.
    name
        The calibration's name (``debian12-cloud-amd64``).
    description
        One line for listings (default: derived from the logs).
    partial
        Allow a single boot size: the RAM-dependent constants fall back to 0 and the
        calibration says it is partial.

    Raises
    ------
    CalibrationError
        Logs of different kernel builds or architectures, or too few to fit.
    """
    if not evidences:
        raise CalibrationError("expected at least one log; found none")
    samples = _samples(evidences)
    arch, era_2_6, runtime = _check_logs(samples, partial)
    first = samples[0].evidence
    assert first.dmesg is not None
    release = first.dmesg.release or ""
    fit = _Fit(
        Calibration(
            name, release, arch, KernelParameters(), CalibratedRange(0, 2**62, 1, 1024), machine=first.machine
        )
    )
    _structural(fit, samples, runtime, era_2_6)
    _fit_reserved(fit, samples)
    _fit_memtotal_offset(fit, runtime)
    _fit_runtime(fit, runtime)
    _fit_footprint(fit, samples)
    cal_range = CalibratedRange(
        min_memory_kib=min(s.spec.memory_kib for s in runtime),
        max_memory_kib=max(s.spec.memory_kib for s in runtime),
        min_vcpu_count=min(s.spec.vcpu_count for s in runtime),
        max_vcpu_count=max(s.spec.vcpu_count for s in runtime),
    )
    result = dataclasses.replace(
        fit.draft,
        calibrated_range=cal_range,
        linux_version=first.dmesg.linux_version or "",
        description=description
        or f"{release or 'unknown release'} ({arch}) calibrated on {len(samples)} boots, "
        f"{format_kib(cal_range.min_memory_kib)}..{format_kib(cal_range.max_memory_kib)}",
        partial=partial and len({s.spec.memory_kib for s in samples}) < MIN_SIZES,
        min_boot_memory_kib=cal_range.min_memory_kib,
        parameter_sources=dict(fit.sources),
    )
    return dataclasses.replace(result, logs=tuple(_log_record(s, result) for s in samples))
