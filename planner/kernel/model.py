"""The kernel memory model: where every KiB of a machine's RAM goes.

``predict(calibration, GuestSpec(...))`` is pure and deterministic. All
quantities are KiB. The terms, with their sources (reference
kernel-memory-facts.md and bootlab-debian-6.1.md):

Outside MemTotal (the dmesg ``Memory:`` line's ``reserved``)
    ``mem_limit``: RAM above a ``mem=`` limit, which the kernel never uses;
    ``firmware``: holes (:mod:`planner.kernel.layout`);
    ``kernel_image``: memblock reservation of the image and early allocations,
    a per-build constant, net of the init sections freed after boot
    (``free_initmem()``, ``mark_rodata_ro()`` @ v6.1) [1]; on s390x with the
    zero pages (``arch/s390/mm/init.c setup_zero_pages()``);
    ``direct_map``: direct-map page tables per GiB (s390x under TCG) [1];
    ``memmap``: ``struct page`` per present sparsemem section (``mm/sparse.c``);
    ``hash_tables_early``: Dentry and Inode tables (``HASH_EARLY``);
    ``percpu``: the first per-CPU chunk times *possible* CPUs (``mm/percpu.c
    pcpu_embed_first_chunk()``);
    ``swiotlb``: 64 MiB + slots when RAM reaches above 4 GiB on x86-64
    (``arch/x86/kernel/pci-dma.c pci_swiotlb_detect()``);
    ``crashkernel``: ``crashkernel=`` (``kernel/crash_core.c``);
    ``log_buffer``: a ``log_buf_len=`` buffer above the built-in one.
    A crashkernel or log buffer that does not fit is not reserved: the kernel
    boots without it (``reserve_crashkernel()``: "crashkernel reservation failed";
    ``setup_log_buf()``: "log_buf_len: ... not available"), and a note says so.
    2.6-era kernels (the seed's 2.6.18) use a flat memmap of 56-byte struct
    pages and the 2.6.18 hash-table callers (:func:`planner.kernel.hashtables.hash_tables_2_6_18`).
Inside MemTotal, used at idle after boot
    ``hash_tables_late``: every other boot-time hash table (computed);
    ``slab``, ``kernel_stacks``, ``vmalloc``: calibrated constants plus per-vCPU
    slopes (the vmalloc term shrinks with more possible CPUs: the memcg map of
    the first dynamic per-CPU chunk, 2 MiB / possible CPUs on x86-64) [1];
    ``runtime_other``: page tables, dynamic per-CPU chunks, ftrace, the
    initramfs, DMA atomic pools (``kernel/dma/pool.c``: 128 KiB per GiB, 128 KiB
    to 4 MiB each) and free pages parked on per-CPU lists [1].
Not available to user space
    ``reserves``: ``totalreserve_pages`` (high watermarks + lowmem reserves),
    from ``min_free_kbytes`` with the THP rule (:mod:`planner.kernel.watermarks`),
    less the share of reclaimable slab that ``MemAvailable`` counts.

[1] calibrated per kernel build from real boot logs (:mod:`planner.kernel.calibrate`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from planner.errors import InfeasibleError, InputError, OutOfRangeWarning
from planner.kernel.calibration import Calibration, KernelParameters
from planner.kernel.cmdline import Cmdline, crashkernel_kib, log_buffer_kib, parse_cmdline, swiotlb_kib
from planner.kernel.hashtables import HashTableSize, hash_tables, hash_tables_2_6_18
from planner.kernel.layout import (
    Layout,
    clip_layout,
    guest_layout,
    host_layout,
    memmap_kib,
    memmap_kib_per_section,
    nr_kernel_pages,
)
from planner.kernel.percpu import memcg_percpu_map_kib
from planner.kernel.tuning_facts import parse_version
from planner.kernel.watermarks import Watermarks, ZoneManaged, mem_available_kib, watermarks
from planner.units import KIB_PER_GIB, PAGE_KIB, format_kib

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

#: x86-64: pages below 1 MiB, all reserved since v5.13 (arch/x86/realmode/init.c)
X86_FIRST_MIB_PAGES = 158
#: page tables of a resident set: one 8-byte entry per 4 KiB page
PAGE_TABLE_RAM_DIVISOR = 512
#: commit faf65dde844a (v5.14): every dynamic per-CPU chunk carries a memcg map
MEMCG_PERCPU_MAP_SINCE = (5, 14)
#: DMA atomic pool bounds (kernel/dma/pool.c dma_atomic_pool_init() @ v6.1) [KiB]
DMA_POOL_MIN_KIB = 128
DMA_POOL_MAX_KIB = 4096


@dataclass(frozen=True)
class GuestSpec:
    """What is predicted: a machine's RAM, CPUs, kernel command line and machine type."""

    memory_kib: int
    vcpu_count: int = 1
    possible_cpu_count: int | None = None  # default: vcpu_count (qemu maxcpus)
    cmdline: str = ""
    machine: str | None = None
    #: qemu ``-numa`` nodes, RAM split evenly (:func:`planner.kernel.layout.guest_layout`)
    node_count: int = 1


