"""Read-only snapshots of live libvirt hosts: the only module that imports ``libvirt``.

:func:`snapshot` opens a URI with ``libvirt.openReadOnly`` and returns a frozen
:class:`HostSnapshot`: the host's memory as libvirt reports it from every source
(``getInfo``, the capabilities' NUMA cells, free memory per cell,
``getMemoryStats``), and one :class:`DomainSnapshot` per domain, collected in bulk
with ``getAllDomainStats`` (state, balloon, vCPU) plus each domain's XML
(maximum and current memory, vCPUs, hugepages, ``<numatune>``, guest NUMA cells).
For a local qemu host it also reads each qemu process's ``/proc/PID/smaps_rollup``
and ``/proc/PID/smaps`` to measure the host-side overhead (process RSS/PSS minus
the resident guest RAM) and ``/proc/PID/status`` for its page tables.

Nothing here writes to libvirt: the connection is read-only (the daemon refuses
every mutating call on it) and the module calls only ``get*``/``list*``/``info``
style APIs; ``tests/test_live.py`` checks that every libvirt API this file names
(called or passed on as a bound method) is on its read-only allow-list. Nothing
here judges the numbers either: capacity, commitment, warnings and headroom are
:mod:`planner.api`'s job.

The parsers (:func:`parse_capabilities`, :func:`parse_domain_xml`,
:func:`parse_smaps_rollup`, :func:`guest_ram_mappings`) are pure functions over
text, so they are tested on recorded output.

References
----------
.. [1] ``reference/libvirt-recipes.md`` §2 (what the test driver returns and fakes:
   per-cell capacity is not modelled by file hosts, free-memory figures are
   placeholders), §3 (balloon statistics: ``actual`` = balloon size, ``available``
   = guest MemTotal, ``usable`` = MemAvailable, ``unused`` = MemFree, ``rss`` =
   qemu VmRSS; the overhead measurement from smaps), §4 gotcha 9 (the first
   ``getCapabilities()`` probes every qemu binary) and 14 (memory sources disagree),
   §5 (the API calls).
.. [2] libvirt ``docs/formatdomain.rst`` @ v9.0.0 "Memory Allocation", "Memory
   Backing", "NUMA Node Tuning", "CPU model and topology" (``<numa><cell>``);
   ``docs/formatcaps.rst`` ("host/topology/cells"); unit suffixes in
   ``src/util/virutil.c`` ``virScaleInteger`` (``KB`` = 1000, ``K``/``KiB`` = 1024).
.. [3] Linux ``Documentation/filesystems/proc.rst`` @ v6.1, "smaps_rollup" and
   "/proc/<pid>/smaps" (per-mapping ``Size``, ``Rss``, ``Pss`` in kB), ``VmPTE`` in
   ``/proc/<pid>/status``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from planner.errors import InputError, LiveQueryError
from planner.units import BYTES_PER_KIB, KIB_PER_MIB

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

#: libvirt's size units -> bytes [2] (``KB`` is 1000 bytes, ``K``/``KiB`` 1024)
_LIBVIRT_UNIT_BYTES: dict[str, int] = {
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "k": BYTES_PER_KIB,
    "kib": BYTES_PER_KIB,
    "mb": 1000**2,
    "m": BYTES_PER_KIB**2,
    "mib": BYTES_PER_KIB**2,
    "gb": 1000**3,
    "g": BYTES_PER_KIB**3,
    "gib": BYTES_PER_KIB**3,
    "tb": 1000**4,
    "t": BYTES_PER_KIB**4,
    "tib": BYTES_PER_KIB**4,
    "pb": 1000**5,
    "p": BYTES_PER_KIB**5,
    "pib": BYTES_PER_KIB**5,
    "eb": 1000**6,
    "e": BYTES_PER_KIB**6,
    "eib": BYTES_PER_KIB**6,
}

#: ``driver[+transport]://[user@][host][:port]/path[?query]``
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s]*$")

INSTALL_HINT = (
    "planner check needs libvirt-python: pip install 'planner[libvirt]' "
    "(it builds from source and needs libvirt-dev, pkg-config, gcc and the Python headers)"
)


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
        """Overhead RSS plus the process's page tables: what the host pays beyond guest RAM. [KiB]"""
        return self.overhead_rss_kib + self.page_tables_kib


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


