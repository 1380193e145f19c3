"""What one guest takes from the NUMA node it lives on: the one demand builder.

``planner fit`` packs guests with it, ``planner check`` counts the headroom with it and the
fit report's size sweep counts guests alone with it, so the three agree by construction
(``tests/test_capacity.py``). A guest takes from its node the hypervisor's per-guest
overhead plus its RAM: from the node's ordinary memory, or, when hugepage-backed, from the
node's hugepage pool rounded up to whole pages (qemu maps a file-backed RAM block rounded up
to the backing page size: ``memory = ROUND_UP(memory, block->page_size)`` in
``file_ram_alloc()``, softmmu/physmem.c @ v7.2, Debian 12's qemu). What a guest's RAM counts as on
the host (its full size, or a scenario's expected residency) is the caller's: ordinary RAM
can be overcommitted, hugepage-backed RAM never is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.capacity.solver import GuestKind, NodeCapacity, PackingProblem, max_count_one_kind, solve
from planner.hypervisors.common import round_up


@dataclass(frozen=True)
class GuestDemand:
    """What one guest takes from its node. [KiB]"""

    memory_kib: (
        int  #: ordinary node memory: the per-guest overhead, plus the guest RAM unless hugepage-backed
    )
    hugepages_kib: int | None  #: from the node's hugepage pool, in whole pages; None: not hugepage-backed

    def resources(self) -> dict[str, int]:
        """The solver's node resources (:mod:`planner.capacity.solver`)."""
        out = {"memory_kib": self.memory_kib}
        if self.hugepages_kib is not None:
            out["hugepages_kib"] = self.hugepages_kib
        return out


def guest_demand(
    guest_memory_kib: int,
    overhead_kib: int,
    *,
    hugepages: bool,
    page_kib: int,
    resident_kib: int | None = None,
) -> GuestDemand:
    """What one guest takes from its node.

    Parameters
    ----------
    guest_memory_kib
        The guest's RAM. [KiB]
    overhead_kib
        The hypervisor's per-guest overhead at that size. [KiB]
    hugepages
        The guest's RAM is backed by the node's hugepage pool.
    page_kib
        The pool's page size (1 when the host states no pool). [KiB]
    resident_kib
        Guest RAM counted as resident on the host (a scenario's); default the full size.
        Hugepage-backed RAM is always counted whole. [KiB]
    """
    if hugepages:
        return GuestDemand(overhead_kib, round_up(guest_memory_kib, page_kib))
    resident = guest_memory_kib if resident_kib is None else resident_kib
    return GuestDemand(overhead_kib + resident, None)


# --- one profile alone ----------------------------------------------------------------------------
def alone_count(
    demand: GuestDemand, nodes: Sequence[Mapping[str, int]], vcpu_capacity: float, vcpu_count: int
) -> int:
    """Guests of one profile, alone on nodes of these capacities (``memory_kib``,
    ``hugepages_kib``), capped by the host's vCPUs.

    For one profile the integer program separates by node: ``sum_k floor(capacity_k /
    demand)`` (:func:`planner.capacity.solver.max_count_one_kind`).
    """
    wanted = demand.resources()
    total = sum(max_count_one_kind([node.get(r, 0) for r in wanted], list(wanted.values())) for node in nodes)
    return min(total, math.floor(vcpu_capacity / vcpu_count))


def headroom(
    name: str,
    demand: GuestDemand,
    vcpu_count: int,
    nodes: Sequence[NodeCapacity],
    vcpus_left: float,
) -> tuple[int, tuple[str, ...]]:
    """How many more guests of one profile fit, alone, on what is left of each node and of the
    host's vCPUs; and what stops one more (the solver's ``blocked_by``)."""
    kind = GuestKind(name=name, node_demand=demand.resources(), host_demand={"vcpu_count": float(vcpu_count)})
    problem = PackingProblem(
        kinds=(kind,), nodes=tuple(nodes), host_capacity={"vcpu_count": max(0.0, vcpus_left)}
    )
    plan = solve(problem)
    return plan.count(name), plan.blocked_by.get(name, ())
