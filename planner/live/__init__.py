"""Live libvirt hosts, read-only: the only package that imports ``libvirt`` (lazily, in
:mod:`.reader`).

:mod:`.records` the frozen snapshots; :mod:`.xml` the capabilities and domain XML parsers;
:mod:`.proc` the /proc (smaps, status) and balloon-statistics parsers; :mod:`.reader` the
connection, :func:`snapshot` and :func:`read_host`. Everything a caller needs is here::

    from planner import live
    snap = live.snapshot("qemu:///system")
"""

from planner.live.proc import (
    SmapsMapping,
    balloon_from_stats,
    guest_ram_mappings,
    parse_smaps,
    parse_smaps_rollup,
    process_memory,
    qemu_pids_by_uuid,
)
from planner.live.reader import (
    INSTALL_HINT,
    driver_host_file,
    is_local_qemu_uri,
    load_libvirt,
    open_read_only,
    read_host,
    snapshot,
    validate_uri,
)
from planner.live.records import (
    ACTIVE_STATES,
    DOMAIN_STATES,
    NUMA_MODES,
    BalloonStats,
    DomainConfig,
    DomainSnapshot,
    HostSnapshot,
    HugePagePool,
    MemNode,
    NodeSnapshot,
    ProcessMemory,
)
from planner.live.xml import parse_capabilities, parse_domain_xml, parse_nodeset, scale_to_kib

__all__ = [
    "ACTIVE_STATES",
    "DOMAIN_STATES",
    "INSTALL_HINT",
    "NUMA_MODES",
    "BalloonStats",
    "DomainConfig",
    "DomainSnapshot",
    "HostSnapshot",
    "HugePagePool",
    "MemNode",
    "NodeSnapshot",
    "ProcessMemory",
    "SmapsMapping",
    "balloon_from_stats",
    "driver_host_file",
    "guest_ram_mappings",
    "is_local_qemu_uri",
    "load_libvirt",
    "open_read_only",
    "parse_capabilities",
    "parse_domain_xml",
    "parse_nodeset",
    "parse_smaps",
    "parse_smaps_rollup",
    "process_memory",
    "qemu_pids_by_uuid",
    "read_host",
    "scale_to_kib",
    "snapshot",
    "validate_uri",
]
