"""The kernel memory model: where every KiB of a machine's RAM goes.

``predict(calibration, GuestSpec(...))`` is pure and deterministic. All
quantities are KiB. The terms, each computed in its own module with its sources
(reference kernel-memory-facts.md and bootlab-debian-6.1.md):

Outside MemTotal (the dmesg ``Memory:`` line's ``reserved``): :mod:`planner.kernel.reserved`
    ``mem_limit``, ``firmware``, ``kernel_image``, ``direct_map``, ``memmap``,
    ``hash_tables_early``, ``percpu``, ``swiotlb``, ``crashkernel``, ``log_buffer``.
Inside MemTotal, used at idle after boot: :mod:`planner.kernel.runtime`
    ``hash_tables_late``, ``slab``, ``kernel_stacks``, ``vmalloc``, ``runtime_other``.
Not available to user space
    ``reserves``: ``totalreserve_pages`` (high watermarks + lowmem reserves),
    from ``min_free_kbytes`` with the THP rule (:mod:`planner.kernel.watermarks`,
    zones from :mod:`planner.kernel.zones`), less the share of reclaimable slab
    that ``MemAvailable`` counts.

The host kernel's own memory per NUMA node is :func:`planner.kernel.host.predict_host`.
Constants are calibrated per kernel build from real boot logs (:mod:`planner.kernel.calibrate`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from planner.errors import InfeasibleError, InputError, OutOfRangeWarning
from planner.kernel.calibration import Calibration
from planner.kernel.hashtables import HashTableSize
from planner.kernel.reserved import ReservedTerms, cma_kib, reserved_terms
from planner.kernel.runtime import RuntimeTerms, runtime_terms
from planner.kernel.spec import GuestSpec
from planner.kernel.watermarks import mem_available_kib
from planner.units import format_kib

#: the model's front door: ``predict(calibration, GuestSpec(...)) -> Prediction``
__all__ = ["TERMS", "GuestSpec", "OutOfRange", "Prediction", "predict", "workload_kernel_kib"]

OutOfRange = Literal["warn", "raise", "ignore"]

#: breakdown terms in display order; with ``mem_available_kib`` they add up to ``memory_kib``
TERMS = (
    "mem_limit",
    "firmware",
    "kernel_image",
    "direct_map",
    "memmap",
    "hash_tables_early",
    "percpu",
    "swiotlb",
    "crashkernel",
    "log_buffer",
    "hash_tables_late",
    "slab",
    "kernel_stacks",
    "vmalloc",
    "runtime_other",
    "reserves",
)

#: page tables of a resident set: one 8-byte entry per 4 KiB page
PAGE_TABLE_RAM_DIVISOR = 512


@dataclass(frozen=True)
class Prediction:
    """Where every KiB goes, for one :class:`GuestSpec`."""

    calibration: str
    spec: GuestSpec
    memory_kib: int
    present_kib: int
    reserved_kib: int
    mem_total_kib: int
    mem_free_kib: int
    mem_available_kib: int
    breakdown_kib: dict[str, int]
    hash_tables: tuple[HashTableSize, ...]
    min_free_kbytes: int
    thp_active: bool
    in_range: bool
    notes: tuple[str, ...] = ()
    cma_kib: int = 0

    @property
    def kernel_kib(self) -> int:
        """Everything the guest kernel keeps from user space (not RAM hidden by ``mem=``). [KiB]"""
        return self.memory_kib - self.mem_available_kib - self.breakdown_kib.get("mem_limit", 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration,
            "memory_kib": self.memory_kib,
            "vcpu_count": self.spec.vcpu_count,
            "possible_cpu_count": self.spec.possible_cpu_count or self.spec.vcpu_count,
            "cmdline": self.spec.cmdline,
            "machine": self.spec.machine,
            "present_kib": self.present_kib,
            "reserved_kib": self.reserved_kib,
            "mem_total_kib": self.mem_total_kib,
            "mem_free_kib": self.mem_free_kib,
            "mem_available_kib": self.mem_available_kib,
            "kernel_kib": self.kernel_kib,
            "breakdown_kib": dict(self.breakdown_kib),
            "hash_tables": [
                {
                    "name": t.name,
                    "entries": t.entries,
                    "size_bytes": t.size_bytes,
                    "early": t.early,
                    "vmalloc": t.vmalloc,
                }
                for t in self.hash_tables
            ],
            "min_free_kbytes": self.min_free_kbytes,
            "thp_active": self.thp_active,
            "cma_kib": self.cma_kib,
            "in_range": self.in_range,
            "notes": list(self.notes),
        }


def _check_range(
    calibration: Calibration, spec: GuestSpec, policy: OutOfRange
) -> tuple[bool, tuple[str, ...]]:
    rng = calibration.calibrated_range
    problems = []
    if not rng.covers_memory(spec.memory_kib):
        problems.append(
            f"{format_kib(spec.memory_kib)} is outside the calibrated range "
            f"{format_kib(rng.min_memory_kib)}..{format_kib(rng.max_memory_kib)} of {calibration.name}"
        )
    if not rng.covers_vcpus(spec.vcpu_count):
        problems.append(
            f"{spec.vcpu_count} vCPUs is outside the calibrated range "
            f"{rng.min_vcpu_count}..{rng.max_vcpu_count} of {calibration.name}"
        )
    if calibration.partial:
        problems.append(
            f"{calibration.name} is a partial calibration (one boot): only its own size is measured"
        )
    if problems and policy == "raise":
        raise InputError("; ".join(problems) + " (use a wider calibration, or drop --strict)", field="memory")
    if problems and policy == "warn":
        for problem in problems:
            warnings.warn(problem, OutOfRangeWarning, stacklevel=3)
    return not problems, tuple(problems)


def predict(calibration: Calibration, spec: GuestSpec, *, out_of_range: OutOfRange = "warn") -> Prediction:
    """Predict MemTotal, MemAvailable and the full breakdown for one guest.

    Parameters
    ----------
    calibration
        The kernel build's calibration.
    spec
        RAM, vCPUs, kernel command line and machine.
    out_of_range
        Policy outside the calibrated range: ``"warn"`` (OutOfRangeWarning),
        ``"raise"`` (InputError) or ``"ignore"``.

    Raises
    ------
    InfeasibleError
        When the kernel cannot fit at all (reserved exceeds RAM, nothing left).
    """
    _check_cpus(spec)
    rt = reserved_terms(calibration, spec)
    run = runtime_terms(calibration, spec, rt)
    mem_total = round(rt.mem_total_kib)
    mem_free = round(rt.mem_total_kib - run.used_kib)
    if rt.totalram_at_print_kib <= 0 or mem_free <= 0:
        raise InfeasibleError(
            f"{format_kib(spec.memory_kib)} is too small for {calibration.name}: the kernel needs "
            f"{format_kib(round(rt.reserved_kib + run.used_kib - rt.freed_kib))} before user space"
            + (
                f" (smallest size seen to boot: {format_kib(calibration.min_boot_memory_kib)})"
                if calibration.min_boot_memory_kib
                else ""
            ),
            field="memory",
        )
    in_range, range_notes = _check_range(calibration, spec, out_of_range)
    available = mem_available_kib(mem_free, run.watermarks, reclaimable_kib=round(run.sreclaimable_kib))
    return Prediction(
        calibration=calibration.name,
        spec=spec,
        memory_kib=spec.memory_kib,
        present_kib=rt.layout.present_kib,
        reserved_kib=round(rt.reserved_kib),
        mem_total_kib=mem_total,
        mem_free_kib=mem_free,
        mem_available_kib=available,
        breakdown_kib=_breakdown(spec, rt, run, mem_free, available),
        hash_tables=rt.hash_tables,
        min_free_kbytes=run.watermarks.min_free_kbytes,
        thp_active=run.watermarks.thp_active,
        in_range=in_range,
        notes=range_notes + rt.notes,
        cma_kib=cma_kib(calibration, spec.machine, rt.cmdline),
    )


def _check_cpus(spec: GuestSpec) -> None:
    """At least one vCPU, and no fewer possible CPUs than online ones."""
    if spec.vcpu_count < 1:
        raise InputError(f"expected at least 1 vCPU; found {spec.vcpu_count}", field="vcpus")
    if spec.possible_cpu_count is not None and spec.possible_cpu_count < spec.vcpu_count:
        raise InputError(
            f"expected at least as many possible CPUs as online vCPUs ({spec.vcpu_count}); "
            f"found {spec.possible_cpu_count}",
            field="possible-cpus",
        )


def _breakdown(
    spec: GuestSpec, rt: ReservedTerms, run: RuntimeTerms, mem_free: int, available: int
) -> dict[str, int]:
    """The :data:`TERMS` in whole KiB, adding up with MemAvailable to the guest's RAM: the
    reserved and runtime terms, then ``reserves`` (what MemFree holds back from MemAvailable,
    ``si_mem_available()`` @ v6.1, :func:`planner.kernel.watermarks.mem_available_kib`), less the
    reclaimable slab it counts."""
    reclaim_credit = run.sreclaimable_kib - min(run.sreclaimable_kib // 2, run.watermarks.low_kib)
    t = rt.terms_kib
    kernel_image = t["image"] + t.get("zero_pages", 0.0) - (rt.freed_kib - t["initrd"])
    raw: dict[str, float] = {
        "mem_limit": rt.hidden_kib,
        "firmware": rt.layout.firmware_kib - rt.hidden_kib,
        "kernel_image": kernel_image,
        "direct_map": t["direct_map"],
        "memmap": t["memmap"],
        "hash_tables_early": t["hash_early"],
        "percpu": t["percpu"],
        "swiotlb": t["swiotlb"],
        "crashkernel": t["crashkernel"],
        "log_buffer": t["log_buffer"],
        "hash_tables_late": run.hash_late_kib,
        "slab": run.slab_kib - reclaim_credit,
        "kernel_stacks": run.kernel_stacks_kib,
        "vmalloc": run.vmalloc_kib,
        "runtime_other": run.other_kib + run.dma_pools_kib + run.pcp_kib,
    }
    credit = round(reclaim_credit)
    breakdown = _round_to_total(
        {k: raw[k] for k in TERMS if k != "reserves"}, spec.memory_kib - mem_free - credit
    )
    breakdown["reserves"] = mem_free - available + credit
    return breakdown


def workload_kernel_kib(calibration: Calibration, user_memory_kib: int, thread_count: int) -> int:
    """What a workload makes its guest kernel spend: thread stacks and page tables. [KiB]

    ``thread_count * THREAD_SIZE + ceil(user_memory_kib / 512)`` (DESIGN.md "Usable by
    the application"): a 16 KiB stack per thread on x86-64 and s390x since 3.15
    (``arch/x86/include/asm/page_64_types.h`` @ v6.1; 8 KiB on 2.6.18), and one 8-byte
    page-table entry per 4 KiB page of its resident memory (upper levels are below
    0.2 % of that and left out). Socket buffers are workload-specific: state them in
    the workload's user memory.
    """
    return thread_count * calibration.parameters.thread_stack_kib + -(
        -user_memory_kib // PAGE_TABLE_RAM_DIVISOR
    )


def _round_to_total(values: dict[str, float], total: int) -> dict[str, int]:
    """Round each term to whole KiB so that they add up to ``total`` exactly (largest remainder)."""
    floors = {k: math.floor(v) for k, v in values.items()}
    rest = total - sum(floors.values())
    order = sorted(values, key=lambda k: values[k] - floors[k], reverse=True)
    if order:  # one KiB to each in turn, largest remainder first, until the rest is used up
        rounds, extra = divmod(abs(rest), len(order))
        step = 1 if rest >= 0 else -1
        for i, key in enumerate(order):
            floors[key] += step * (rounds + (1 if i < extra else 0))
    return floors
