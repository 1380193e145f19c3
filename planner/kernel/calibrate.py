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
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from planner.errors import CalibrationError, EvidenceError
from planner.evidence.dmesg import require_memory_line
from planner.evidence.records import Evidence
from planner.kernel.calibration import (
    CalibratedRange,
    Calibration,
    KernelParameters,
    LogRecord,
)
from planner.kernel.layout import nr_kernel_pages
from planner.kernel.model import (
    GuestSpec,
    dma_pools_kib,
    machine_layout,
    predict,
    reserved_terms,
    runtime_terms,
)
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


def calibrate(
    evidences: Sequence[Evidence],
    *,
    name: str,
    description: str = "",
    partial: bool = False,
    progress: Callable[[str], None] | None = None,
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
    partial
        Allow a single boot: the RAM-dependent constants fall back to 0 and the
        calibration says it is partial.

    Raises
    ------
    CalibrationError
        Logs of different kernel builds or architectures, or too few to fit.
    """
    if not evidences:
        raise CalibrationError("expected at least one log; found none")
    samples = _samples(evidences)
    first = samples[0].evidence
    first_dmesg = first.dmesg
    assert first_dmesg is not None  # _samples() checked every log
    arch = first_dmesg.arch
    first_memory = first_dmesg.memory
    assert first_memory is not None
    era_2_6 = first_memory.format == "2.6"
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
    say = progress or (lambda _msg: None)
    sources_used: dict[str, str] = {}
    defaults = dict(ARCH_DEFAULTS[arch])

    # --- structural constants, read from the logs ----------------------------------------------
    percpu_pages = [
        s.evidence.dmesg.percpu.pages_per_cpu for s in samples if s.evidence.dmesg and s.evidence.dmesg.percpu
    ]
    percpu_kib = _mode([p * 4 for p in percpu_pages]) if percpu_pages else 0
    sources_used["percpu_kib_per_cpu"] = "measured: 'percpu: Embedded N pages/cpu' x 4 KiB"

    def freed(s: _Sample, kind: str) -> int:
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

    done = [s for s in runtime if s.evidence.dmesg and s.evidence.dmesg.run_init] or runtime
    initrd_kib = _mode([freed(s, "initrd") for s in done])
    freed_init_kib = _mode([freed(s, "init") for s in done])
    if era_2_6 and not any(s.evidence.dmesg and s.evidence.dmesg.freed for s in done):
        # an excerpt without the 'Freeing unused kernel memory' line: the Memory: line's init figure
        freed_init_kib = first_memory.init_kib
    smp_kib = max(freed(s, "smp") for s in done)
    sources_used["initrd_kib"] = (
        "measured: 'Freeing initrd memory' (reserved at the Memory: line, freed later)"
    )
    sources_used["freed_init_kib"] = "measured: every other 'Freeing ... memory' line after the Memory: line"
    sources_used["smp_alternatives_kib"] = "measured: 'Freeing SMP alternatives memory'"
    thp_modes = [s.evidence.thp_mode for s in runtime if s.spec.memory_kib >= 768 * 1024]
    if era_2_6:
        thp_available = False
        sources_used["thp_available"] = "2.6-era kernel: no transparent hugepages"
    elif thp_modes:
        thp_available = any(m in ("always", "madvise") for m in thp_modes)
        sources_used["thp_available"] = "measured: /sys/kernel/mm/transparent_hugepage/enabled at >= 768 MiB"
    else:
        thp_available = arch == "x86_64"
        sources_used["thp_available"] = "config default (no boot at >= 768 MiB to measure it)"
    for key in defaults:
        sources_used[key] = "config: Debian 6.1 " + arch
    sources_used["log_buf_default_kib"] = "config: CONFIG_LOG_BUF_SHIFT=17"
    sources_used["hash_rules"] = "config: alloc_large_system_hash() rules of 6.1"
    era: dict[str, object] = {}
    machine: str | None = first.machine
    if era_2_6:
        # 2.6-era 'Memory:' line (arch/x86_64/mm/init.c mem_init() @ v2.6.18): a physical PC with a flat
        # memmap of 56-byte struct pages; the firmware keeps what the kernel never sees
        present_kib = first_memory.available_kib + first_memory.reserved_kib
        tcp = {
            t.name: t.size_bytes // t.entries for t in first_dmesg.hash_tables if t.entries and t.size_printed
        }
        era = {
            "hash_rules": "2.6.18",
            "struct_page_bytes": 56,
            "thread_stack_kib": 8,
            "memmap_model": "flat",
            "firmware_kib": float((first.memory_kib or present_kib) - present_kib),
            "dma_pool_count": 0,
            "swiotlb_available": False,
            "tcp_ehash_bucket_bytes": tcp.get("TCP established", 16),
            "tcp_bhash_bucket_bytes": tcp.get("TCP bind", 16),
            "route_bucket_bytes": tcp.get("IP route cache", 8),
        }
        machine = "host"
        sources_used["hash_rules"] = "2.6-era Memory: line: alloc_large_system_hash() rules of 2.6.18"
        sources_used["struct_page_bytes"] = "2.6.18 x86-64 struct page (include/linux/mm.h @ v2.6.18)"
        sources_used["thread_stack_kib"] = "2.6.18 x86-64 THREAD_ORDER 1 (include/asm-x86_64/page.h)"
        sources_used["memmap_model"] = "2.6.18 x86-64: flat memmap per node (alloc_node_mem_map)"
        sources_used["firmware_kib"] = "measured: configured RAM - (available + reserved) of the Memory: line"
        for key in ("tcp_ehash_bucket_bytes", "tcp_bhash_bucket_bytes", "route_bucket_bytes"):
            sources_used[key] = "measured: bytes / entries of the hash table line"
        defaults.update(dma_pool_count=0, swiotlb_available=False)

    base = KernelParameters(
        percpu_kib_per_cpu=percpu_kib,
        freed_init_kib=freed_init_kib,
        smp_alternatives_kib=smp_kib,
        initrd_kib=initrd_kib,
        thp_available=thp_available,
        **{**defaults, **era},  # type: ignore[arg-type]
    )
    draft = Calibration(
        name, first_dmesg.release or "", arch, base, CalibratedRange(0, 2**62, 1, 1024), machine=machine
    )
    if era_2_6 and first_dmesg.total_pages:
        # dma_reserve (pages below 16 MiB in use at boot) from the logged nr_kernel_pages
        layout = machine_layout(draft, samples[0].spec.memory_kib, None, base)
        without = nr_kernel_pages(layout, "2.6.18", struct_page_bytes=56, dma_reserve_pages=0)
        base = dataclasses.replace(base, dma_reserve_pages=max(without - first_dmesg.total_pages, 0))
        sources_used["dma_reserve_pages"] = "measured: modelled nr_kernel_pages - 'On node 0 totalpages'"
        draft = dataclasses.replace(draft, parameters=base)

    # --- reserved: image + direct map slope, least squares over every Memory: line ------------------
    say(f"fitting reserved on {len(samples)} logs")
    rows, y = [], []
    for s in samples:
        zero = reserved_terms(draft, s.spec, base)
        fixed = zero.reserved_kib
        gib = zero.layout.present_kib / KIB_PER_GIB
        rows.append([1.0, gib])
        y.append(s.reserved_kib - fixed)
    (image, slope), rms = _linear_fit(
        rows, y, ["image_reserved_kib", "direct_map_kib_per_gib"], lower=[0.0, 0.0]
    )
    if len(sizes) < MIN_SIZES:
        slope = 0.0
        image = statistics.fmean(y)
    base = dataclasses.replace(base, image_reserved_kib=image, direct_map_kib_per_gib=slope)
    sources_used["image_reserved_kib"] = (
        f"least_squares: dmesg reserved over {len(samples)} logs (rms {rms:.0f} KiB)"
    )
    sources_used["direct_map_kib_per_gib"] = sources_used["image_reserved_kib"]

    def freed_after(s: _Sample) -> float:
        """What the log says was freed after the Memory: line (the model's terms when it says nothing)."""
        return s.freed_total_kib or (base.initrd_kib + base.freed_init_kib + base.smp_alternatives_kib)

    # --- MemTotal offset --------------------------------------------------------------------------
    offsets = [
        s.meminfo["MemTotal"]
        - (reserved_terms(draft, s.spec, base).layout.present_kib - s.reserved_kib + freed_after(s))
        for s in runtime
        if s.meminfo is not None
    ]
    (adjust,), _ = _linear_fit([[1.0]] * len(offsets), offsets, ["memtotal_adjust_kib"])
    base = dataclasses.replace(base, memtotal_adjust_kib=adjust)
    sources_used["memtotal_adjust_kib"] = (
        f"least_squares: MemTotal - (physpages - reserved + freed) over {len(offsets)} boots"
    )

    # --- runtime terms ------------------------------------------------------------------------------
    say(f"fitting the idle runtime on {len(runtime)} boots")
    draft = dataclasses.replace(draft, parameters=base)

    def meminfo(s: _Sample, key: str) -> float:
        assert s.meminfo is not None
        return float(s.meminfo.get(key, 0))

    def user_kib(s: _Sample) -> float:
        """User space and page cache: anonymous pages, buffers, file cache (not shmem)."""
        return meminfo(s, "AnonPages") + meminfo(s, "Buffers") + meminfo(s, "Cached") - meminfo(s, "Shmem")

    extra = [[1.0, float(s.spec.vcpu_count - 1)] for s in runtime]
    (slab, slab_v), _ = _linear_fit(extra, [meminfo(s, "Slab") for s in runtime], ["slab", "per_vcpu"])
    (srecl, _), _ = _linear_fit(extra, [meminfo(s, "SReclaimable") for s in runtime], ["srecl", "per_vcpu"])
    (stacks, stacks_v), _ = _linear_fit(
        extra, [meminfo(s, "KernelStack") for s in runtime], ["stacks", "per_vcpu"]
    )
    possible_inv = []
    for s in runtime:
        rt = reserved_terms(draft, s.spec, base)
        possible_inv.append([1.0, 1.0 / rt.possible_cpu_count])
    vm_y = [meminfo(s, "VmallocUsed") - meminfo(s, "KernelStack") for s in runtime]
    (vmalloc, vmalloc_inv), _ = _linear_fit(possible_inv, vm_y, ["vmalloc", "per_inverse_cpu"])
    base = dataclasses.replace(
        base,
        slab_kib=slab,
        slab_kib_per_vcpu=slab_v,
        sreclaimable_kib=srecl,
        kernel_stacks_kib=stacks,
        kernel_stacks_kib_per_vcpu=stacks_v,
        vmalloc_kib=vmalloc,
        vmalloc_kib_cpu_inverse=vmalloc_inv,
    )
    n = len(runtime)
    for key in (
        "slab_kib",
        "slab_kib_per_vcpu",
        "sreclaimable_kib",
        "kernel_stacks_kib",
        "kernel_stacks_kib_per_vcpu",
    ):
        sources_used[key] = f"least_squares: /proc/meminfo over {n} boots (constant + per-vCPU slope)"
    sources_used["vmalloc_kib"] = (
        f"least_squares: VmallocUsed - KernelStack over {n} boots (a + b / possible CPUs)"
    )
    sources_used["vmalloc_kib_cpu_inverse"] = sources_used["vmalloc_kib"]

    # per-CPU lists: the fill where the boot-time frees cannot reach the cap, the cap's fraction elsewhere
    pcp_rows, pcp_y, pcp_ratios = [], [], []
    for s in runtime:
        if s.pcp_kib is None:
            continue
        rt = reserved_terms(draft, s.spec, base)
        low_kib = runtime_terms(draft, s.spec, rt, base).watermarks.low_kib
        if s.freed_total_kib < PCP_FILL_BELOW * low_kib:
            pcp_rows.append([1.0, rt.layout.present_kib / KIB_PER_GIB, float(s.spec.vcpu_count - 1)])
            pcp_y.append(float(s.pcp_kib))
        elif low_kib:
            pcp_ratios.append(s.pcp_kib / low_kib)
    pcp = pcp_gib = pcp_v = 0.0
    pcp_fraction = statistics.median(pcp_ratios) if pcp_ratios else 1.0
    if pcp_y:
        (pcp, pcp_gib, pcp_v), _ = _linear_fit(pcp_rows, pcp_y, ["pcp", "per_gib", "per_vcpu"])
        sources_used["pcp_kib"] = (
            f"least_squares: /proc/zoneinfo pageset counts of {len(pcp_y)} boots below the cap"
        )
    elif pcp_ratios:
        pcp = float(max(s.pcp_kib or 0 for s in runtime))
        sources_used["pcp_kib"] = "measured: largest /proc/zoneinfo pageset count (every boot at the cap)"
    else:
        sources_used["pcp_kib"] = "not measured (no /proc/zoneinfo in the logs): 0"
    for key in ("pcp_kib_per_gib", "pcp_kib_per_vcpu"):
        sources_used[key] = sources_used["pcp_kib"]
    sources_used["pcp_low_fraction"] = (
        f"measured: median pageset count / low watermarks over {len(pcp_ratios)} boots at the cap"
        if pcp_ratios
        else "default: the cap is the low watermarks"
    )
    base = dataclasses.replace(
        base, pcp_kib=pcp, pcp_kib_per_gib=pcp_gib, pcp_kib_per_vcpu=pcp_v, pcp_low_fraction=pcp_fraction
    )

    # everything else used at idle: MemTotal - MemFree minus the named terms
    other_y = []
    for s in runtime:
        rt = reserved_terms(draft, s.spec, base)
        run = runtime_terms(draft, s.spec, rt, base)
        pcp_measured = s.pcp_kib if s.pcp_kib is not None else run.pcp_kib
        used = meminfo(s, "MemTotal") - meminfo(s, "MemFree") - user_kib(s)
        other_y.append(
            used
            - meminfo(s, "Slab")
            - meminfo(s, "VmallocUsed")
            - run.hash_late_kib
            - dma_pools_kib(base.dma_pool_count, rt.totalram_at_print_kib)
            - pcp_measured
        )
    (other, other_v), rms_other = _linear_fit(extra, other_y, ["other", "per_vcpu"])
    base = dataclasses.replace(base, other_kib=other, other_kib_per_vcpu=other_v)
    sources_used["other_kib"] = (
        f"least_squares: MemTotal - MemFree - named terms over {n} boots (rms {rms_other:.0f} KiB)"
    )
    sources_used["other_kib_per_vcpu"] = sources_used["other_kib"]

    # --- result, with per-log residuals ---------------------------------------------------------------
    dumps = [s for s in runtime]
    cal_range = CalibratedRange(
        min_memory_kib=min(s.spec.memory_kib for s in dumps),
        max_memory_kib=max(s.spec.memory_kib for s in dumps),
        min_vcpu_count=min(s.spec.vcpu_count for s in dumps),
        max_vcpu_count=max(s.spec.vcpu_count for s in dumps),
    )
    result = Calibration(
        name=name,
        kernel_release=first_dmesg.release or "",
        arch=arch,
        parameters=base,
        calibrated_range=cal_range,
        machine=machine,
        linux_version=first_dmesg.linux_version or "",
        description=description
        or f"{first_dmesg.release or 'unknown release'} ({arch}) calibrated on {len(samples)} boots, "
        f"{format_kib(cal_range.min_memory_kib)}..{format_kib(cal_range.max_memory_kib)}",
        partial=partial and len(sizes) < MIN_SIZES,
        min_boot_memory_kib=cal_range.min_memory_kib,
        parameter_sources=sources_used,
    )
    logs = []
    for s in samples:
        measured = {"reserved_kib": s.reserved_kib}
        modelled: dict[str, int] = {}
        try:
            p = predict(result, s.spec, out_of_range="ignore")
            modelled = {
                "reserved_kib": p.reserved_kib,
                "mem_total_kib": p.mem_total_kib,
                "mem_free_kib": p.mem_free_kib,
                "mem_available_kib": p.mem_available_kib,
            }
        except CalibrationError:
            raise
        except Exception as err:  # a log the model says cannot boot: keep the reserved residual
            if "too small" not in str(err):
                raise
            modelled = {"reserved_kib": round(reserved_terms(result, s.spec).reserved_kib)}
        if s.meminfo is not None:
            for key, field_name in (
                ("mem_total_kib", "MemTotal"),
                ("mem_free_kib", "MemFree"),
                ("mem_available_kib", "MemAvailable"),
            ):
                if field_name in s.meminfo:
                    measured[key] = s.meminfo[field_name]
        logs.append(
            LogRecord(
                source=s.evidence.source,
                sha256=s.evidence.sha256,
                memory_kib=s.spec.memory_kib,
                vcpu_count=s.spec.vcpu_count,
                cmdline=s.spec.cmdline,
                measured=measured,
                modelled={k: v for k, v in modelled.items() if k in measured},
            )
        )
    return dataclasses.replace(result, logs=tuple(logs))
