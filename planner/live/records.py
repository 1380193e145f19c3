"""Frozen records of a live libvirt host: what :func:`planner.live.snapshot` returns.

All sizes in KiB; nothing here is estimated: each field is a figure libvirt or /proc reported.
"""

from __future__ import annotations

from dataclasses import dataclass

#: domain state number (``virDomainState``) -> name
DOMAIN_STATES: dict[int, str] = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}
#: states in which a domain holds host memory (a qemu process exists)
ACTIVE_STATES = frozenset({"nostate", "running", "blocked", "paused", "shutdown", "pmsuspended"})

#: ``<numatune><memory mode=...>``; libvirt's ``numaParameters()`` numbers them the same way
NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")


# --- records -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HugePagePool:
    """One page size of a NUMA cell: ``<pages size=...>`` and ``getFreePages``."""

    page_kib: int
    total_pages: int
    free_pages: int | None = None


@dataclass(frozen=True)
class NodeSnapshot:
    """One host NUMA cell as libvirt reports it.

    Attributes
    ----------
    node_id
        The cell id.
    memory_kib
        The cell's memory from the capabilities (the node's ``MemTotal`` on Linux). [KiB]
    free_kib
        ``getCellsFreeMemory`` for this cell (bytes there), or ``None`` when unsupported. [KiB]
    stats_total_kib, stats_free_kib
        ``getMemoryStats(cell)`` ``total`` and ``free``, or ``None``. [KiB]
    cpu_ids
        Host CPUs of the cell.
    hugepages
        Page pools (the base page size included), largest last.
    """

    node_id: int
    memory_kib: int
    free_kib: int | None = None
    stats_total_kib: int | None = None
    stats_free_kib: int | None = None
    cpu_ids: tuple[int, ...] = ()
    hugepages: tuple[HugePagePool, ...] = ()


@dataclass(frozen=True)
class BalloonStats:
    """Balloon statistics of a running domain (``balloon.*`` / ``memoryStats()``) [1] §3.

    ``available_kib``, ``usable_kib``, ``unused_kib`` and ``disk_caches_kib`` exist
    only when the guest's balloon driver reports them (a ``<memballoon>`` with a
    ``<stats period>``); ``rss_kib`` is the qemu process's VmRSS on the host.
    """

    current_kib: int  #: balloon size, what the guest may use now (``actual``/``balloon.current``)
    maximum_kib: int | None = None  #: ``balloon.maximum``
    available_kib: int | None = None  #: guest MemTotal
    usable_kib: int | None = None  #: guest MemAvailable
    unused_kib: int | None = None  #: guest MemFree
    disk_caches_kib: int | None = None  #: guest page cache that can be dropped
    rss_kib: int | None = None  #: qemu process RSS on the host
    last_update_s: int | None = None  #: guest timestamp of the statistics

    @property
    def guest_reported(self) -> bool:
        """True when the guest's balloon driver reported its own memory figures."""
        return self.available_kib is not None or self.usable_kib is not None


@dataclass(frozen=True)
class ProcessMemory:
    """Host-side memory of one qemu process, measured from /proc [3].

    ``guest_ram_*`` is the resident part of the mapping(s) whose size equals the
    guest's RAM (one per guest NUMA cell); the overhead is everything else in the
    process: code and libraries, heap, device state, the TCG translation cache.
    """

    pid: int
    rss_kib: int  #: ``smaps_rollup`` Rss
    pss_kib: int  #: ``smaps_rollup`` Pss
    guest_ram_rss_kib: int
    guest_ram_pss_kib: int
    page_tables_kib: int  #: ``VmPTE`` from ``/proc/PID/status``
    guest_ram_mappings: int  #: how many mappings were taken as guest RAM
    #: ``RssFile`` from ``/proc/PID/status``: qemu's binary and libraries in the page cache,
    #: resident once per host however many qemu processes map them (kvm-qemu ``shared_file_kib``)
    file_rss_kib: int = 0

    @property
    def overhead_rss_kib(self) -> int:
        """Process RSS minus resident guest RAM. [KiB]"""
        return self.rss_kib - self.guest_ram_rss_kib

    @property
    def overhead_pss_kib(self) -> int:
        """Process PSS minus the guest RAM's PSS (shared libraries split between qemus). [KiB]"""
        return self.pss_kib - self.guest_ram_pss_kib

    @property
    def host_overhead_kib(self) -> int:
        """What the host pays for this guest beyond its RAM: overhead RSS less the file pages
        (counted once per host, not per guest), plus the process's page tables. The same
        quantity as the kvm-qemu model's per-guest overhead. [KiB]"""
        return self.overhead_rss_kib - self.file_rss_kib + self.page_tables_kib


