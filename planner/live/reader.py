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
style APIs; ``tests/test_live.py`` checks that every libvirt API the package names
(called or passed on as a bound method) is on its read-only allow-list. Nothing
here judges the numbers either: capacity, commitment, warnings and headroom are
:mod:`planner.capacity`'s and :mod:`planner.workflows.check`'s job.

The parsers (:mod:`planner.live.xml`, :mod:`planner.live.proc`) are pure functions over
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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from planner.errors import InputError, LiveQueryError
from planner.files import read_regular_file
from planner.live.proc import balloon_from_stats, process_memory, qemu_pids_by_uuid
from planner.live.records import (
    ACTIVE_STATES,
    DOMAIN_STATES,
    BalloonStats,
    DomainConfig,
    DomainSnapshot,
    HostSnapshot,
    HugePagePool,
    NodeSnapshot,
    ProcessMemory,
)
from planner.live.xml import parse_capabilities, parse_domain_xml
from planner.units import BYTES_PER_KIB, KIB_PER_MIB

#: ``driver[+transport]://[user@][host][:port]/path[?query]``
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s]*$")

INSTALL_HINT = (
    "planner check needs libvirt-python: pip install 'planner[libvirt]' "
    "(it builds from source and needs libvirt-dev, pkg-config, gcc and the Python headers)"
)


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
        if parts.path != "/default":
            if not Path(parts.path).exists():
                raise InputError(
                    f"expected a test-driver host file at {parts.path}; found no such file", field="URI"
                )
            check_test_driver_file(parts.path)
    return uri


def driver_host_file(uri: str) -> str | None:
    """The host file a ``test:///PATH`` URI makes libvirt's test driver read, else None."""
    parts = urlsplit(uri)
    if parts.scheme == "test" and not parts.netloc and parts.path not in ("", "/default"):
        return parts.path
    return None


#: the largest test-driver host file read [bytes] (the recorded ones are under 20 KiB)
MAX_TEST_DRIVER_BYTES = 16 * 1024 * 1024


def check_test_driver_file(path: str) -> None:
    """Refuse a file libvirt's test driver cannot read, before libvirt sees it: it must be a
    regular file of UTF-8 XML whose root element is ``<node>`` (libvirt
    ``src/test/test_driver.c testOpenFromFile()``, "Root element is not 'node'").

    Raises
    ------
    InputError
        Naming the file (and the line, for XML that is not well formed).
    """
    import xml.etree.ElementTree as ET

    what = "libvirt test-driver host file"
    data = read_regular_file(path, what=what, max_bytes=MAX_TEST_DRIVER_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"expected a {what} in UTF-8; found byte 0x{data[err.start]:02x}, which is not UTF-8",
            file=path,
            line=data.count(b"\n", 0, err.start) + 1,
            field="URI",
        ) from None
    try:  # expat refuses entity expansion bombs (Python >= 3.7.1 with expat >= 2.4)
        root = ET.fromstring(text)
    except ET.ParseError as err:
        line = err.position[0] if err.position else None
        raise InputError(f"expected a {what} (XML); found {err}", file=path, line=line, field="URI") from None
    if root.tag != "node":
        raise InputError(
            f"expected a {what} with the root element <node>; found <{root.tag}>", file=path, field="URI"
        )


def is_local_qemu_uri(uri: str) -> bool:
    """True for a qemu URI that reaches a daemon on this machine (no host, unix transport)."""
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    return driver == "qemu" and transport in ("", "unix") and parts.hostname in (None, "", "localhost")


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
        info_node_count=int(info[4]) if len(info) > 4 else None,
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
