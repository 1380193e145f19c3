"""VMware ESXi: per-VM overhead from the published table, interpolated; VMkernel reserve.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §1.8: vSphere 6.5/6.7 Resource Management
   guide, table "Sample Overhead Memory on Virtual Machines" (VMX swap and hardware MMU
   enabled), MB by configured memory 256/1024/4096/16384 MB and 1/2/4/8 vCPUs.
.. [2] vSphere 4.1 Resource Management guide, "Host Memory Information"
   (pubs.vmware.com/vsphere-4-esx-vcenter/.../r_host_memory_information.html): "ESX/ESXi uses
   at least 50MB of system memory for the VMkernel, and additional memory for device drivers
   ... Some drivers need 40MB"; "ESX/ESXi sets this level [memory kept free] at approximately
   six percent of the memory available for running virtual machines".
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from planner.errors import InputError
from planner.units import KIB_PER_MIB


@dataclass(frozen=True)
class EsxiParams:
    """Parameters of the ESXi model (values and sources in ``esxi.yaml``)."""

    table_memory_mib: tuple[int, ...]  #: table rows: configured VM memory [1]
    table_vcpu_count: tuple[int, ...]  #: table columns: vCPUs [1]
    table_overhead_mib: tuple[tuple[float, ...], ...]  #: overhead per row and column [1]
    system_kib: int  #: VMkernel + drivers [2]
    free_reserve_fraction: float  #: memory ESXi keeps free, share of VM memory [2]

    def __post_init__(self) -> None:
        rows, cols = self.table_memory_mib, self.table_vcpu_count
        for name, points in (("table_memory_mib", rows), ("table_vcpu_count", cols)):
            if len(points) < 2 or list(points) != sorted(set(points)):
                raise InputError(
                    f"expected at least 2 strictly increasing values; found {list(points)}", field=name
                )
        if len(self.table_overhead_mib) != len(rows) or any(
            len(r) != len(cols) for r in self.table_overhead_mib
        ):
            raise InputError(
                f"expected {len(rows)} rows of {len(cols)} values (one per table_memory_mib, "
                f"table_vcpu_count); found {[len(r) for r in self.table_overhead_mib]} values per row",
                field="table_overhead_mib",
            )
        if self.free_reserve_fraction >= 1:
            raise InputError(
                f"expected a number below 1; found {self.free_reserve_fraction}",
                field="free_reserve_fraction",
            )


def _segment(points: Sequence[float], x: float) -> tuple[int, float]:
    """Index ``i`` of the segment [points[i], points[i+1]] used for ``x`` and the position in it.

    Inside the table: linear interpolation; beyond the last point: linear extrapolation from the
    last segment; below the first point the first point's value is used (position 0).
    """
    if x <= points[0]:
        return 0, 0.0
    i = min(bisect_right(points, x) - 1, len(points) - 2)
    return i, (x - points[i]) / (points[i + 1] - points[i])


def overhead_mib(memory_mib: float, vcpu_count: int, params: EsxiParams) -> float:
    """Per-VM overhead from the table [1], bilinear in (memory, vCPUs). [MiB]

    Table points are returned exactly. Between points: linear in memory and in vCPUs. Below the
    smallest row (256 MB) the smallest row is used: the table gives no value there and the
    overhead only grows with memory, so it is an upper bound. Beyond the largest row or column:
    linear extrapolation from the last two.
    """
    table = params.table_overhead_mib
    i, u = _segment(params.table_memory_mib, memory_mib)
    j, v = _segment(params.table_vcpu_count, vcpu_count)

    def at(row: int) -> float:
        return table[row][j] + v * (table[row][j + 1] - table[row][j])

    return at(i) + u * (at(i + 1) - at(i))


def host_overhead_kib(guest_memory_kib: int, vcpu_count: int, params: EsxiParams) -> int:
    """Per-VM overhead [1], rounded up to whole KiB. [KiB]"""
    return math.ceil(overhead_mib(guest_memory_kib / KIB_PER_MIB, vcpu_count, params) * KIB_PER_MIB)


def host_reserve_kib(node_memory_kib: Sequence[int], cpu_count: int, params: EsxiParams) -> tuple[int, ...]:
    """VMkernel and drivers on node 0, plus the free reserve on every node [2]. [KiB per node]"""
    out = []
    for k, node_kib in enumerate(node_memory_kib):
        system = params.system_kib if k == 0 else 0
        out.append(system + math.ceil(params.free_reserve_fraction * max(0, node_kib - system)))
    return tuple(out)
