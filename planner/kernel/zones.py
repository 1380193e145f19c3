"""Managed pages per zone when the watermarks are set: which zones the kernel's reservations land in.

The watermarks (:mod:`planner.kernel.watermarks`, ``mm/page_alloc.c
__setup_per_zone_wmarks()`` @ v6.1) are sized from each zone's managed pages, so the model
places every reservation in a zone: on a guest the ``reserved`` terms
(:func:`zone_managed_at_init`), on a host each node's own overhead (:func:`host_zone_managed`).
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.kernel.layout import Layout, memmap_kib_per_section
from planner.kernel.reserved import ReservedTerms
from planner.kernel.watermarks import ZoneManaged
from planner.units import PAGE_KIB

#: x86-64: pages below 1 MiB, all reserved since v5.13 (arch/x86/realmode/init.c)
X86_FIRST_MIB_PAGES = 158


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


def host_zone_managed(layout: Layout, node_kernel_kib: Sequence[float]) -> list[ZoneManaged]:
    """Managed pages per zone of a host: each node's own kernel overhead taken from its zones in
    proportion to their present pages [model]."""
    managed_zones = []
    for z in sorted(layout.zones, key=lambda z: (z.node, z.start_pfn)):
        node_share = (
            node_kernel_kib[z.node] * z.present_pages * PAGE_KIB / max(layout.node_present_kib(z.node), 1)
        )
        managed_zones.append(
            ZoneManaged(z.node, z.name, max(z.present_pages - int(node_share / PAGE_KIB), 0))
        )
    return managed_zones
