"""Pure parsers of libvirt's XML (capabilities, domain definitions) and sizes.

References: libvirt ``docs/formatdomain.rst`` @ v9.0.0 "Memory Allocation", "Memory Backing",
"NUMA Node Tuning", "CPU model and topology" (``<numa><cell>``); ``docs/formatcaps.rst``
("host/topology/cells"); unit suffixes in ``src/util/virutil.c`` ``virScaleInteger`` (``KB`` =
1000, ``K``/``KiB`` = 1024).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from planner.errors import InputError
from planner.live.records import DomainConfig, HugePagePool, MemNode, NodeSnapshot
from planner.units import BYTES_PER_KIB

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


def _hugepage_kib(root: ET.Element) -> int | None:
    """The huge page size of ``<memoryBacking><hugepages>``; 0 when no ``<page>`` names it (the
    host's default size, which the XML does not name); None without huge pages. [KiB]"""
    backing = root.find("memoryBacking")
    if backing is None or backing.find("hugepages") is None:
        return None
    page = backing.find("hugepages/page")
    return scale_to_kib(page.get("size", "0"), page.get("unit")) if page is not None else 0


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

    hugepage_kib = _hugepage_kib(root)
    backing = root.find("memoryBacking")
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
