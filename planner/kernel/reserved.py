"""The kernel model's terms outside MemTotal: the dmesg ``Memory:`` line's ``reserved``, term by term.

All quantities are KiB. The terms, with their sources (reference kernel-memory-facts.md and
bootlab-debian-6.1.md):

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
CMA (:func:`cma_kib`) is held out of the ``Memory:`` line but handed back to totalram.

[1] calibrated per kernel build from real boot logs (:mod:`planner.kernel.calibrate`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from planner.kernel.calibration import Calibration, KernelParameters
from planner.kernel.cmdline import Cmdline, crashkernel_kib, log_buffer_kib, parse_cmdline, swiotlb_kib
from planner.kernel.hashtables import HashTableSize, hash_tables, hash_tables_2_6_18
from planner.kernel.layout import (
    Layout,
    clip_layout,
    guest_layout,
    host_layout,
    memmap_kib,
    nr_kernel_pages,
)
from planner.kernel.spec import GuestSpec
from planner.units import KIB_PER_GIB, PAGE_KIB, format_kib

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