@dataclass(frozen=True)
class MemNode:
    """``<numatune><memnode cellid= mode= nodeset=>``: one guest cell bound to host nodes."""

    cell_id: int
    mode: str
    nodeset: tuple[int, ...]


@dataclass(frozen=True)
class DomainConfig:
    """What a domain's XML says about its memory and CPUs [2]."""

    name: str
    uuid: str
    domain_type: str  #: ``<domain type=>``: qemu, kvm, test, xen ...
    max_memory_kib: int  #: ``<memory>``: the guest's RAM at boot, the balloon's ceiling
    current_memory_kib: int  #: ``<currentMemory>``: the balloon target
    vcpu_count: int  #: ``<vcpu current=>`` or ``<vcpu>``
    max_vcpu_count: int  #: ``<vcpu>``
    hugepage_kib: int | None = None  #: page size of ``<memoryBacking><hugepages>``; None = not backed
    memory_locked: bool = False  #: ``<memoryBacking><locked/>``
    numa_mode: str | None = None  #: ``<numatune><memory mode=>``
    numa_nodeset: tuple[int, ...] = ()  #: host nodes of ``<numatune><memory nodeset=>``
    numa_placement: str | None = None  #: ``<numatune><memory placement=>`` (static/auto)
    memnodes: tuple[MemNode, ...] = ()
    guest_numa_cells_kib: tuple[int, ...] = ()  #: ``<cpu><numa><cell memory=>``
    balloon_model: str | None = None  #: ``<memballoon model=>``; None = no balloon element
    balloon_stats_period_s: int | None = None
    kernel_path: str | None = None  #: ``<os><kernel>`` of a direct kernel boot


@dataclass(frozen=True)
class DomainSnapshot:
    """One domain: its configuration, state and, where available, measured memory."""

    config: DomainConfig
    state: str
    balloon: BalloonStats | None = None
    process: ProcessMemory | None = None
    process_note: str | None = None  #: why ``process`` is missing, when it should be there

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def active(self) -> bool:
        """True when the domain holds host memory (running, paused, ...)."""
        return self.state in ACTIVE_STATES

    @property
    def current_memory_kib(self) -> int:
        """Balloon size when reported, else ``<currentMemory>``. [KiB]"""
        if self.balloon is not None:
            return self.balloon.current_kib
        return self.config.current_memory_kib


@dataclass(frozen=True)
class HostSnapshot:
    """A live libvirt host, read once.

    The memory figures come from different kernel sources and can disagree ([1] §4
    gotcha 14): ``info_memory_kib`` and the cells come from per-node meminfo,
    ``stats_total_kib`` from /proc/meminfo. All are kept; :mod:`planner.api`
    cross-checks them.
    """

    uri: str
    hostname: str | None
    driver: str  #: ``getType()``: QEMU, TEST, Xen ...
    libvirt_version: str  #: of the daemon (``getLibVersion``)
    arch: str  #: ``getInfo()[0]``
    cpu_count: int
    info_memory_kib: int  #: ``getInfo()[1]`` (MiB there)
    stats_total_kib: int | None  #: ``getMemoryStats(ALL_CELLS)['total']``
    stats_free_kib: int | None  #: ``getMemoryStats(ALL_CELLS)['free']``
    free_kib: int | None  #: ``getFreeMemory()`` (bytes there); None when it is a placeholder
    nodes: tuple[NodeSnapshot, ...]
    domains: tuple[DomainSnapshot, ...]
    local: bool  #: the host is this machine (its qemu processes were read from /proc)
    kernel_release: str | None  #: host kernel, known for a local host only
    notes: tuple[str, ...] = ()
    capabilities_s: float = 0.0  #: wall time of ``getCapabilities()`` [s]
    elapsed_s: float = 0.0  #: wall time of the whole snapshot [s]
    info_node_count: int | None = None  #: ``getInfo()[4]``: NUMA nodes (1 when it cannot tell)
