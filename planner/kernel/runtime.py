"""The kernel model's terms inside MemTotal, used at idle after boot, and the watermarks.

All quantities are KiB. The terms (reference kernel-memory-facts.md and bootlab-debian-6.1.md):

``hash_tables_late``: every boot-time hash table but Dentry and Inode (computed,
:mod:`planner.kernel.hashtables`);
``slab``, ``kernel_stacks``, ``vmalloc``: calibrated constants plus per-vCPU
slopes (the vmalloc term shrinks with more possible CPUs: the memcg map of
the first dynamic per-CPU chunk, 2 MiB / possible CPUs on x86-64) [1];
``runtime_other``: page tables, dynamic per-CPU chunks, ftrace, the
initramfs, DMA atomic pools (``kernel/dma/pool.c``: 128 KiB per GiB, 128 KiB
to 4 MiB each) and free pages parked on per-CPU lists [1];
the watermarks (:mod:`planner.kernel.watermarks`) from the zones' managed pages
(:func:`planner.kernel.zones.zone_managed_at_init`).

[1] calibrated per kernel build from real boot logs (:mod:`planner.kernel.calibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.kernel.calibration import Calibration, KernelParameters
from planner.kernel.cmdline import Cmdline
from planner.kernel.percpu import memcg_percpu_map_kib
from planner.kernel.reserved import ReservedTerms
from planner.kernel.spec import GuestSpec
from planner.kernel.tuning_facts import parse_version
from planner.kernel.watermarks import Watermarks, watermarks
from planner.kernel.zones import zone_managed_at_init
from planner.units import KIB_PER_GIB, PAGE_KIB

#: commit faf65dde844a (v5.14): every dynamic per-CPU chunk carries a memcg map
MEMCG_PERCPU_MAP_SINCE = (5, 14)
#: DMA atomic pool bounds (kernel/dma/pool.c dma_atomic_pool_init() @ v6.1) [KiB]
DMA_POOL_MIN_KIB = 128
DMA_POOL_MAX_KIB = 4096


def dma_pools_kib(count: int, totalram_kib: float, coherent_pool_kib: int | None = None) -> int:
    """DMA atomic pools: per pool 128 KiB per GiB of RAM, 128 KiB .. 4 MiB (kernel/dma/pool.c @ v6.1).

    ``coherent_pool=`` sets each pool's size instead (0 keeps the default); ``atomic_pool_expand()``
    allocates it as one block of ``get_order(size)`` pages, at most ``MAX_ORDER - 1`` (4 MiB).
    Measured: ``coherent_pool=4K`` prints ``DMA: preallocated 4 KiB ... pool`` three times at 128 MiB
    (tests/data/bootlab/tune/cloud-amd64/128MiB-1cpu-coherent_pool4K.log).
    """
    if coherent_pool_kib:
        pages = -(-coherent_pool_kib // PAGE_KIB)
        return count * min(PAGE_KIB << (pages - 1).bit_length(), DMA_POOL_MAX_KIB)
    per_pool = (int(totalram_kib) // PAGE_KIB // 8192) * PAGE_KIB
    return count * min(max(per_pool, DMA_POOL_MIN_KIB), DMA_POOL_MAX_KIB)


def vmalloc_used_kib(
    calibration: Calibration, params: KernelParameters, cmd: Cmdline, possible_cpu_count: int
) -> float:
    """VmallocUsed less kernel stacks at idle: the calibrated ``a + b / possible CPUs``. [KiB]

    ``b / possible`` is the memcg ``obj_cgroups`` map of the first dynamic per-CPU chunk [1];
    ``cgroup.memory=nokmem`` drops it (:func:`planner.kernel.percpu.memcg_percpu_map_kib`, twice
    the unit size, since v5.14): measured -4104 KiB at 1 vCPU on cloud-amd64 (model -4096).
    """
    used = params.vmalloc_kib + params.vmalloc_kib_cpu_inverse / possible_cpu_count
    version = parse_version(calibration.kernel_release)
    if not cmd.kmem_accounting and version is not None and version >= MEMCG_PERCPU_MAP_SINCE:
        used -= memcg_percpu_map_kib(calibration.arch, params.percpu_kib_per_cpu, possible_cpu_count)
    return max(used, 0.0)


@dataclass(frozen=True)
class RuntimeTerms:
    """Inside MemTotal at idle. [KiB]"""

    slab_kib: float
    sreclaimable_kib: float
    kernel_stacks_kib: float
    vmalloc_kib: float
    hash_late_kib: float
    dma_pools_kib: float
    other_kib: float
    pcp_kib: float
    watermarks: Watermarks

    @property
    def used_kib(self) -> float:
        return (
            self.slab_kib
            + self.kernel_stacks_kib
            + self.vmalloc_kib
            + self.hash_late_kib
            + self.dma_pools_kib
            + self.other_kib
            + self.pcp_kib
        )


def runtime_terms(
    calibration: Calibration, spec: GuestSpec, rt: ReservedTerms, params: KernelParameters | None = None
) -> RuntimeTerms:
    """Memory used inside MemTotal at idle, and the watermarks."""
    p = params or calibration.parameters
    extra_vcpus = max(spec.vcpu_count - 1, 0)
    wm = watermarks(
        zone_managed_at_init(rt),
        thp_available=p.thp_available,
        pageblock_pages=p.pageblock_kib // PAGE_KIB,
        thp_mode=rt.cmdline.transparent_hugepage,
    )
    memory_gib = rt.layout.present_kib / KIB_PER_GIB
    pcp_fill = p.pcp_kib + p.pcp_kib_per_gib * memory_gib + p.pcp_kib_per_vcpu * extra_vcpus
    return RuntimeTerms(
        slab_kib=p.slab_kib + p.slab_kib_per_vcpu * extra_vcpus,
        sreclaimable_kib=p.sreclaimable_kib,
        kernel_stacks_kib=p.kernel_stacks_kib + p.kernel_stacks_kib_per_vcpu * extra_vcpus,
        vmalloc_kib=vmalloc_used_kib(calibration, p, rt.cmdline, rt.possible_cpu_count),
        hash_late_kib=sum(t.size_kib for t in rt.hash_tables if not t.early),
        dma_pools_kib=dma_pools_kib(p.dma_pool_count, rt.totalram_at_print_kib, rt.cmdline.coherent_pool_kib),
        other_kib=p.other_kib + p.other_kib_per_vcpu * extra_vcpus,
        pcp_kib=max(min(pcp_fill, p.pcp_low_fraction * wm.low_kib), 0.0),
        watermarks=wm,
    )