# --- pure parsers ------------------------------------------------------------------------------
def validate_uri(uri: str) -> str:
    """Check that ``uri`` looks like a libvirt URI (``driver[+transport]://[host]/path``).

    Raises
    ------
    InputError
        For anything else (a bare word, spaces, an empty string), and for a ``test://`` URI
        that names a host or a host file that does not exist.
    """
    if not _URI_RE.match(uri):
        raise InputError(
            f"expected a libvirt URI such as qemu:///system, qemu+ssh://host/system or "
            f"test:///path/host.xml; found {uri!r}",
            field="URI",
        )
    parts = urlsplit(uri)
    if parts.scheme == "test":  # libvirt would try TLS to a host, or print libxml2 noise for a missing file
        if parts.netloc:
            raise InputError(
                f"expected test:///ABSOLUTE/PATH.xml (three slashes) or test:///default; found {uri!r}",
                field="URI",
            )
        if parts.path != "/default" and not Path(parts.path).is_file():
            raise InputError(
                f"expected a test-driver host file at {parts.path}; found no such file", field="URI"
            )
    return uri


def is_local_qemu_uri(uri: str) -> bool:
    """True for a qemu URI that reaches a daemon on this machine (no host, unix transport)."""
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    return driver == "qemu" and transport in ("", "unix") and parts.hostname in (None, "", "localhost")


def scale_to_kib(value: str, unit: str | None, *, field: str = "memory") -> int:
    """A libvirt size (value + ``unit`` attribute, default KiB) in whole KiB [2]."""
    factor = _LIBVIRT_UNIT_BYTES.get((unit or "KiB").lower())
    if factor is None:
        raise InputError(f"expected a libvirt size unit such as KiB or MiB; found {unit!r}", field=field)
    try:
        number = int(value.strip())
    except ValueError:
        raise InputError(f"expected a whole number; found {value!r}", field=field) from None
    return (number * factor) // BYTES_PER_KIB


def parse_nodeset(text: str) -> tuple[int, ...]:
    """libvirt's node/cpu set syntax: ``0-3,^2,5`` -> ``(0, 1, 3, 5)``."""
    include: set[int] = set()
    exclude: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        target = include
        if part.startswith("^"):
            target, part = exclude, part[1:]
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                target.update(range(lo, hi + 1))
            else:
                target.add(int(part))
        except ValueError:
            raise InputError(f"expected a node set such as 0-3,^2; found {text!r}", field="nodeset") from None
    return tuple(sorted(include - exclude))


def _size(el: ET.Element | None, field: str) -> int | None:
    if el is None or el.text is None:
        return None
    return scale_to_kib(el.text, el.get("unit"), field=field)


