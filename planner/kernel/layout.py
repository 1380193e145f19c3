"""Physical memory layout of a machine: present ranges, zones, sparsemem sections.

The kernel sees less than the configured RAM (firmware holes) and sizes much of
its own memory from what it sees: the ``struct page`` array per sparsemem
section, ``nr_kernel_pages`` for the hash tables, the zones for watermarks.

Machine types
-------------
``pc`` (qemu i440fx + SeaBIOS)
    RAM below 4 GiB is ``memory`` when ``memory < 3.5 GiB``, else 3 GiB with the
    rest moved above 4 GiB (qemu ``hw/i386/pc_piix.c``: ``lowmem = 0xc0000000``
    when ``ram_size >= 0xe0000000``, gigabyte_align). SeaBIOS' e820 leaves
    ``[0x9fc00, 0x100000)`` as a hole and reserves the top 128 KiB of low RAM;
    Linux reserves page 0. So the kernel sees ``memory - 520 KiB``, measured
    exactly at every size from 76 MiB to 8 GiB (reference bootlab-debian-6.1.md §3.1).
``q35`` (qemu ICH9 + SeaBIOS)
    Low RAM is 2 GiB when ``memory >= 2.75 GiB`` (qemu ``hw/i386/pc_q35.c``:
    ``lowmem = 0x80000000`` when ``ram_size >= 0xb0000000``), else all of it.
    SeaBIOS reserves 4 KiB more at the top of low RAM than on ``pc``: 524 KiB of
    holes (one bootlab boot at 4 GiB on qemu 7.2).
``s390-ccw-virtio`` (qemu s390x) and ``zvm``
    All RAM is present from address 0; no holes (measured: ``/B`` = RAM).
``host``
    A physical x86-64 or s390x host given per NUMA node: node 0 starts at 0, and
    on x86-64 its first 4 GiB are split as on ``q35`` (2 GiB below the PCI hole);
    firmware holes are not modelled [assumption].

Zones: x86-64 DMA ``[0, 16 MiB)``, DMA32 ``[16 MiB, 4 GiB)``, Normal above
(``arch/x86/mm/init.c zone_sizes_init()`` @ v6.1); s390x DMA ``[0, 2 GiB)``,
Normal above (``arch/s390/mm/init.c paging_init()``: ``zone_dma_bits = 31``).
Sections: 128 MiB on x86-64 (``SECTION_SIZE_BITS 27``), 256 MiB on s390x (28).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Literal

from planner.errors import InputError
from planner.units import KIB_PER_GIB, KIB_PER_MIB, PAGE_BYTES, PAGE_KIB

Arch = Literal["x86_64", "s390x"]
MACHINES = ("pc", "q35", "s390-ccw-virtio", "zvm", "host")

#: sparsemem section size per architecture [KiB]
SECTION_KIB: dict[str, int] = {"x86_64": 128 * KIB_PER_MIB, "s390x": 256 * KIB_PER_MIB}
#: sizeof(struct page) with MEMCG (include/linux/mm_types.h @ v6.1) [bytes]
STRUCT_PAGE_BYTES = 64
#: MAX_ORDER_NR_PAGES: flat memmaps are aligned to it (1024 pages = 4 MiB) [pages]
MAX_ORDER_PAGES = 1024
#: x86-64 SeaBIOS: pages below 1 MiB the kernel keeps present (pfn 1..158) [pages]
X86_LOW_PAGES = 158
#: x86-64 SeaBIOS: reserved top of low RAM [KiB]
SEABIOS_TOP_RESERVED_KIB = 128
#: q35: SeaBIOS keeps 4 KiB more at the top of low RAM (measured, qemu 7.2) [KiB]
Q35_EXTRA_RESERVED_KIB = 4
#: pc: from 128 GiB SeaBIOS keeps 4 KiB more at the top of low RAM (measured, qemu 7.2:
#: e820 usable ends at 0xbffdefff at 128 and 256 GiB, 0xbffdffff up to 64 GiB) [KiB]
PC_BIG_TABLES_KIB = 128 * KIB_PER_GIB
PC_BIG_EXTRA_RESERVED_KIB = 4
#: x86 ``dma_reserve``: pages below 16 MiB that are not free; the whole first MiB is
#: reserved since v5.13 (arch/x86/realmode/init.c reserve_real_mode()) [pages]
X86_DMA_RESERVE_PAGES = 158

_4G_KIB = 4 * KIB_PER_GIB


@dataclass(frozen=True)
class ZoneSpan:
    """One zone on one node. [pages]"""

    node: int
    name: str
    start_pfn: int
    spanned_pages: int
    present_pages: int


@dataclass(frozen=True)
class Layout:
    """What the kernel sees of a machine's RAM."""

    arch: str
    machine: str
    memory_kib: int  # configured RAM
    present_kib: int  # RAM the kernel sees (physpages)
    ranges_kib: tuple[tuple[int, int], ...]  # present ranges [start, end) in KiB
    zones: tuple[ZoneSpan, ...]
    section_count: int  # present sparsemem sections
    node_count: int = 1

    @property
    def firmware_kib(self) -> int:
        """Configured RAM the kernel never sees (holes). [KiB]"""
        return self.memory_kib - self.present_kib

    @property
    def above_4g(self) -> bool:
        """Whether any RAM lies above 4 GiB (x86-64 swiotlb rule)."""
        return any(end > _4G_KIB for _, end in self.ranges_kib)

    def node_present_kib(self, node: int) -> int:
        return sum(z.present_pages for z in self.zones if z.node == node) * PAGE_KIB

    def node_section_count(self, node: int) -> int:
        return _count_sections(
            [r for r, n in zip(self.ranges_kib, self._range_nodes(), strict=True) if n == node],
            SECTION_KIB[self.arch],
        )

    def _range_nodes(self) -> tuple[int, ...]:
        out = []
        for start, _end in self.ranges_kib:
            node = 0
            for z in self.zones:
                zstart = z.start_pfn * PAGE_KIB
                if zstart <= start < zstart + z.spanned_pages * PAGE_KIB:
                    node = z.node
                    break
            out.append(node)
        return tuple(out)