#: drivers/s390/char/vmcp.c: CONFIG_VMCP_CMA_SIZE=4 (Debian s390x), reserved on z/VM only [KiB]
ZVM_VMCP_CMA_KIB = 4096


def cma_kib(calibration: Calibration, machine: str | None, cmdline: Cmdline) -> int:
    """Contiguous memory areas: ``cma=``/``vmcp_cma=``, or the z/VM vmcp area. [KiB]

    CMA is held out of the ``Memory:`` line (``cma-reserved``) and handed back to
    totalram at ``core_initcall`` (``cma_init_reserved_areas()``), so it is inside
    MemTotal (``CmaTotal``) and usable by movable allocations such as user pages:
    it does not shrink what user space gets, and no breakdown term carries it.
    """
    if not calibration.parameters.cma_available:
        return 0
    if cmdline.cma_kib is not None:
        return cmdline.cma_kib
    return ZVM_VMCP_CMA_KIB if (machine or calibration.machine) == "zvm" else 0


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


@dataclass(frozen=True)
class ReservedTerms:
    """The dmesg ``reserved`` figure, term by term, and MemTotal. [KiB]"""

    layout: Layout
    cmdline: Cmdline
    possible_cpu_count: int
    hash_tables: tuple[HashTableSize, ...]
    #: image, direct_map, zero_pages (s390x), initrd, log_buffer, percpu, memmap, hash_early,
    #: swiotlb, crashkernel
    terms_kib: dict[str, float]
    #: freed after the Memory: line (init sections, initrd, SMP alternatives) + the calibrated offset
    freed_kib: float
    #: present RAM above a mem= limit
    hidden_kib: int = 0
    notes: tuple[str, ...] = ()

    @property
    def reserved_kib(self) -> float:
        return sum(self.terms_kib.values())

    @property
    def totalram_at_print_kib(self) -> float:
        return self.layout.present_kib - self.reserved_kib

    @property
    def mem_total_kib(self) -> float:
        return self.totalram_at_print_kib + self.freed_kib