def parse_capabilities(xml: str) -> tuple[NodeSnapshot, ...]:
    """The NUMA cells of a capabilities document (``host/topology/cells/cell``) [2].

    Returns an empty tuple when the host reports no cells (the test driver's file
    hosts, [1] §2).
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise InputError(
            f"expected capabilities XML; found unparsable text ({err})", field="capabilities"
        ) from None
    nodes: list[NodeSnapshot] = []
    for cell in root.iterfind("host/topology/cells/cell"):
        node_id = int(cell.get("id", "0"))
        memory_kib = _size(cell.find("memory"), f"cell {node_id} memory") or 0
        pools = tuple(
            sorted(
                (
                    HugePagePool(
                        page_kib=scale_to_kib(p.get("size", "4"), p.get("unit")),
                        total_pages=int(p.text or 0),
                    )
                    for p in cell.iterfind("pages")
                ),
                key=lambda pool: pool.page_kib,
            )
        )
        cpus = tuple(sorted(int(c.get("id", "0")) for c in cell.iterfind("cpus/cpu")))
        nodes.append(NodeSnapshot(node_id=node_id, memory_kib=memory_kib, cpu_ids=cpus, hugepages=pools))
    return tuple(sorted(nodes, key=lambda n: n.node_id))


def parse_domain_xml(xml: str) -> DomainConfig:
    """Memory, vCPU and NUMA settings of a domain's XML (``XMLDesc``) [2]."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise InputError(f"expected domain XML; found unparsable text ({err})", field="domain") from None
    name = root.findtext("name") or ""
    max_memory_kib = _size(root.find("memory"), "memory")
    if max_memory_kib is None:
        raise InputError(f"domain {name!r}: expected a <memory> element; found none", field="memory")
    current_memory_kib = _size(root.find("currentMemory"), "currentMemory") or max_memory_kib
    vcpu = root.find("vcpu")
    max_vcpu_count = int(vcpu.text) if vcpu is not None and vcpu.text else 1
    vcpu_count = int(vcpu.get("current", max_vcpu_count)) if vcpu is not None else 1

    hugepage_kib: int | None = None
    backing = root.find("memoryBacking")
    if backing is not None and backing.find("hugepages") is not None:
        page = backing.find("hugepages/page")
        # no <page>: the host's default huge page size, which the XML does not name
        hugepage_kib = scale_to_kib(page.get("size", "0"), page.get("unit")) if page is not None else 0
    locked = backing is not None and backing.find("locked") is not None

    numa_mode = numa_placement = None
    numa_nodeset: tuple[int, ...] = ()
    mem = root.find("numatune/memory")
    if mem is not None:
        numa_mode = mem.get("mode", "strict")
        numa_placement = mem.get("placement")
        numa_nodeset = parse_nodeset(mem.get("nodeset", ""))
    memnodes = tuple(
        MemNode(
            cell_id=int(mn.get("cellid", "0")),
            mode=mn.get("mode", "strict"),
            nodeset=parse_nodeset(mn.get("nodeset", "")),
        )
        for mn in root.iterfind("numatune/memnode")
    )
    cells = tuple(
        scale_to_kib(c.get("memory", "0"), c.get("unit"), field="cpu/numa/cell")
        for c in root.iterfind("cpu/numa/cell")
    )
    balloon = root.find("devices/memballoon")
    period = balloon.find("stats") if balloon is not None else None
    return DomainConfig(
        name=name,
        uuid=root.findtext("uuid") or "",
        domain_type=root.get("type", ""),
        max_memory_kib=max_memory_kib,
        current_memory_kib=current_memory_kib,
        vcpu_count=vcpu_count,
        max_vcpu_count=max_vcpu_count,
        hugepage_kib=hugepage_kib,
        memory_locked=locked,
        numa_mode=numa_mode,
        numa_nodeset=numa_nodeset,
        numa_placement=numa_placement,
        memnodes=memnodes,
        guest_numa_cells_kib=cells,
        balloon_model=balloon.get("model") if balloon is not None else None,
        balloon_stats_period_s=int(period.get("period", "0")) if period is not None else None,
        kernel_path=root.findtext("os/kernel"),
    )


def balloon_from_stats(stats: Mapping[str, Any], prefix: str = "balloon.") -> BalloonStats | None:
    """Balloon statistics from a ``getAllDomainStats`` record (``balloon.*`` keys) or, with
    ``prefix=""``, from ``memoryStats()`` (whose balloon size is ``actual``)."""

    def get(key: str) -> int | None:
        value = stats.get(prefix + key)
        return int(value) if value is not None else None

    current = get("current") if prefix else get("actual")
    if current is None:
        return None
    return BalloonStats(
        current_kib=current,
        maximum_kib=get("maximum"),
        available_kib=get("available"),
        usable_kib=get("usable"),
        unused_kib=get("unused"),
        disk_caches_kib=get("disk_caches"),
        rss_kib=get("rss"),
        last_update_s=get("last-update") if prefix else get("last_update"),
    )


_SMAPS_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")
_SMAPS_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")