def _count_sections(ranges_kib: list[tuple[int, int]] | tuple[tuple[int, int], ...], section_kib: int) -> int:
    """Sections that hold any present RAM: each range's first to last section, overlaps (two
    ranges sharing a section) counted once. O(ranges), not O(sections): 4 PiB is 2^25 sections."""
    spans = sorted(
        (start // section_kib, (end - 1) // section_kib) for start, end in ranges_kib if end > start
    )
    count, last = 0, -1
    for first, final in spans:
        first = max(first, last + 1)
        if final >= first:
            count += final - first + 1
            last = final
    return count


def _zones_for_range(arch: str, node: int, start_kib: int, end_kib: int) -> list[ZoneSpan]:
    """Split one present range into zones. Start/end in KiB, end exclusive."""
    if arch == "x86_64":
        bounds = [
            ("DMA", 0, 16 * KIB_PER_MIB),
            ("DMA32", 16 * KIB_PER_MIB, _4G_KIB),
            ("Normal", _4G_KIB, 2**62),
        ]
    else:
        bounds = [("DMA", 0, 2 * KIB_PER_GIB), ("Normal", 2 * KIB_PER_GIB, 2**62)]
    out = []
    for name, lo, hi in bounds:
        s, e = max(start_kib, lo), min(end_kib, hi)
        if e > s:
            pages = (e - s) // PAGE_KIB
            out.append(ZoneSpan(node, name, s // PAGE_KIB, pages, pages))
    return out


def _merge_zones(zones: list[ZoneSpan]) -> tuple[ZoneSpan, ...]:
    """Merge pieces of the same (node, zone): span from first to last pfn, sum present pages."""
    merged: dict[tuple[int, str], ZoneSpan] = {}
    for z in zones:
        key = (z.node, z.name)
        if key not in merged:
            merged[key] = z
            continue
        m = merged[key]
        start = min(m.start_pfn, z.start_pfn)
        end = max(m.start_pfn + m.spanned_pages, z.start_pfn + z.spanned_pages)
        merged[key] = ZoneSpan(z.node, z.name, start, end - start, m.present_pages + z.present_pages)
    return tuple(merged.values())


def guest_layout(arch: str, memory_kib: int, machine: str | None = None, node_count: int = 1) -> Layout:
    """Layout of a qemu guest of ``memory_kib`` on ``machine``.

    Parameters
    ----------
    arch
        ``"x86_64"`` or ``"s390x"``.
    memory_kib
        Configured RAM (qemu ``-m``). [KiB]
    machine
        ``pc`` (default on x86-64), ``q35``, ``s390-ccw-virtio`` (default on s390x) or ``zvm``.
    node_count
        qemu ``-numa`` nodes with RAM split evenly in whole MiB, the remainder on the last
        (``planner bootlab --numa-nodes``; x86-64 only). qemu lays the nodes' backends end
        to end in RAM order, and RAM order maps to physical addresses as without nodes
        (below 4 GiB first), so node 1 of a 64 GiB ``pc`` guest starts at 33 GiB:
        ``NUMA: ... node 1 [mem 0x840000000-0x103fffffff]`` (bootlab ``64GiB-2cpu-2node``).
    """
    if arch not in SECTION_KIB:
        raise InputError(f"expected an architecture x86_64 or s390x; found {arch!r}", field="arch")
    machine = machine or ("pc" if arch == "x86_64" else "s390-ccw-virtio")
    if memory_kib <= 0:
        raise InputError(f"expected a positive memory size; found {memory_kib} KiB", field="memory")
    if arch == "s390x":
        if machine not in ("s390-ccw-virtio", "zvm"):
            raise InputError(
                f"expected machine s390-ccw-virtio or zvm for s390x; found {machine!r}", field="machine"
            )
        s390_ranges = ((0, memory_kib),)
        s390_zones = tuple(_zones_for_range(arch, 0, 0, memory_kib))
        sections = _count_sections(s390_ranges, SECTION_KIB[arch])
        return Layout(arch, machine, memory_kib, memory_kib, s390_ranges, s390_zones, sections)
    if machine not in ("pc", "q35"):
        raise InputError(f"expected machine pc or q35 for x86_64; found {machine!r}", field="machine")
    # qemu: how much RAM stays below 4 GiB (hw/i386/pc_piix.c, pc_q35.c)
    if machine == "pc":
        low_kib = 3 * KIB_PER_GIB if memory_kib >= 3584 * KIB_PER_MIB else memory_kib
    else:
        low_kib = 2 * KIB_PER_GIB if memory_kib >= 2816 * KIB_PER_MIB else memory_kib
    high_kib = memory_kib - low_kib
    if low_kib <= KIB_PER_MIB + SEABIOS_TOP_RESERVED_KIB:
        raise InputError(
            f"expected at least 2MiB of RAM on {machine}; found {memory_kib} KiB", field="memory"
        )
    # SeaBIOS e820: [4K, 0x9f000) usable below 1 MiB (page 0 reserved by Linux), then
    # [1 MiB, low - 128 KiB) usable; high RAM from 4 GiB.
    top_reserved_kib = SEABIOS_TOP_RESERVED_KIB + (Q35_EXTRA_RESERVED_KIB if machine == "q35" else 0)
    if machine == "pc" and memory_kib >= PC_BIG_TABLES_KIB:
        top_reserved_kib += PC_BIG_EXTRA_RESERVED_KIB
    ranges: list[tuple[int, int]] = [
        (PAGE_KIB, PAGE_KIB + X86_LOW_PAGES * PAGE_KIB),
        (KIB_PER_MIB, low_kib - top_reserved_kib),
    ]
    if high_kib:
        ranges.append((_4G_KIB, _4G_KIB + high_kib))
    by_node = _split_nodes(ranges, memory_kib, low_kib, node_count)
    zones: list[ZoneSpan] = []
    for start, end, node in by_node:
        zones.extend(_zones_for_range(arch, node, start, end))
    plain = tuple((s, e) for s, e, _ in by_node)
    return Layout(
        arch,
        machine,
        memory_kib,
        sum(e - s for s, e in plain),
        plain,
        _merge_zones(zones),
        _count_sections(plain, SECTION_KIB[arch]),
        node_count=node_count,
    )


def qemu_node_memory_kib(memory_kib: int, node_count: int) -> tuple[int, ...]:
    """RAM per node of a qemu guest with ``-numa`` nodes as ``planner bootlab --numa-nodes`` gives
    them: an even split in whole MiB, the rest on the last node. [KiB]"""
    share_kib = memory_kib // KIB_PER_MIB // node_count * KIB_PER_MIB
    return (share_kib,) * (node_count - 1) + (memory_kib - share_kib * (node_count - 1),)


def _split_nodes(
    ranges: list[tuple[int, int]], memory_kib: int, low_kib: int, node_count: int
) -> list[tuple[int, int, int]]:
    """Cut present ranges at the qemu node boundaries: ``(start, end, node)`` in KiB."""
    ram_ends = list(itertools.accumulate(qemu_node_memory_kib(memory_kib, node_count)))

    def physical(ram_kib: int) -> int:
        return ram_kib if ram_kib < low_kib else _4G_KIB + ram_kib - low_kib

    cuts = [physical(e) for e in ram_ends]
    out: list[tuple[int, int, int]] = []
    for start, end in ranges:
        lo = start
        for node, cut in enumerate(cuts):
            if lo >= end:
                break
            if cut <= lo:
                continue
            hi = min(end, cut)
            out.append((lo, hi, node))
            lo = hi
    return out


def host_layout(arch: str, node_memory_kib: list[int] | tuple[int, ...]) -> Layout:
    """Layout of a physical host with one entry of RAM per NUMA node (machine ``host``).

    Node ``n`` follows node ``n-1`` in the physical address space. On x86-64 the
    first node's RAM is split around a 2 GiB PCI hole below 4 GiB [assumption: a
    typical server layout; real firmware maps differ by a few hundred MiB].
    """
    if arch not in SECTION_KIB:
        raise InputError(f"expected an architecture x86_64 or s390x; found {arch!r}", field="arch")
    if not node_memory_kib or any(m <= 0 for m in node_memory_kib):
        raise InputError(
            f"expected a positive memory size per node; found {list(node_memory_kib)}", field="memory"
        )
    ranges: list[tuple[int, int]] = []
    zones: list[ZoneSpan] = []
    cursor = 0
    for node, mem in enumerate(node_memory_kib):
        pieces: list[tuple[int, int]] = []
        if arch == "x86_64" and cursor < 2 * KIB_PER_GIB:
            low = min(mem, 2 * KIB_PER_GIB - cursor)
            pieces.append((cursor, cursor + low))
            rest = mem - low
            cursor = _4G_KIB if rest else cursor + low
            if rest:
                pieces.append((cursor, cursor + rest))
                cursor += rest
        else:
            pieces.append((cursor, cursor + mem))
            cursor += mem
        for s, e in pieces:
            ranges.append((s, e))
            zones.extend(_zones_for_range(arch, node, s, e))
    total = sum(node_memory_kib)
    return Layout(
        arch,
        "host",
        total,
        total,
        tuple(ranges),
        _merge_zones(zones),
        _count_sections(ranges, SECTION_KIB[arch]),
        node_count=len(node_memory_kib),
    )


def memmap_kib(
    layout: Layout, model: str = "sparse-vmemmap", struct_page_bytes: int = STRUCT_PAGE_BYTES
) -> int:
    """``struct page`` array. [KiB]

    ``sparse-vmemmap``: ``mm/sparse.c sparse_init_nid()`` @ v6.1 populates
    ``PAGES_PER_SECTION`` struct pages for every present section (Debian x86-64 and
    s390x): 2 MiB per 128 MiB on x86-64, 4 MiB per 256 MiB on s390x.
    ``flat``: 2.6-era ``alloc_node_mem_map()``: one struct page (56 B on 2.6.18
    x86-64) for every page a node spans, holes included, aligned to MAX_ORDER (4 MiB).
    """
    if model == "flat":
        spanned = max(r[1] for r in layout.ranges_kib) // PAGE_KIB
        spanned = -(-spanned // MAX_ORDER_PAGES) * MAX_ORDER_PAGES
        return -(-spanned * struct_page_bytes // 1024)
    section_kib = SECTION_KIB[layout.arch]
    return layout.section_count * (section_kib // PAGE_KIB) * struct_page_bytes // 1024


def _calc_memmap_pages(spanned: int, present: int) -> int:
    """``calc_memmap_size()`` (mm/page_alloc.c @ v6.1) [pages]."""
    pages = present if spanned > present + (present >> 4) else spanned
    return -(-(pages * STRUCT_PAGE_BYTES) // 4096)


def nr_kernel_pages(
    layout: Layout,
    rules: str = "6.1",
    *,
    struct_page_bytes: int = STRUCT_PAGE_BYTES,
    dma_reserve_pages: int | None = None,
    early_reserved_kib: float = 0.0,
) -> int:
    """Pages the hash-table sizing sees (``nr_kernel_pages``). [pages]

    ``free_area_init_core()`` (mm/page_alloc.c @ v6.1 and @ v2.6.18): per zone,
    present pages minus the zone's memmap estimate, minus ``dma_reserve`` in the
    first zone (x86-64; 158 pages on qemu guests since v5.13). Checked: 31968 at
    128 MiB on qemu ``pc`` = the log's ``Total pages: 31968``. 2.6.18 estimates the
    memmap from the spanned pages (no present/16 rule).

    ``6.10`` rules (``mm/mm_init.c calc_nr_kernel_pages()``, commit 10b7d6be9a50 "mm/mm_init.c:
    add new function calc_nr_kernel_pages()", v6.10; ``dma_reserve`` and ``calc_memmap_size()``
    removed): the pages of free memblock ranges at the end of ``free_area_init()``, i.e.
    present pages less everything memblock holds by then (``early_reserved_kib``: the
    image, initrd, memmap, page tables, NODE_DATA, crashkernel, early log buffer) and, on x86-64 guests,
    the reserved first MiB. Checked on Debian 6.12.95 cloud-amd64: 4096 dentry entries at
    76 MiB where the 6.1 rule gives 16384 (bootlab ``debian-6.12-cloud-amd64``).
    """
    if dma_reserve_pages is None:
        dma_reserve_pages = (
            X86_DMA_RESERVE_PAGES if layout.arch == "x86_64" and layout.machine != "host" else 0
        )
    if rules == "6.10":
        present = sum(z.present_pages for z in layout.zones)
        return max(present - dma_reserve_pages - math.ceil(early_reserved_kib / PAGE_KIB), 0)
    total = 0
    for i, z in enumerate(sorted(layout.zones, key=lambda z: (z.node, z.start_pfn))):
        free = z.present_pages
        if rules == "2.6.18":
            memmap = z.spanned_pages * struct_page_bytes // PAGE_BYTES
        else:
            memmap = _calc_memmap_pages(z.spanned_pages, z.present_pages)
        if free >= memmap:
            free -= memmap
        if i == 0 and free > dma_reserve_pages:
            free -= dma_reserve_pages
        total += free
    return total


def zone_names(layout: Layout) -> tuple[str, ...]:
    """Populated zone names in address order (for the THP watermark rule)."""
    return tuple(z.name for z in sorted(layout.zones, key=lambda z: (z.node, z.start_pfn)) if z.present_pages)


def clip_layout(layout: Layout, limit_kib: int) -> Layout:
    """``mem=``: drop RAM above ``limit_kib`` of address space (``arch/x86/kernel/e820.c``).

    Measured: ``mem=256M`` on a 512 MiB ``pc`` guest gives physpages 261752 KiB. The clipped
    layout keeps the configured RAM, so the RAM above the limit is neither present nor firmware.
    """
    if layout.arch == "s390x":
        return dataclasses.replace(
            guest_layout(layout.arch, limit_kib, layout.machine), memory_kib=layout.memory_kib
        )
    ranges = tuple((s, min(e, limit_kib)) for s, e in layout.ranges_kib if s < limit_kib)
    zones = [z for s, e in ranges for z in _zones_for_range(layout.arch, 0, s, e)]
    return Layout(
        layout.arch,
        layout.machine,
        layout.memory_kib,
        sum(e - s for s, e in ranges),
        ranges,
        _merge_zones(zones),
        _count_sections(ranges, SECTION_KIB[layout.arch]),
    )


def memmap_kib_per_section(arch: str, struct_page_bytes: int = STRUCT_PAGE_BYTES) -> int:
    """``struct page`` array of one section: 2048 KiB on x86-64, 4096 KiB on s390x."""
    return SECTION_KIB[arch] // PAGE_KIB * struct_page_bytes // 1024
