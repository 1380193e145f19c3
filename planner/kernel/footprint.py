"""The boot footprint: how much of a guest's RAM the host holds once the guest has booted.

A guest's RAM is allocated lazily by qemu; what is resident after boot is what the
guest touched, not what it reports as used. Measured by ``planner bootlab`` (qemu's
guest-RAM ``Rss`` when the dump ends, :mod:`planner.bootlab.resident`) and modelled as

``min(memory, base + per_vcpu * (vCPUs - 1) + per_node * (nodes - 1) + touched)``

``touched`` is what the kernel writes in proportion to RAM, sized by the kernel model
for that guest: the ``struct page`` array (every struct page is initialised, deferred
or not: ``mm/page_alloc.c memmap_init()`` / ``deferred_init_memmap()`` @ v6.1), every
boot-time hash table (``HASH_ZERO`` tables are zeroed, the others are written as
buckets are initialised: ``mm/page_alloc.c alloc_large_system_hash()``), the swiotlb
bounce buffer (``memblock_alloc`` zeroes it: ``kernel/dma/swiotlb.c
swiotlb_init_remap()``), the DMA atomic pools and the direct-map page tables.
``base`` (fitted per kernel build) is the rest: the bzImage decompressor's buffer
(``init_size``: 51.5 MiB cloud-amd64, 63.6 MiB amd64), the image, the initramfs and
its unpacked copy, and pages touched then freed during boot; ``per_vcpu`` covers
per-CPU stacks, chunks and the pages on each CPU's lists; ``per_node`` each NUMA node's
own structures and the 2 MiB pages the interleaved (``hashdist``) tables land on (about
9 MiB per node on debian12-amd64 at 64 GiB, 3 MiB per vCPU). Captures at 90 MiB to
256 GiB (bootlab) give ``base`` about 115 MiB on both Debian 6.1 x86-64 kernels,
within the 112-124 MiB that ``reference/libvirt-recipes.md`` measured for the
cloud kernel at 128 to 512 MiB under libvirt.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.evidence.records import Evidence
from planner.kernel.calibration import Calibration, KernelParameters
from planner.kernel.reserved import reserved_terms
from planner.kernel.runtime import dma_pools_kib
from planner.kernel.spec import GuestSpec

#: boots at or below this are mostly resident whatever the model says: not used to fit [KiB]
FIT_MIN_MEMORY_KIB = 256 * 1024


def touched_kib(
    calibration: Calibration,
    memory_kib: int,
    vcpu_count: int = 1,
    node_count: int = 1,
    params: KernelParameters | None = None,
) -> float:
    """RAM the guest kernel writes in proportion to its size (see the module docstring). [KiB]"""
    p = params or calibration.parameters
    spec = GuestSpec(memory_kib, vcpu_count, node_count=node_count)
    rt = reserved_terms(calibration, spec, p)
    t = rt.terms_kib
    return (
        t["memmap"]
        + t["swiotlb"]
        + t["direct_map"]
        + sum(h.size_kib for h in rt.hash_tables)
        + dma_pools_kib(p.dma_pool_count, rt.totalram_at_print_kib)
    )


def boot_footprint_kib(
    calibration: Calibration, memory_kib: int, vcpu_count: int = 1, node_count: int = 1
) -> int | None:
    """Guest RAM resident on the host after the guest has booted to an idle shell. [KiB]

    ``None`` when the calibration has no footprint fitted (no bootlab capture of qemu's
    resident RAM among its logs). Under TCG; under KVM the guest touches the same pages.
    """
    p = calibration.parameters
    if p.footprint_base_kib <= 0:
        return None
    model = (
        p.footprint_base_kib
        + p.footprint_kib_per_vcpu * max(vcpu_count - 1, 0)
        + p.footprint_kib_per_node * max(node_count - 1, 0)
        + touched_kib(calibration, memory_kib, vcpu_count, node_count)
    )
    return min(memory_kib, round(model))


def footprint_samples(evidences: Sequence[Evidence]) -> list[Evidence]:
    """The boots a footprint can be fitted on: a capture of the resident RAM, above the cap."""
    return [
        e
        for e in evidences
        if e.guest_ram_resident_kib is not None
        and e.memory_kib is not None
        and e.memory_kib >= FIT_MIN_MEMORY_KIB
        and e.meminfo is not None
    ]
