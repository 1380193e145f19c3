"""A live host's memory as its sources report it, cross-checked: libvirt's own sources
(``getInfo``, the NUMA cells, ``getMemoryStats``; recipes §4 gotcha 14), and the ``--host``
file against libvirt, saying which one the analysis (:mod:`.analyze`) uses.
"""

from __future__ import annotations

from planner.inputs.specs import HostSpec
from planner.live.records import HostSnapshot
from planner.report.text import count_text
from planner.units import format_kib

#: memory sources that differ by more than this share are reported (recipes §4 gotcha 14)
CHECK_SOURCES_TOLERANCE = 0.02
#: a host file's memory that differs from libvirt's by more than this share is reported: wider
#: than between libvirt's own sources, since libvirt's NUMA cells give each node's MemTotal,
#: which is below the installed RAM by what the kernel reserves at boot (memmap alone is 1.6 %)
CHECK_HOST_FILE_TOLERANCE = 0.05


def host_file_warnings(snap: HostSnapshot, host: HostSpec) -> list[str]:
    """The ``--host`` file against libvirt: which wins when their nodes or memory disagree."""
    if snap.nodes:
        count, memory_kib = len(snap.nodes), sum(n.memory_kib for n in snap.nodes)
        source, winner = "NUMA cells", "libvirt's NUMA cells are used, not the host file's nodes"
    else:
        count, memory_kib = snap.info_node_count or 1, snap.info_memory_kib
        source, winner = "getInfo", "the host file's nodes are used (libvirt reports no NUMA cells)"
    file_count, file_kib = len(host.node_memory_kib), host.memory_kib
    differ = abs(file_kib - memory_kib) / max(file_kib, memory_kib, 1) > CHECK_HOST_FILE_TOLERANCE
    if count == file_count and not differ:
        return []
    return [
        f"the host file {host.origin.file} says {format_kib(file_kib)} on {count_text(file_count, 'node')}, "
        f"libvirt ({source}) reports {format_kib(memory_kib)} on {count_text(count, 'node')}: {winner}"
    ]


def memory_source_warnings(snap: HostSnapshot) -> list[str]:
    """Cross-check the host's memory sources (recipes §4 gotcha 14)."""
    out: list[str] = []
    figures = {"getInfo": snap.info_memory_kib}
    if snap.nodes:
        figures["NUMA cells"] = sum(n.memory_kib for n in snap.nodes)
    if snap.stats_total_kib is not None:
        figures["getMemoryStats (/proc/meminfo)"] = snap.stats_total_kib
    if len(figures) < 2:
        return out
    low, high = min(figures.values()), max(figures.values())
    if high > 0 and (high - low) / high > CHECK_SOURCES_TOLERANCE:
        listed = ", ".join(f"{k} {format_kib(v)}" for k, v in figures.items())
        out.append(f"memory sources disagree: {listed}")
    for n in snap.nodes:
        if n.stats_total_kib is not None and n.stats_total_kib != n.memory_kib:
            diff = abs(n.stats_total_kib - n.memory_kib) / max(n.memory_kib, 1)
            if diff > CHECK_SOURCES_TOLERANCE:
                out.append(
                    f"node {n.node_id}: capabilities say {format_kib(n.memory_kib)}, "
                    f"getMemoryStats says {format_kib(n.stats_total_kib)}"
                )
    return out