def parse_smaps_rollup(text: str) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` -> field -> KiB (``Rss``, ``Pss``, ``Anonymous`` ...) [3]."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _SMAPS_FIELD.match(line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


@dataclass(frozen=True)
class SmapsMapping:
    """One ``/proc/PID/smaps`` entry (the fields the overhead measurement needs). [KiB]"""

    perms: str
    path: str
    size_kib: int
    rss_kib: int
    pss_kib: int


def parse_smaps(text: str) -> list[SmapsMapping]:
    """``/proc/PID/smaps`` -> its mappings with Size, Rss and Pss [3]."""
    out: list[SmapsMapping] = []
    head: tuple[str, str] | None = None
    values: dict[str, int] = {}

    def flush() -> None:
        if head is not None:
            out.append(
                SmapsMapping(
                    perms=head[0],
                    path=head[1],
                    size_kib=values.get("Size", 0),
                    rss_kib=values.get("Rss", 0),
                    pss_kib=values.get("Pss", 0),
                )
            )

    for line in text.splitlines():
        m = _SMAPS_HEADER.match(line)
        if m:
            flush()
            head, values = (m.group(3), m.group(4).strip()), {}
            continue
        f = _SMAPS_FIELD.match(line.strip())
        if f and f.group(1) in ("Size", "Rss", "Pss"):
            values[f.group(1)] = int(f.group(2))
    flush()
    return out


def guest_ram_mappings(
    mappings: Iterable[SmapsMapping], sizes_kib: Iterable[int]
) -> list[SmapsMapping] | None:
    """The mappings that hold guest RAM: for each expected size, the writable, not
    executable mapping of exactly that size with the most resident memory [1] §3.

    qemu maps each RAM backend (``pc.ram``, or one per guest NUMA cell) as one
    anonymous, memfd or hugetlbfs mapping of the backend's size; the TCG
    translation cache is the one large ``rwx`` mapping and is left out.
    Returns ``None`` when some size has no candidate.
    """
    candidates = [m for m in mappings if m.perms[1] == "w" and m.perms[2] != "x"]
    chosen: list[SmapsMapping] = []
    for size in sizes_kib:
        fits = [m for m in candidates if m.size_kib == size and m not in chosen]
        if not fits:
            return None
        chosen.append(max(fits, key=lambda m: m.rss_kib))
    return chosen


def process_memory(pid: int, guest_ram_sizes_kib: Iterable[int], proc: Path = Path("/proc")) -> ProcessMemory:
    """Measure one qemu process from ``/proc/PID/{smaps_rollup,smaps,status}`` [3].

    Raises
    ------
    OSError
        When the process is gone or not readable (``PermissionError``).
    LookupError
        When no mapping matches the guest RAM size.
    """
    base = proc / str(pid)
    rollup = parse_smaps_rollup((base / "smaps_rollup").read_text())
    ram = guest_ram_mappings(parse_smaps((base / "smaps").read_text()), guest_ram_sizes_kib)
    if ram is None:
        raise LookupError("no mapping of the guest RAM's size in smaps")
    pte_kib = 0
    for line in (base / "status").read_text().splitlines():
        if line.startswith("VmPTE:"):
            pte_kib = int(line.split()[1])
    return ProcessMemory(
        pid=pid,
        rss_kib=rollup.get("Rss", 0),
        pss_kib=rollup.get("Pss", 0),
        guest_ram_rss_kib=sum(m.rss_kib for m in ram),
        guest_ram_pss_kib=sum(m.pss_kib for m in ram),
        page_tables_kib=pte_kib,
        guest_ram_mappings=len(ram),
    )


def qemu_pids_by_uuid(proc: Path = Path("/proc")) -> dict[str, int]:
    """Domain UUID -> pid of every local process started with ``-uuid UUID`` (qemu's
    command line as libvirt builds it); works for the system and the session daemon."""
    out: dict[str, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-uuid" not in argv or b"qemu" not in argv[0]:
            continue
        i = argv.index(b"-uuid")
        if i + 1 < len(argv):
            out[argv[i + 1].decode(errors="replace").lower()] = int(entry.name)
    return out


# --- libvirt -------------------------------------------------------------------------------------
def load_libvirt() -> Any:
    """Import ``libvirt`` lazily and silence its default error printer.

    Raises
    ------
    LiveQueryError
        When libvirt-python is not installed, with the command that installs it.
    """
    try:
        import libvirt
    except ImportError:
        raise LiveQueryError(INSTALL_HINT) from None
    if not _QUIET[0]:
        libvirt.registerErrorHandler(_quiet, None)
        _QUIET[0] = True
    return libvirt


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt's error callback: errors arrive as exceptions, so print nothing."""
    return None


#: whether libvirt's default error printer has been replaced (once per process)
_QUIET = [False]


T = TypeVar("T")


class _Reader:
    """Turns libvirt errors into :class:`LiveQueryError` naming the URI and the step."""

    def __init__(self, libvirt: Any, uri: str) -> None:
        self.libvirt = libvirt
        self.uri = uri
        self.notes: list[str] = []

    def lost(self, err: Any) -> bool:
        codes = (
            self.libvirt.VIR_ERR_SYSTEM_ERROR,
            self.libvirt.VIR_ERR_RPC,
            self.libvirt.VIR_ERR_INVALID_CONN,
        )
        return bool(err.get_error_code() in codes)

    def call(self, step: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except self.libvirt.libvirtError as err:
            raise self.error(step, err) from None

    def optional(self, step: str, fn: Callable[[], T]) -> T | None:
        """A call some drivers do not support: ``None`` (and a note) instead of an error."""
        try:
            return fn()
        except self.libvirt.libvirtError as err:
            if self.lost(err):
                raise self.error(step, err) from None
            self.notes.append(f"{step}: {_message(err)}")
            return None

    def error(self, step: str, err: Any) -> LiveQueryError:
        hint = " (connection lost: was the daemon restarted or stopped?)" if self.lost(err) else ""
        return LiveQueryError(f"{self.uri}: {step}: {_message(err)}{hint}")


def _message(err: Any) -> str:
    text = str(err.get_error_message() or err).strip()
    return text.splitlines()[0] if text else "unknown libvirt error"


def open_read_only(uri: str) -> Any:
    """``libvirt.openReadOnly(uri)``.

    Raises
    ------
    InputError
        For a string that is not a libvirt URI.
    LiveQueryError
        When the host cannot be reached, refuses the connection, or libvirt-python is missing.
    """
    validate_uri(uri)
    libvirt = load_libvirt()
    try:
        return libvirt.openReadOnly(uri)
    except libvirt.libvirtError as err:
        raise LiveQueryError(f"{uri}: cannot connect: {_message(err)}") from None


def snapshot(uri: str) -> HostSnapshot:
    """Open ``uri`` read-only, read the host and every domain, close.

    Raises
    ------
    InputError
        For a string that is not a libvirt URI.
    LiveQueryError
        When the host cannot be reached, or the connection breaks during the read.
    """
    start = time.perf_counter()
    conn = open_read_only(uri)
    try:
        return read_host(conn, uri, start=start)
    finally:
        with contextlib.suppress(Exception):  # a broken connection may fail to close; nothing to do
            conn.close()


def read_host(conn: Any, uri: str, *, start: float | None = None) -> HostSnapshot:
    """Read a host through an open (read-only) connection; see :func:`snapshot`."""
    libvirt = load_libvirt()
    start = time.perf_counter() if start is None else start
    r = _Reader(libvirt, uri)
    info = r.call("getInfo", conn.getInfo)
    driver = str(r.call("getType", conn.getType))
    is_test = driver.upper() == "TEST"
    version = r.optional("getLibVersion", conn.getLibVersion)
    hostname = r.optional("getHostname", conn.getHostname)

    t_caps = time.perf_counter()
    nodes = parse_capabilities(r.call("getCapabilities", conn.getCapabilities))
    capabilities_s = time.perf_counter() - t_caps

    stats = r.optional("getMemoryStats", lambda: conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS))
    free_kib: int | None = None
    if is_test:
        r.notes.append(
            "test driver: its free-memory figures and guest balloon statistics are placeholders "
            "and are not used (the balloon size is)"
        )
    else:
        free_bytes = r.optional("getFreeMemory", conn.getFreeMemory)
        free_kib = int(free_bytes) // BYTES_PER_KIB if free_bytes is not None else None
        nodes = _with_free_memory(r, conn, nodes)

    local = is_local_qemu_uri(uri) and driver.upper() == "QEMU"
    domains = _read_domains(r, conn, local=local, placeholder_balloon=is_test)
    return HostSnapshot(
        uri=uri,
        hostname=str(hostname) if hostname is not None else None,
        driver=driver,
        libvirt_version=_version_text(version),
        arch=str(info[0]),
        cpu_count=int(info[2]),
        info_memory_kib=int(info[1]) * KIB_PER_MIB,
        stats_total_kib=int(stats["total"]) if stats and "total" in stats else None,
        stats_free_kib=int(stats["free"]) if stats and "free" in stats else None,
        free_kib=free_kib,
        nodes=nodes,
        domains=domains,
        local=local,
        kernel_release=os.uname().release if local else None,
        notes=tuple(r.notes),
        capabilities_s=capabilities_s,
        elapsed_s=time.perf_counter() - start,
    )


def _version_text(version: int | None) -> str:
    if version is None:
        return "unknown"
    v = int(version)
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


def _with_free_memory(r: _Reader, conn: Any, nodes: tuple[NodeSnapshot, ...]) -> tuple[NodeSnapshot, ...]:
    """Add per-cell free memory (``getCellsFreeMemory``, ``getMemoryStats(cell)``,
    ``getFreePages``) to the cells of the capabilities."""
    if not nodes:
        return nodes
    first, last = nodes[0].node_id, nodes[-1].node_id
    cells_free = r.optional("getCellsFreeMemory", lambda: conn.getCellsFreeMemory(first, last - first + 1))
    page_sizes = sorted({p.page_kib for n in nodes for p in n.hugepages})
    free_pages = (
        r.optional("getFreePages", lambda: conn.getFreePages(page_sizes, first, last - first + 1))
        if page_sizes
        else None
    )
    out = []
    for node in nodes:
        k = node.node_id - first
        cell_stats = r.optional(
            f"getMemoryStats({node.node_id})", functools.partial(conn.getMemoryStats, node.node_id)
        )
        free = int(cells_free[k]) // BYTES_PER_KIB if cells_free and k < len(cells_free) else None
        pools = node.hugepages
        if free_pages and node.node_id in free_pages:
            by_size = free_pages[node.node_id]
            pools = tuple(
                HugePagePool(p.page_kib, p.total_pages, by_size.get(p.page_kib)) for p in node.hugepages
            )
        out.append(
            NodeSnapshot(
                node_id=node.node_id,
                memory_kib=node.memory_kib,
                free_kib=free,
                stats_total_kib=int(cell_stats["total"]) if cell_stats and "total" in cell_stats else None,
                stats_free_kib=int(cell_stats["free"]) if cell_stats and "free" in cell_stats else None,
                cpu_ids=node.cpu_ids,
                hugepages=pools,
            )
        )
    return tuple(out)


def _read_domains(
    r: _Reader, conn: Any, *, local: bool, placeholder_balloon: bool = False
) -> tuple[DomainSnapshot, ...]:
    """Every domain, in bulk; ``placeholder_balloon``: the driver (test) makes up the guest's
    balloon figures from ``<currentMemory>`` ([1] §2), so only the balloon size is kept."""
    libvirt = r.libvirt
    flags = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BALLOON | libvirt.VIR_DOMAIN_STATS_VCPU
    records = r.call("getAllDomainStats", lambda: conn.getAllDomainStats(flags))
    pids = qemu_pids_by_uuid() if local and records else {}
    out: list[DomainSnapshot] = []
    for dom, stats in records:
        try:
            config = parse_domain_xml(dom.XMLDesc(0))
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                r.notes.append(f"a domain disappeared during the check: {_message(err)}")
                continue
            raise r.error("XMLDesc", err) from None
        state = DOMAIN_STATES.get(int(stats.get("state.state", 0)), "nostate")
        vcpus = stats.get("vcpu.current")
        if vcpus is not None and int(vcpus) != config.vcpu_count:
            config = replace(config, vcpu_count=int(vcpus))
        balloon = balloon_from_stats(stats)
        if balloon is None and state in ACTIVE_STATES and config.balloon_model not in (None, "none"):
            # drivers without bulk balloon stats (the test driver) still answer memoryStats()
            raw = r.optional(f"memoryStats({config.name})", dom.memoryStats)
            balloon = balloon_from_stats(raw, prefix="") if raw else None
            if balloon is not None and placeholder_balloon:
                balloon = BalloonStats(current_kib=balloon.current_kib)
        process = note = None
        if local and state in ACTIVE_STATES:
            process, note = _measure_process(pids.get(config.uuid.lower()), config)
        out.append(
            DomainSnapshot(config=config, state=state, balloon=balloon, process=process, process_note=note)
        )
    return tuple(sorted(out, key=lambda d: d.name))


def _measure_process(pid: int | None, config: DomainConfig) -> tuple[ProcessMemory | None, str | None]:
    if pid is None:
        return None, "no local qemu process with this domain's UUID (another PID namespace?)"
    sizes = config.guest_numa_cells_kib or (config.max_memory_kib,)
    try:
        return process_memory(pid, sizes), None
    except PermissionError:
        return None, f"/proc/{pid}/smaps: permission denied (run as root or as the qemu user)"
    except FileNotFoundError:
        return None, f"qemu process {pid} exited during the check"
    except (OSError, LookupError) as err:
        return None, f"/proc/{pid}: {err}"
