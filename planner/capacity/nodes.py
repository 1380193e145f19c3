"""What each NUMA node of a host offers guests: its memory minus the host's own use.

Node capacity = node memory - the host kernel's own overhead on it (the kernel model
applied to the host, :func:`planner.kernel.host.predict_host`) - the hypervisor's reserve
- the operator's reserve (DESIGN.md "Host side"); a hugepage pool is set apart from what is
left. ``planner fit`` and ``planner check`` both build their nodes here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner.hypervisors import HypervisorProfile
from planner.hypervisors.common import on_node0
from planner.kernel.calibration import Calibration
from planner.kernel.host import predict_host
from planner.units import format_kib, split_evenly

#: host kernel terms that lie inside a node's MemTotal (the rest is already outside the
#: capabilities' cell memory); ``hash_tables`` only with several nodes (``hashdist``: vmalloc)
INSIDE_MEMTOTAL_TERMS = ("slab", "kernel_stacks", "vmalloc", "runtime_other")


@dataclass(frozen=True)
class HostKernelUse:
    """The host kernel's own memory per node. [KiB]"""

    node_kib: tuple[int, ...]  #: all of it (memmap, hash tables, image, reserves ...)
    #: the part inside each node's MemTotal (slab, stacks, vmalloc, runtime; the big hash
    #: tables with several nodes) plus the watermark reserves: what a node whose memory is
    #: its MemTotal (libvirt's NUMA cells) still loses
    inside_memtotal_kib: tuple[int, ...]
    reserves_kib: tuple[int, ...]  #: the watermark reserves, split in proportion to node memory


def host_kernel_use(
    calibration: Calibration, node_memory_kib: Sequence[int], cpu_count: int, cmdline: str
) -> HostKernelUse:
    """The host kernel's own memory on each node (the kernel model applied to the host)."""
    pred = predict_host(calibration, list(node_memory_kib), cpu_count, cmdline)
    count = len(node_memory_kib)
    total_memory = max(sum(node_memory_kib), 1)
    reserves = tuple(round(pred.breakdown_kib.get("reserves", 0) * m / total_memory) for m in node_memory_kib)
    terms = list(INSIDE_MEMTOTAL_TERMS) + (["hash_tables"] if count > 1 else [])
    spread = sum(pred.breakdown_kib.get(t, 0) for t in terms)
    inside = tuple(spread // count + reserves[k] for k in range(count))
    return HostKernelUse(tuple(pred.node_kernel_kib), inside, reserves)


def host_kernel_range_note(
    calibration: Calibration, node_memory_kib: Sequence[int], cpu_count: int
) -> str | None:
    """A note when the host's nodes, total memory or CPU count lie outside the range its kernel
    calibration was made on (``calibrated_range``): the host kernel overhead is then extrapolated,
    as ``planner predict`` warns for a guest (DESIGN.md "Calibrate -> predict")."""
    rng = calibration.calibrated_range
    outside: list[str] = []
    nodes = sorted(set(node_memory_kib))
    memory_kib = sum(node_memory_kib)
    many = len(node_memory_kib) > 1
    if not all(rng.covers_memory(m) for m in (*nodes, memory_kib)):
        sizes = " and ".join(format_kib(m) for m in nodes)
        total = f" ({format_kib(memory_kib)} in all)" if many else ""
        outside.append(f"{sizes} node{'s' if many else ''}{total}")
    if not rng.covers_vcpus(cpu_count):
        outside.append(f"{cpu_count} CPU{'s' if cpu_count > 1 else ''}")
    if not outside:
        return None
    cpus = (
        f"{rng.min_vcpu_count} CPU"
        if rng.min_vcpu_count == rng.max_vcpu_count == 1
        else f"{rng.min_vcpu_count} to {rng.max_vcpu_count} CPUs"
    )
    return (
        f"host kernel {calibration.name} was calibrated on {format_kib(rng.min_memory_kib)} to "
        f"{format_kib(rng.max_memory_kib)} with {cpus}; outside that range on this host: "
        f"{', '.join(outside)}; the host kernel overhead is extrapolated"
    )


@dataclass(frozen=True)
class NodeBudget:
    """Where each NUMA node's memory goes before any guest. [KiB per node]"""

    memory_kib: tuple[int, ...]
    host_kernel_kib: tuple[int, ...]
    hypervisor_reserve_kib: tuple[int, ...]
    operator_reserve_kib: tuple[int, ...]
    hugepages_kib: tuple[int, ...]  #: the hugepage pool (pages of 2 MiB and more)

    def capacity_kib(self, k: int) -> int:
        """Memory minus the host kernel and the reserves: what guests may take, pool included."""
        return (
            self.memory_kib[k]
            - self.host_kernel_kib[k]
            - self.hypervisor_reserve_kib[k]
            - self.operator_reserve_kib[k]
        )

    def ordinary_kib(self, k: int) -> int:
        """The capacity outside the hugepage pool: guests' ordinary RAM and their overhead."""
        return self.capacity_kib(k) - self.hugepages_kib[k]


def node_budget(
    memory_kib: Sequence[int],
    host_kernel_kib: Sequence[int],
    hypervisor: HypervisorProfile,
    cpu_count: int,
    *,
    hypervisor_reserve_kib: int | None,
    operator_reserve_kib: int,
    hugepages_kib: Sequence[int],
    capacity_only: bool = False,
) -> NodeBudget:
    """Each node's budget: a ``hypervisor_reserve`` override lies on node 0 (as the models place
    a host-wide reserve), else on a capacity-only host the part of the profile's reserve
    charged inside the capacity (qemu's shared file pages), else the profile's reserve; the
    operator's is split evenly."""
    count = len(memory_kib)
    if hypervisor_reserve_kib is not None:
        hyp = on_node0(hypervisor_reserve_kib, count)
    elif capacity_only:
        hyp = on_node0(hypervisor.capacity_reserve_kib(), count)
    else:
        hyp = tuple(hypervisor.host_reserve_kib(list(memory_kib), cpu_count))
    return NodeBudget(
        memory_kib=tuple(memory_kib),
        host_kernel_kib=tuple(host_kernel_kib),
        hypervisor_reserve_kib=hyp,
        operator_reserve_kib=split_evenly(operator_reserve_kib, count),
        hugepages_kib=tuple(hugepages_kib),
    )
