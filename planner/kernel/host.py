"""The host kernel's own memory, per NUMA node: :func:`predict_host`.

The same terms as a guest's (:mod:`planner.kernel.reserved`, :mod:`planner.kernel.runtime`),
placed per node as a physical machine holds them: each node its own memmap (``mm/sparse.c
sparse_init_nid()`` @ v6.1) and NODE_DATA (``arch/x86/mm/numa.c alloc_node_data()``), its share
of the per-CPU chunks (``mm/percpu.c pcpu_embed_first_chunk()`` allocates each unit on its
CPU's node) and its own watermark reserves; node 0 the image, swiotlb, crashkernel and log buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.errors import InputError
from planner.kernel.calibration import Calibration
from planner.kernel.cmdline import Cmdline, crashkernel_kib, log_buffer_kib, parse_cmdline, swiotlb_kib
from planner.kernel.layout import Layout, guest_layout, host_layout, memmap_kib_per_section
from planner.kernel.reserved import build_hash_tables, direct_map_kib
from planner.kernel.runtime import vmalloc_used_kib
from planner.kernel.watermarks import watermarks
from planner.kernel.zones import host_zone_managed
from planner.units import PAGE_KIB


@dataclass(frozen=True)
class HostPrediction:
    """The host kernel's own overhead per NUMA node. [KiB]"""

    calibration: str
    node_memory_kib: tuple[int, ...]
    node_kernel_kib: tuple[int, ...]
    breakdown_kib: dict[str, int]
    min_free_kbytes: int
    notes: tuple[str, ...] = ()

    @property
    def total_kernel_kib(self) -> int:
        return sum(self.node_kernel_kib)

    def to_json(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration,
            "node_memory_kib": list(self.node_memory_kib),
            "node_kernel_kib": list(self.node_kernel_kib),
            "total_kernel_kib": self.total_kernel_kib,
            "breakdown_kib": dict(self.breakdown_kib),
            "min_free_kbytes": self.min_free_kbytes,
            "notes": list(self.notes),
        }


def predict_host(
    calibration: Calibration,
    node_memory_kib: list[int] | tuple[int, ...],
    cpu_count: int,
    cmdline: str = "",
    machine: str = "host",
) -> HostPrediction:
    """The host kernel's own memory, per NUMA node, for a host running ``calibration``'s kernel.

    Per node: its memmap (its own sections), its share of the per-CPU chunks
    (CPUs spread evenly), its watermark reserves; node 0 also holds the image,
    swiotlb, crashkernel and log buffer. With several nodes the big hash tables
    are vmalloc'ed and interleaved (``hashdist``), so they are spread evenly.
    Runtime terms (slab, stacks, vmalloc) are those of the calibration's idle
    boot, spread evenly: a floor, since a real host runs more daemons [model].
    ``machine="pc"`` lays the nodes out as a qemu ``pc`` guest with ``-numa`` nodes
    (equal nodes), to check the model against ``planner bootlab --numa-nodes`` boots.
    """
    if cpu_count < 1:
        raise InputError(f"expected at least 1 CPU; found {cpu_count}", field="cpus")
    nodes = tuple(int(m) for m in node_memory_kib)
    if machine == "host":
        layout = host_layout(calibration.arch, nodes)
    else:
        layout = guest_layout(calibration.arch, sum(nodes), machine, len(nodes))
    p = calibration.parameters
    cmd = parse_cmdline(cmdline)
    node_count = len(nodes)
    spread = _spread_terms(calibration, layout, cmd, cmdline, cpu_count, hashdist=node_count > 1)
    per_node = _node_terms(calibration, layout, node_count, spread, _node0_terms(calibration, layout, cmd))
    wm = watermarks(
        host_zone_managed(layout, [sum(terms.values()) for terms in per_node]),
        thp_available=p.thp_available,
        pageblock_pages=p.pageblock_kib // PAGE_KIB,
        thp_mode=cmd.transparent_hugepage,
    )
    for node in range(node_count):
        per_node[node]["reserves"] = wm.node_totalreserve_kib(node)
    breakdown: dict[str, int] = {}
    for terms in per_node:
        for k, v in terms.items():
            breakdown[k] = breakdown.get(k, 0) + round(v)
    return HostPrediction(
        calibration=calibration.name,
        node_memory_kib=nodes,
        node_kernel_kib=tuple(round(sum(t.values())) for t in per_node),
        breakdown_kib=breakdown,
        min_free_kbytes=wm.min_free_kbytes,
        notes=("runtime terms are the calibration's idle boot: a floor for a real host",),
    )


def _node0_terms(calibration: Calibration, layout: Layout, cmd: Cmdline) -> dict[str, float]:
    """What only node 0 holds: the image (net of what boot frees), swiotlb, crashkernel and the
    log buffer. [KiB]"""
    p = calibration.parameters
    swiotlb = swiotlb_kib(cmd.swiotlb, layout.above_4g) if p.swiotlb_available else 0
    return {
        "kernel_image": p.image_reserved_kib
        - p.freed_init_kib
        - p.smp_alternatives_kib
        - p.memtotal_adjust_kib,
        "swiotlb": swiotlb,
        "crashkernel": crashkernel_kib(cmd.crashkernel, cmd.crashkernel_low, layout.present_kib, swiotlb)
        if p.crashkernel_available
        else 0,
        "log_buffer": log_buffer_kib(cmd.log_buf_len_kib, p.log_buf_default_kib),
    }


def _spread_terms(
    calibration: Calibration, layout: Layout, cmd: Cmdline, cmdline: str, cpu_count: int, *, hashdist: bool
) -> dict[str, float]:
    """What is spread evenly over the nodes: the hash tables (``hashdist`` on several nodes),
    the first per-CPU chunks and the idle runtime terms. [KiB, all nodes together]"""
    p = calibration.parameters
    tables = build_hash_tables(
        calibration, layout, p, possible_cpu_count=cpu_count, cmdline=cmdline, hashdist=hashdist
    )
    return {
        "hash_tables": sum(t.size_kib for t in tables),
        "percpu": p.percpu_kib_per_cpu * cpu_count,
        "slab": p.slab_kib + p.slab_kib_per_vcpu * (cpu_count - 1),
        "kernel_stacks": p.kernel_stacks_kib + p.kernel_stacks_kib_per_vcpu * (cpu_count - 1),
        "vmalloc": vmalloc_used_kib(calibration, p, cmd, cpu_count),
        "runtime_other": p.other_kib + p.other_kib_per_vcpu * (cpu_count - 1),
    }


def _node_terms(
    calibration: Calibration,
    layout: Layout,
    node_count: int,
    spread: dict[str, float],
    node0: dict[str, float],
) -> list[dict[str, float]]:
    """Each node's terms: its share of ``spread``, its own memmap, its share of the direct map
    (by present RAM); node 0 ``node0``, every other node its NODE_DATA. [KiB]"""
    p = calibration.parameters
    per_node: list[dict[str, float]] = []
    for node in range(node_count):
        node_terms = {k: v / node_count for k, v in spread.items()}
        node_terms["memmap"] = layout.node_section_count(node) * memmap_kib_per_section(
            calibration.arch, p.struct_page_bytes
        )
        present_share = layout.node_present_kib(node) / layout.present_kib
        node_terms["direct_map"] = direct_map_kib(p, layout.present_kib) * present_share
        if node == 0:
            node_terms.update(node0)
        else:
            node_terms["node_data"] = p.node_data_kib
        per_node.append(node_terms)
    return per_node
