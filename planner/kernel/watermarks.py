"""``min_free_kbytes``, zone watermarks, lowmem reserves and ``MemAvailable``.

Sources (``mm/page_alloc.c`` @ v6.1 unless named):
``calculate_min_free_kbytes()``: ``int_sqrt(lowmem_kbytes * 16)`` clamped to
[128, 262144], lowmem = ``nr_free_buffer_pages()`` at the postcore initcall
(every zone's managed pages, watermarks still 0);
``mm/khugepaged.c set_recommended_min_free_kbytes()``: with THP enabled,
``pageblock_nr_pages * nr_zones * (2 + 3*3)`` pages, at most 5 % of lowmem;
``mm/huge_memory.c hugepage_init()``: THP stays off below 512 MiB of totalram;
``__setup_per_zone_wmarks()``: ``min_z = pages_min * managed_z / lowmem``,
``tmp = max(min_z/4, managed_z * 10/10000)``, ``low = min + tmp``, ``high = low + tmp``;
``setup_per_zone_lowmem_reserve()`` with ratios {DMA 256, DMA32 256, Normal 32};
``calculate_totalreserve_pages()``: per zone ``min(managed, high + max lowmem_reserve)``;
``si_mem_available()``: ``free - totalreserve + (file - min(file/2, low))
+ (reclaimable - min(reclaimable/2, low))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.units import PAGE_KIB

LOWMEM_RESERVE_RATIO = {"DMA": 256, "DMA32": 256, "Normal": 32}
WATERMARK_SCALE_FACTOR = 10  # /10000
THP_MIN_TOTALRAM_KIB = 512 * 1024
MIGRATE_PCPTYPES = 3


@dataclass(frozen=True)
class ZoneManaged:
    """Managed pages of one zone when the watermarks were set. [pages]"""

    node: int
    name: str
    managed_pages: int


@dataclass(frozen=True)
class Watermarks:
    """Watermarks and reserves of a machine. [pages unless named]"""

    min_free_kbytes: int
    thp_active: bool
    zones: tuple[ZoneManaged, ...]
    min_pages: tuple[int, ...]
    low_pages: tuple[int, ...]
    high_pages: tuple[int, ...]
    lowmem_reserve_pages: tuple[int, ...]  # max over upper zones, per zone
    totalreserve_pages: int

    @property
    def low_kib(self) -> int:
        """Sum of low watermarks. [KiB]"""
        return sum(self.low_pages) * PAGE_KIB

    @property
    def totalreserve_kib(self) -> int:
        return self.totalreserve_pages * PAGE_KIB

    def node_totalreserve_kib(self, node: int) -> int:
        return PAGE_KIB * sum(
            min(z.managed_pages, h + r)
            for z, h, r in zip(self.zones, self.high_pages, self.lowmem_reserve_pages, strict=True)
            if z.node == node
        )


def _wmarks(zones: tuple[ZoneManaged, ...], min_free_kbytes: int) -> tuple[list[int], list[int], list[int]]:
    pages_min = min_free_kbytes // PAGE_KIB
    lowmem = sum(z.managed_pages for z in zones) or 1
    mins, lows, highs = [], [], []
    for z in zones:
        zmin = pages_min * z.managed_pages // lowmem
        tmp = max(zmin >> 2, z.managed_pages * WATERMARK_SCALE_FACTOR // 10000)
        mins.append(zmin)
        lows.append(zmin + tmp)
        highs.append(zmin + 2 * tmp)
    return mins, lows, highs


def watermarks(
    zones: tuple[ZoneManaged, ...] | list[ZoneManaged],
    *,
    thp_available: bool,
    pageblock_pages: int,
    thp_mode: str | None = None,
) -> Watermarks:
    """Compute ``min_free_kbytes``, per-zone watermarks and ``totalreserve_pages``.

    Parameters
    ----------
    zones
        Populated zones in order (node, then DMA < DMA32 < Normal) with their
        managed pages at initcall time (the ``Memory:`` line's totalram split by zone).
    thp_available
        THP compiled in and usable (``always`` or ``madvise``); s390x under TCG has none.
    pageblock_pages
        512 on x86-64 (2 MiB), 256 on s390x (1 MiB).
    thp_mode
        ``transparent_hugepage=`` override (``never`` disables the THP rule).
    """
    zones = tuple(zones)
    total_pages = sum(z.managed_pages for z in zones)
    lowmem_kib = total_pages * PAGE_KIB  # watermarks are 0 at this point
    min_free = min(max(math.isqrt(lowmem_kib * 16), 128), 262144)
    thp_active = thp_available and thp_mode != "never" and total_pages * PAGE_KIB >= THP_MIN_TOTALRAM_KIB
    if thp_active:
        _, _, highs = _wmarks(zones, min_free)
        free_buffer_pages = sum(max(z.managed_pages - h, 0) for z, h in zip(zones, highs, strict=True))
        nr_zones = len({(z.node, z.name) for z in zones if z.managed_pages})
        recommended = pageblock_pages * nr_zones * (2 + MIGRATE_PCPTYPES * MIGRATE_PCPTYPES)
        recommended = min(recommended, free_buffer_pages // 20) * PAGE_KIB
        min_free = max(min_free, recommended)
    mins, lows, highs = _wmarks(zones, min_free)
    reserves: list[int] = []
    for i, z in enumerate(zones):
        ratio = LOWMEM_RESERVE_RATIO.get(z.name, 0)
        best = 0
        upper = 0
        for other in zones[i + 1 :]:
            if other.node != z.node:
                continue
            upper += other.managed_pages
            if ratio and z.managed_pages:
                best = max(best, upper // ratio)
        reserves.append(best)
    total_reserve = sum(min(z.managed_pages, h + r) for z, h, r in zip(zones, highs, reserves, strict=True))
    return Watermarks(
        min_free, thp_active, zones, tuple(mins), tuple(lows), tuple(highs), tuple(reserves), total_reserve
    )


def mem_available_kib(
    mem_free_kib: int, watermarks_: Watermarks, *, file_kib: int = 0, reclaimable_kib: int = 0
) -> int:
    """``si_mem_available()`` @ v6.1. [KiB]

    ``file_kib`` = Active(file) + Inactive(file); ``reclaimable_kib`` =
    SReclaimable + KReclaimable's non-slab part.
    """
    low = watermarks_.low_kib
    available = mem_free_kib - watermarks_.totalreserve_kib
    available += file_kib - min(file_kib // 2, low)
    available += reclaimable_kib - min(reclaimable_kib // 2, low)
    return max(available, 0)
