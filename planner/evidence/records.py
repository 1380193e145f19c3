"""Typed, frozen records of measured values parsed from kernel evidence.

Nothing here is estimated: every field is a number or string read from a log
line or a /proc file. Fields a log does not contain are ``None`` (or empty).
Parsers live beside this module (``dmesg.py``, ``meminfo.py``, ``slabinfo.py``,
``zoneinfo.py``, ``size.py``, ``bundle.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

HashPlacement = Literal["linear", "vmalloc", "vmalloc hugepage", "bootmem"]


@dataclass(frozen=True)
class MemoryLine:
    """The dmesg ``Memory:`` line.

    6.x: ``Memory: 85928K/130552K available (14343K kernel code, 2327K rwdata,
    8348K rodata, 2612K init, 5436K bss, 44368K reserved, 0K cma-reserved)``;
    2.6-era: ``Memory: 1003884k/1039360k available (3384k kernel code,
    34360k reserved, 2355k data, 220k init)``.
    """

    available_kib: int
    #: second figure: physpages (6.x, holes excluded) or end_pfn (2.6 x86-64, holes included)
    physical_kib: int
    kernel_code_kib: int
    reserved_kib: int
    init_kib: int
    rwdata_kib: int | None = None  # 6.x
    rodata_kib: int | None = None  # 6.x
    bss_kib: int | None = None  # 6.x
    cma_reserved_kib: int | None = None  # 6.x
    data_kib: int | None = None  # 2.6-era (includes rodata)
    highmem_kib: int | None = None
    format: Literal["2.6", "6.x"] = "6.x"
    line_number: int = 0
    absent_kib: int | None = None  # 2.6.2x x86-64 ``NNNk absent`` (e820 holes below end_pfn)


@dataclass(frozen=True)
class HashTable:
    """One ``... hash table entries: N (order: o, B bytes[, linear|vmalloc])`` line."""

    name: str  # as printed: "Dentry cache", "Inode-cache", "TCP established", "Dquot-cache", ...
    entries: int
    order: int
    size_bytes: int
    placement: HashPlacement | None  # None when the line has no suffix (2.6, Dquot-cache)
    timestamp_s: float | None = None
    line_number: int = 0
    #: False when the line prints only the entry count (2.6.18 ``Mount-cache hash table entries: 256``);
    #: ``order``/``size_bytes`` are then the one page that 2.6.18 ``fs/namespace.c mnt_init()`` allocates
    #: with ``__get_free_page()``, not figures from the log.
    size_printed: bool = True


@dataclass(frozen=True)
class MemoryRange:
    """A physical range, end exclusive, from e820 / ``Early memory node ranges`` / iomem."""

    start: int  # bytes
    end: int  # bytes, exclusive
    kind: str  # "usable", "reserved", "ACPI data", "ACPI NVS", "node0", ...

    @property
    def size_bytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ZonePages:
    """``DMA zone: 1415 pages, LIFO batch:0`` (2.6) or ``  DMA32 zone: 28640 pages ...``."""

    zone: str
    pages: int


@dataclass(frozen=True)
class Percpu:
    """``percpu: Embedded 61 pages/cpu s212992 r8192 d28672 u2097152``."""

    pages_per_cpu: int
    static_bytes: int
    reserved_bytes: int
    dynamic_bytes: int
    unit_bytes: int


@dataclass(frozen=True)
class FreedMemory:
    """``Freeing unused kernel image (initmem) memory: 2612K`` and friends."""

    what: str  # "initrd", "unused kernel image (initmem)", "SMP alternatives", "unused decrypted", ...
    size_kib: int
    line_number: int = 0


@dataclass(frozen=True)
class Dmesg:
    """Everything the planner reads from one kernel log."""

    linux_version: str | None = None  # the whole ``Linux version ...`` line after the prefix
    release: str | None = None  # "6.1.0-56-cloud-amd64"
    arch: str | None = None  # "x86_64", "s390x", or None when not derivable
    command_line: str | None = None  # ``Kernel command line:``
    memory: MemoryLine | None = None
    hash_tables: tuple[HashTable, ...] = ()
    e820: tuple[MemoryRange, ...] = ()
    node_ranges: tuple[MemoryRange, ...] = ()
    zones: tuple[ZonePages, ...] = ()
    total_pages: int | None = None  # ``Built N zonelists ... Total pages: N`` / ``On node 0 totalpages: N``
    percpu: Percpu | None = None
    nr_cpu_ids: int | None = None  # ``setup_percpu: NR_CPUS:8192 nr_cpumask_bits:1 nr_cpu_ids:1 ...``
    log_buf_len_bytes: int | None = None  # ``printk: log_buf_len: 1048576 bytes``
    swiotlb_kib: int | None = None  # ``software IO TLB: mapped [mem ...] (64MB)``; 0 for ``No low mem``
    crashkernel_kib: int | None = None  # ``Reserving 128MB of memory at 368MB for crashkernel``
    freed: tuple[FreedMemory, ...] = ()
    max_memory_kib: int | None = None  # s390x ``setup: The maximum memory size is 128MB``
    deferred_init: bool = False  # ``node 0 deferred pages initialised in NNNms`` seen
    run_init: bool = False  # ``Run /init as init process`` (or ``Freeing unused kernel memory`` on 2.6) seen
    panic: str | None = None  # first ``Kernel panic - not syncing: ...`` message
    oom: bool = False  # ``Out of memory`` seen
    line_count: int = 0
    #: every ``On node N totalpages: P`` line as (node, pages); ``total_pages`` is their sum when no
    #: ``Built N zonelists ... Total pages:`` line exists
    node_total_pages: tuple[tuple[int, int], ...] = ()
    #: every ``NODE_DATA(N) allocated [mem 0xA-0xB]`` line as (node, KiB) (x86-64 NUMA)
    node_data: tuple[tuple[int, int], ...] = ()

    @property
    def node_count(self) -> int:
        """NUMA nodes with memory: distinct nodes of ``Early memory node ranges`` (1 if none)."""
        return len({r.kind for r in self.node_ranges}) or 1

    @property
    def freed_kib(self) -> int:
        """Sum of every ``Freeing ... memory: NK`` line. [KiB]"""
        return sum(f.size_kib for f in self.freed)

    def hash_table(self, name: str) -> HashTable | None:
        """The first hash table printed under ``name`` (``"Dentry cache"``, ``"TCP established"``)."""
        for table in self.hash_tables:
            if table.name == name:
                return table
        return None


@dataclass(frozen=True)
class Meminfo:
    """/proc/meminfo: every ``Name: value [kB]`` line, values in KiB (or counts for HugePages_*)."""

    fields_kib: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int | None:
        return self.fields_kib.get(name)

    def __getitem__(self, name: str) -> int:
        return self.fields_kib[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields_kib


@dataclass(frozen=True)
class SlabCache:
    """One cache from /proc/slabinfo 2.1 or one slabtop row."""

    name: str
    active_objs: int
    num_objs: int
    obj_size_bytes: int
    objs_per_slab: int
    pages_per_slab: int | None  # slabinfo only
    num_slabs: int
    cache_kib: int  # memory held: num_slabs * pages_per_slab * 4 (slabinfo) or slabtop's CACHE SIZE
    active_slabs: int | None = None  # slabinfo only


@dataclass(frozen=True)
class Slabinfo:
    """/proc/slabinfo (version 2.1) or slabtop output."""

    version: str  # "2.1", "2.1 (statistics)", "slabtop"
    caches: tuple[SlabCache, ...] = ()
    #: slabtop summary lines ("Active / Total Size (% used)" -> (active, total)) in KiB or counts
    summary: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: slabtop ``Minimum / Average / Maximum Object`` [KiB]
    object_size_kib: tuple[float, float, float] | None = None

    @property
    def total_kib(self) -> int:
        return sum(c.cache_kib for c in self.caches)


@dataclass(frozen=True)
class Zone:
    """One zone of /proc/zoneinfo (pages)."""

    node: int
    name: str
    present_pages: int
    managed_pages: int
    spanned_pages: int
    free_pages: int
    min_pages: int
    low_pages: int
    high_pages: int
    protection_pages: tuple[int, ...] = ()
    pcp_count_pages: int = 0  # sum of ``count:`` over the zone's per-CPU pagesets


@dataclass(frozen=True)
class Zoneinfo:
    """/proc/zoneinfo: every zone, populated or not."""

    zones: tuple[Zone, ...] = ()

    @property
    def pcp_kib(self) -> int:
        return 4 * sum(z.pcp_count_pages for z in self.zones)


@dataclass(frozen=True)
class SizeOutput:
    """``size vmlinux`` in Berkeley format (bytes)."""

    text_bytes: int
    data_bytes: int
    bss_bytes: int
    dec_bytes: int
    filename: str


@dataclass(frozen=True)
class Evidence:
    """One boot's evidence: whatever subset of the sources was available.

    ``memory_kib`` is the configured RAM (qemu ``-m``): from a bootlab manifest,
    from the caller, or inferred by :func:`planner.evidence.bundle.infer_memory_kib`.
    """

    source: str  # path or label
    sha256: str  # of the raw input bytes
    dmesg: Dmesg | None = None
    meminfo: Meminfo | None = None
    slabinfo: Slabinfo | None = None
    zoneinfo: Zoneinfo | None = None
    size: SizeOutput | None = None
    uname: str | None = None
    cmdline: str | None = None  # /proc/cmdline
    min_free_kbytes: int | None = None
    thp_mode: str | None = None  # "always", "madvise", "never", or None when absent
    memory_kib: int | None = None
    vcpu_count: int | None = None
    machine: str | None = None  # "pc", "q35", "s390-ccw-virtio"
    #: the guest's RAM resident in qemu when the dump ended (bootlab manifest) [KiB]
    guest_ram_resident_kib: int | None = None
    sections: tuple[str, ...] = ()  # names of the ``==== NAME`` sections found
    #: ``==== /proc/meminfo (again, end of dump)``: meminfo read again after the whole dump
    meminfo_end: Meminfo | None = None
    #: CPUs in ``==== /sys/devices/system/cpu/possible`` (the kernel's ``nr_cpu_ids``)
    possible_cpu_count: int | None = None