def s390x_zero_pages_kib(totalram_kib: float) -> int:
    """s390x zero pages: ``1 << order`` pages, order 7 shrinking while totalram/1024 pages < 2**order.

    ``arch/s390/mm/init.c setup_zero_pages()`` @ v6.1; counted in ``reserved``.
    """
    order = 7
    while order > 2 and (int(totalram_kib) // PAGE_KIB >> 10) < (1 << order):
        order -= 1
    return (1 << order) * PAGE_KIB


def machine_layout(
    calibration: Calibration,
    memory_kib: int,
    machine: str | None,
    params: KernelParameters | None = None,
    node_count: int = 1,
) -> Layout:
    """The layout a calibration's kernel sees: a qemu guest, or a physical machine (``host``)
    whose firmware keeps ``firmware_kib`` (measured on the calibration's boot)."""
    p = params or calibration.parameters
    machine = machine or calibration.machine
    if machine == "host":
        present = host_layout(calibration.arch, [max(memory_kib - round(p.firmware_kib), PAGE_KIB)])
        return dataclasses.replace(present, memory_kib=memory_kib)
    return guest_layout(calibration.arch, memory_kib, machine, node_count)


def direct_map_kib(params: KernelParameters, present_kib: float) -> float:
    """Page tables and sparsemem metadata that grow with RAM, past what the image's pool covers. [KiB]

    x86-64 maps RAM with 2 MiB pages under qemu's default CPU (no ``pdpe1gb``:
    ``DirectMap2M`` in every bootlab dump): one PMD page per GiB (``arch/x86/mm/init_64.c
    phys_pmd_init()`` @ v6.1). The first ones come from the brk pool inside the image
    (``arch/x86/mm/init.c``: ``INIT_PGT_BUF_SIZE``, 16 pages with 5-level paging and
    RANDOMIZE_MEMORY), the rest from memblock, so they count in ``reserved`` only past
    ``direct_map_free_kib``; with them grow the section usemaps (``mm/sparse.c
    usemap_size()``, 32 bytes per section) and the SPARSEMEM_EXTREME roots (a page per
    256 sections). Fitted per build as a slope past a knee: 4.6 KiB/GiB past 5.7 GiB on
    debian12-amd64 (bootlab 16 GiB..256 GiB). s390x under TCG: every page mapped with
    4 KiB pages (no EDAT), 2 KiB per MiB, no knee.
    """
    gib = max(present_kib - params.direct_map_free_kib, 0.0) / KIB_PER_GIB
    return params.direct_map_kib_per_gib * gib


def build_hash_tables(
    calibration: Calibration,
    layout: Layout,
    params: KernelParameters,
    *,
    possible_cpu_count: int,
    cmdline: str,
    hashdist: bool = False,
    early_reserved_kib: float = 0.0,
) -> tuple[HashTableSize, ...]:
    """The boot-time hash tables under the calibration's rules (6.1, 6.10 or 2.6.18).

    ``early_reserved_kib``: memblock reservations when ``free_area_init()`` ends
    (6.10 rules only, :func:`planner.kernel.layout.nr_kernel_pages`).
    """
    p = params
    dma_reserve = p.dma_reserve_pages if p.dma_reserve_pages >= 0 else None
    pages = nr_kernel_pages(
        layout,
        p.hash_rules,
        struct_page_bytes=p.struct_page_bytes,
        dma_reserve_pages=dma_reserve,
        early_reserved_kib=early_reserved_kib,
    )
    if p.hash_rules == "2.6.18":
        end_pfn = max(end for _, end in layout.ranges_kib) // PAGE_KIB
        return hash_tables_2_6_18(
            pages,
            end_pfn,
            cmdline=cmdline,
            ehash_bucket_bytes=p.tcp_ehash_bucket_bytes,
            bhash_bucket_bytes=p.tcp_bhash_bucket_bytes,
            route_bucket_bytes=p.route_bucket_bytes,
        )
    return hash_tables(
        calibration.arch,
        pages,
        possible_cpu_count=possible_cpu_count,
        cmdline=cmdline,
        hashdist=hashdist,
        rules=p.hash_rules,
    )


def _hash_tables_for(
    calibration: Calibration,
    layout: Layout,
    params: KernelParameters,
    possible: int,
    cmdline: str,
    terms: dict[str, float],
) -> tuple[HashTableSize, ...]:
    """The hash tables of :func:`reserved_terms`: ``hashdist`` on several nodes (the big
    tables are vmalloc'ed late: ``mm/page_alloc.c`` @ v6.1); under the 6.10 rules sized from
    what memblock holds when ``free_area_init()`` ends: the image, initrd, memmap, page tables,
    NODE_DATA, crashkernel and the ``log_buf_len=`` buffer (x86 ``setup_arch()`` calls
    ``setup_log_buf(1)`` first: "printk: log_buf_len: 1048576 bytes" precedes "RAMDISK:" in the
    6.12.95 logs). Checked: on all 21 bootlab boots of 6.12.95 cloud-amd64 (72 MiB..8 GiB) the
    Dentry sizes bound what memblock holds beyond these terms to -1.4..+2.6 MiB, 0 inside."""
    early = sum(
        terms.get(k, 0.0)
        for k in ("image", "initrd", "memmap", "direct_map", "node_data", "crashkernel", "log_buffer")
    )
    return build_hash_tables(
        calibration,
        layout,
        params,
        possible_cpu_count=possible,
        cmdline=cmdline,
        hashdist=layout.node_count > 1,
        early_reserved_kib=early,
    )


def reserved_terms(
    calibration: Calibration, spec: GuestSpec, params: KernelParameters | None = None
) -> ReservedTerms:
    """The part of the model that ends at MemTotal (no runtime terms).

    ``params`` lets calibration evaluate trial parameters through the same code.
    """
    p = params or calibration.parameters
    arch = calibration.arch
    cmd = parse_cmdline(spec.cmdline)
    layout = machine_layout(calibration, spec.memory_kib, spec.machine, p, spec.node_count)
    hidden_kib = 0
    if cmd.mem_limit_kib is not None and cmd.mem_limit_kib < layout.memory_kib:
        clipped = clip_layout(layout, cmd.mem_limit_kib)
        hidden_kib = layout.present_kib - clipped.present_kib
        layout = clipped
    possible = cmd.possible_cpu_count(spec.possible_cpu_count or spec.vcpu_count)
    swiotlb = swiotlb_kib(cmd.swiotlb, layout.above_4g) if p.swiotlb_available else 0
    terms: dict[str, float] = {
        "image": p.image_reserved_kib,
        "direct_map": direct_map_kib(p, layout.present_kib),
        # NODE_DATA of every node but the first (whose is in the image term): arch/x86/mm/numa.c
        # alloc_node_data(), 'NODE_DATA(1) allocated [mem 0x103fb19000-0x103fb43fff]' (172 KiB)
        "node_data": p.node_data_kib * (layout.node_count - 1),
        "initrd": p.initrd_kib,
        "percpu": p.percpu_kib_per_cpu * possible,
        "memmap": memmap_kib(layout, p.memmap_model, p.struct_page_bytes),
        "swiotlb": swiotlb,
        "crashkernel": 0.0,
    }
    tables = _hash_tables_for(calibration, layout, p, possible, spec.cmdline, terms)
    terms["hash_early"] = sum(t.size_kib for t in tables if t.early)
    notes: list[str] = []
    # optional reservations: the kernel boots without one that finds no room
    optional = {
        "log_buffer": ("log_buf_len=", log_buffer_kib(cmd.log_buf_len_kib, p.log_buf_default_kib)),
        "crashkernel": (
            "crashkernel=",
            crashkernel_kib(cmd.crashkernel, cmd.crashkernel_low, layout.present_kib, swiotlb)
            if p.crashkernel_available
            else 0,
        ),
    }
    for term, (option, wanted_kib) in optional.items():
        room_kib = layout.present_kib - sum(terms.values())
        if wanted_kib and wanted_kib >= room_kib:
            notes.append(
                f"{option} asks for {format_kib(wanted_kib)} but only {format_kib(max(room_kib, 0))} is free "
                "at that point: the kernel boots without it"
            )
            wanted_kib = 0
        terms[term] = wanted_kib
    if p.hash_rules == "6.10":  # sized from what memblock holds, crashkernel included
        tables = _hash_tables_for(calibration, layout, p, possible, spec.cmdline, terms)
        terms["hash_early"] = sum(t.size_kib for t in tables if t.early)
    if arch == "s390x":
        terms["zero_pages"] = s390x_zero_pages_kib(layout.present_kib - sum(terms.values()))
    smp_freed = p.smp_alternatives_kib if not (spec.vcpu_count == 1 and possible > 1) else 0
    freed = p.initrd_kib + p.freed_init_kib + smp_freed + p.memtotal_adjust_kib
    return ReservedTerms(layout, cmd, possible, tables, terms, freed, hidden_kib, tuple(notes))


def zone_managed_at_init(rt: ReservedTerms) -> tuple[ZoneManaged, ...]:
    """Managed pages per zone when the watermarks are set (totalram at the ``Memory:`` line).

    Placement of reservations [model]: on x86-64 the first MiB (158 pages) is in
    DMA; the image, initrd, swiotlb and crashkernel sit in DMA32 (below 4 GiB);
    memblock allocates the rest top-down, so memmap, early hash tables, per-CPU
    chunks, the log buffer and page tables land in the highest zone. s390x: the
    image at the bottom of DMA, the rest top-down. On several NUMA nodes each node
    holds its own memmap and NODE_DATA (measured per node: ``present - managed`` of
    node 1 of ``64GiB-4cpu-4node`` is its 128 sections' memmap + 172 + 248 + 12 KiB), and
    each CPU's first per-CPU chunk sits on its node (``mm/percpu.c pcpu_embed_first_chunk()``
    allocates each unit with ``cpu_to_node()``).
    """
    zones = sorted(rt.layout.zones, key=lambda z: (z.node, z.start_pfn))
    managed = [float(z.present_pages) for z in zones]
    t = rt.terms_kib
    low_terms = t["image"] + t["initrd"] + t["swiotlb"] + t["crashkernel"]
    top_terms = rt.reserved_kib - low_terms
    if rt.layout.arch == "x86_64":
        managed[0] -= X86_FIRST_MIB_PAGES
        low_terms -= X86_FIRST_MIB_PAGES * PAGE_KIB
        low_index = 1 if len(zones) > 1 else 0
    else:
        low_index = 0
    _take(managed, low_index, low_terms / PAGE_KIB, direction=+1)
    if rt.layout.node_count > 1:
        # each node holds its own memmap and NODE_DATA (mm/sparse.c sparse_init_nid(),
        # arch/x86/mm/numa.c alloc_node_data()): measured per node in /proc/zoneinfo
        per_section = memmap_kib_per_section(rt.layout.arch)
        cpus = node_cpu_counts(rt.possible_cpu_count, rt.layout.node_count)
        for node in range(rt.layout.node_count):
            top = max(i for i, z in enumerate(zones) if z.node == node)
            own = (
                rt.layout.node_section_count(node) * per_section
                + (t["node_data"] / (rt.layout.node_count - 1) if node else 0.0)
                + t["percpu"] * cpus[node] / rt.possible_cpu_count
            )
            _take(managed, top, own / PAGE_KIB, direction=-1)
            top_terms -= own
    # the rest top-down, from the last node's highest zone (memblock allocates top-down)
    _take(managed, len(managed) - 1, max(top_terms, 0.0) / PAGE_KIB, direction=-1)
    return tuple(ZoneManaged(z.node, z.name, max(int(m), 0)) for z, m in zip(zones, managed, strict=True))


def node_cpu_counts(cpu_count: int, node_count: int) -> list[int]:
    """CPUs per node: consecutive blocks, the first ``cpu_count % node_count`` nodes one more
    (``planner bootlab --numa-nodes``: ``-numa node,cpus=``)."""
    base, extra = divmod(cpu_count, node_count)
    return [base + (1 if node < extra else 0) for node in range(node_count)]


def _take(managed: list[float], index: int, pages: float, *, direction: int) -> None:
    """Subtract ``pages`` from zone ``index``, spilling to neighbours in ``direction``."""
    i = index
    while pages > 0 and 0 <= i < len(managed):
        used = min(managed[i], pages)
        managed[i] -= used
        pages -= used
        i += direction


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


def _check_range(
    calibration: Calibration, spec: GuestSpec, policy: OutOfRange
) -> tuple[bool, tuple[str, ...]]:
    rng = calibration.calibrated_range
    problems = []
    if not rng.min_memory_kib <= spec.memory_kib <= rng.max_memory_kib:
        problems.append(
            f"{format_kib(spec.memory_kib)} is outside the calibrated range "
            f"{format_kib(rng.min_memory_kib)}..{format_kib(rng.max_memory_kib)} of {calibration.name}"
        )
    if not rng.min_vcpu_count <= spec.vcpu_count <= rng.max_vcpu_count:
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
    if spec.vcpu_count < 1:
        raise InputError(f"expected at least 1 vCPU; found {spec.vcpu_count}", field="vcpus")
    if spec.possible_cpu_count is not None and spec.possible_cpu_count < spec.vcpu_count:
        raise InputError(
            f"expected at least as many possible CPUs as online vCPUs ({spec.vcpu_count}); "
            f"found {spec.possible_cpu_count}",
            field="possible-cpus",
        )
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
    return Prediction(
        calibration=calibration.name,
        spec=spec,
        memory_kib=spec.memory_kib,
        present_kib=rt.layout.present_kib,
        reserved_kib=round(rt.reserved_kib),
        mem_total_kib=mem_total,
        mem_free_kib=mem_free,
        mem_available_kib=available,
        breakdown_kib=breakdown,
        hash_tables=rt.hash_tables,
        min_free_kbytes=run.watermarks.min_free_kbytes,
        thp_active=run.watermarks.thp_active,
        in_range=in_range,
        notes=range_notes + rt.notes,
        cma_kib=cma_kib(calibration, spec.machine, rt.cmdline),
    )


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


@dataclass(frozen=True)
class HostPrediction:
    """The host kernel's own overhead per NUMA node. [KiB]"""

    calibration: str
    node_memory_kib: tuple[int, ...]
    node_kernel_kib: tuple[int, ...]
    breakdown_kib: dict[str, int]
    min_free_kbytes: int
    notes: tuple[str, ...] = ()

    @property
    def total_kernel_kib(self) -> int:
        return sum(self.node_kernel_kib)

    def to_json(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration,
            "node_memory_kib": list(self.node_memory_kib),
            "node_kernel_kib": list(self.node_kernel_kib),
            "total_kernel_kib": self.total_kernel_kib,
            "breakdown_kib": dict(self.breakdown_kib),
            "min_free_kbytes": self.min_free_kbytes,
            "notes": list(self.notes),
        }


def predict_host(
    calibration: Calibration,
    node_memory_kib: list[int] | tuple[int, ...],
    cpu_count: int,
    cmdline: str = "",
    machine: str = "host",
) -> HostPrediction:
    """The host kernel's own memory, per NUMA node, for a host running ``calibration``'s kernel.

    Per node: its memmap (its own sections), its share of the per-CPU chunks
    (CPUs spread evenly), its watermark reserves; node 0 also holds the image,
    swiotlb, crashkernel and log buffer. With several nodes the big hash tables
    are vmalloc'ed and interleaved (``hashdist``), so they are spread evenly.
    Runtime terms (slab, stacks, vmalloc) are those of the calibration's idle
    boot, spread evenly: a floor, since a real host runs more daemons [model].
    ``machine="pc"`` lays the nodes out as a qemu ``pc`` guest with ``-numa`` nodes
    (equal nodes), to check the model against ``planner bootlab --numa-nodes`` boots.
    """
    if cpu_count < 1:
        raise InputError(f"expected at least 1 CPU; found {cpu_count}", field="cpus")
    nodes = tuple(int(m) for m in node_memory_kib)
    if machine == "host":
        layout = host_layout(calibration.arch, nodes)
    else:
        layout = guest_layout(calibration.arch, sum(nodes), machine, len(nodes))
    p = calibration.parameters
    cmd = parse_cmdline(cmdline)
    node_count = len(nodes)
    hashdist = node_count > 1
    tables = build_hash_tables(
        calibration, layout, p, possible_cpu_count=cpu_count, cmdline=cmdline, hashdist=hashdist
    )
    swiotlb = swiotlb_kib(cmd.swiotlb, layout.above_4g) if p.swiotlb_available else 0
    node0: dict[str, float] = {
        "kernel_image": p.image_reserved_kib
        - p.freed_init_kib
        - p.smp_alternatives_kib
        - p.memtotal_adjust_kib,
        "swiotlb": swiotlb,
        "crashkernel": crashkernel_kib(cmd.crashkernel, cmd.crashkernel_low, layout.present_kib, swiotlb)
        if p.crashkernel_available
        else 0,
        "log_buffer": log_buffer_kib(cmd.log_buf_len_kib, p.log_buf_default_kib),
    }
    spread: dict[str, float] = {
        "hash_tables": sum(t.size_kib for t in tables),
        "percpu": p.percpu_kib_per_cpu * cpu_count,
        "slab": p.slab_kib + p.slab_kib_per_vcpu * (cpu_count - 1),
        "kernel_stacks": p.kernel_stacks_kib + p.kernel_stacks_kib_per_vcpu * (cpu_count - 1),
        "vmalloc": vmalloc_used_kib(calibration, p, cmd, cpu_count),
        "runtime_other": p.other_kib + p.other_kib_per_vcpu * (cpu_count - 1),
    }
    per_node: list[dict[str, float]] = []
    managed_zones = []
    for node in range(node_count):
        node_terms = {k: v / node_count for k, v in spread.items()}
        node_terms["memmap"] = layout.node_section_count(node) * memmap_kib_per_section(
            calibration.arch, p.struct_page_bytes
        )
        present_share = layout.node_present_kib(node) / layout.present_kib
        node_terms["direct_map"] = direct_map_kib(p, layout.present_kib) * present_share
        if node == 0:
            node_terms.update(node0)
        else:
            node_terms["node_data"] = p.node_data_kib
        per_node.append(node_terms)
    for z in sorted(layout.zones, key=lambda z: (z.node, z.start_pfn)):
        node_share = (
            sum(per_node[z.node].values())
            * z.present_pages
            * PAGE_KIB
            / max(layout.node_present_kib(z.node), 1)
        )
        managed_zones.append(
            ZoneManaged(z.node, z.name, max(z.present_pages - int(node_share / PAGE_KIB), 0))
        )
    wm = watermarks(
        managed_zones,
        thp_available=p.thp_available,
        pageblock_pages=p.pageblock_kib // PAGE_KIB,
        thp_mode=cmd.transparent_hugepage,
    )
    for node in range(node_count):
        per_node[node]["reserves"] = wm.node_totalreserve_kib(node)
    breakdown: dict[str, int] = {}
    for terms in per_node:
        for k, v in terms.items():
            breakdown[k] = breakdown.get(k, 0) + round(v)
    return HostPrediction(
        calibration=calibration.name,
        node_memory_kib=nodes,
        node_kernel_kib=tuple(round(sum(t.values())) for t in per_node),
        breakdown_kib=breakdown,
        min_free_kbytes=wm.min_free_kbytes,
        notes=("runtime terms are the calibration's idle boot: a floor for a real host",),
    )
