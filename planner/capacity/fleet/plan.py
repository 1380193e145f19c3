"""Fleet questions: fewest hosts / least cost for an inventory, and headroom across hosts.

:func:`plan_fleet` answers "how many hosts of which types for these guests" (issue 12,
question a): vector bin packing per NUMA node in the pattern formulation of
:mod:`planner.capacity.fleet.colgen` (column generation, then an integer master), with first fit
decreasing as the first columns, the fallback plan and the baseline it is compared with.
Existing hosts take part with their free capacity at no cost, so the same call answers "how
many more hosts". With ``failures=r`` the plan also survives any r failed hosts.

:func:`headroom` answers "how many more guests of each profile fit, where" (question b) by
the closed form per node ([1] §3.1 "One profile, one host").

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §3.1.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np

from planner.capacity.fleet.colgen import Column
from planner.capacity.fleet.greedy import Pool, first_fit_decreasing
from planner.capacity.fleet.model import (
    Catalog,
    FleetProblem,
    IntArray,
    Shape,
    alone_per_host,
    alone_per_node,
    fill_in_order,
    inventory_array,
    residual_shape,
)
from planner.capacity.fleet.polish import polish
from planner.capacity.fleet.results import FleetPlan, Headroom, HostHeadroom, relative_gap
from planner.capacity.fleet.rounding import CoverResult, cover
from planner.capacity.fleet.state import (
    Fleet,
    HostState,
    binding_summary,
    blockers,
    classes,
    describe,
    fleet_of,
    free_of,
)
from planner.errors import InfeasibleError


@dataclasses.dataclass(frozen=True, eq=False)
class _Bins:
    """The shapes a plan may use: host types first, then one shape per class of existing hosts."""

    shapes: tuple[Shape, ...]
    type_count: int
    groups: tuple[list[int], ...]  # per existing-class shape: indices into fleet.hosts


def plan_fleet(problem: FleetProblem, *, failures: int = 0) -> FleetPlan:
    """Fewest hosts / least cost of the given types for ``problem.inventory`` (question a).

    Parameters
    ----------
    problem
        Profiles, host types (cost, available count), the inventory, existing hosts (whose
        free capacity is used first, at no cost) and the time limit.
    failures
        0, or r >= 1: plan a fleet that survives any r failed hosts (N+r; see
        :func:`planner.capacity.fleet.spares.plan_with_failures`).

    Returns
    -------
    FleetPlan
        ``status`` ``optimal`` when the plan's cost meets the proven lower bound; ``infeasible``
        when the available hosts cannot hold the inventory (proven by the linear master).

    Raises
    ------
    InfeasibleError
        A profile of the inventory fits no host type, even alone on an empty host.
    """
    if failures:
        from planner.capacity.fleet.spares import plan_with_failures

        return plan_with_failures(problem, failures)
    start = time.monotonic()
    fleet = fleet_of(problem)
    catalog = fleet.catalog
    demand = inventory_array(problem.inventory, catalog)
    bins = _bins(fleet)
    _check_each_profile_fits(catalog, bins.shapes, demand)
    ffd_pool, ffd_left = first_fit_decreasing(catalog, bins.shapes, demand)
    ffd_cost = math.inf if ffd_left.any() else _pool_cost(ffd_pool, bins)
    initial = _pool_columns(ffd_pool, bins) + _homogeneous_columns(catalog, bins.shapes, demand)
    deadline = start + problem.time_limit_s
    result = cover(catalog, bins.shapes, demand, initial=initial, deadline=deadline)
    layout = _layout(result, ffd_pool, ffd_cost, bins)
    if layout is not None:
        layout = polish(
            catalog, bins.shapes, _trim(layout, demand, bins), movable=bins.type_count, deadline=deadline
        )
    if layout is None:
        hosts = [describe(h, fleet.shapes[h.type_index], catalog) for h in fleet.hosts]
        return FleetPlan(
            status=result.status if result.status == "infeasible" else "time_limit",
            objective=math.inf,
            lower_bound=result.lower_bound,
            lp_value=result.lp_value,
            gap=math.inf,
            hosts=tuple(hosts),
            hosts_per_type={},
            binding={},
            ffd_objective=ffd_cost,
            ffd_hosts=_new_hosts(ffd_pool, bins),
            iterations=result.iterations,
            column_count=result.generated,
            solve_s=time.monotonic() - start,
        )
    states = _states(fleet, bins, layout)
    return _plan_result(fleet, states, demand, result, ffd_pool, ffd_cost, bins, start)


def _bins(fleet: Fleet) -> _Bins:
    shapes = list(fleet.shapes)
    groups: list[list[int]] = []
    for g in classes(fleet.hosts):
        host = fleet.hosts[g[0]]
        free = residual_shape(fleet.shapes[host.type_index], host.counts, fleet.catalog, name=f"{host.name}+")
        shapes.append(dataclasses.replace(free, available=len(g)))
        groups.append(g)
    return _Bins(tuple(shapes), len(fleet.shapes), tuple(groups))


def _check_each_profile_fits(catalog: Catalog, shapes: Sequence[Shape], demand: IntArray) -> None:
    for p in np.flatnonzero(demand):
        if not any(
            s.available != 0
            and min(
                alone_per_node(s.node_capacity, catalog)[p].sum(), alone_per_host(s.host_capacity, catalog)[p]
            )
            >= 1
            for s in shapes
        ):
            need = ", ".join(
                f"{r} {v}" for r, v in zip(catalog.node_resources, catalog.node_demand[p], strict=True) if v
            )
            raise InfeasibleError(
                f"expected a host type with a node that holds one guest ({need}); found none",
                field=f"inventory.{catalog.names[p]}",
            )


def _pool_cost(pool: Pool, bins: _Bins) -> float:
    return float(sum(bins.shapes[s].cost for s in pool.shape_index))


def _new_hosts(pool: Pool, bins: _Bins) -> int:
    return int((pool.shape_index < bins.type_count).sum())


def _pool_columns(pool: Pool, bins: _Bins) -> list[Column]:
    return [
        Column(int(s), pool.counts[h, :, : len(bins.shapes[s].node_ids)].copy())
        for h, s in enumerate(pool.shape_index)
    ]


def _homogeneous_columns(catalog: Catalog, shapes: Sequence[Shape], demand: IntArray) -> list[Column]:
    """One column per (shape, profile): the most guests of that profile alone, nodes in order."""
    out = []
    for b, shape in enumerate(shapes):
        per_node = alone_per_node(shape.node_capacity, catalog)
        total = np.minimum(
            per_node.sum(axis=1), np.minimum(alone_per_host(shape.host_capacity, catalog), demand)
        )
        filled = fill_in_order(per_node, total.astype(np.int64))
        for p in np.flatnonzero(total):
            counts = np.zeros_like(filled)
            counts[p] = filled[p]
            out.append(Column(b, counts))
    return out


def _layout(
    result: CoverResult, pool: Pool, ffd_cost: float, bins: _Bins
) -> list[tuple[int, IntArray]] | None:
    """Hosts of the better of the integer master and first fit decreasing: (shape, counts) each."""
    if result.status == "infeasible":
        return None
    if result.multiplicity and result.objective <= ffd_cost:
        return [
            (c.shape, c.counts)
            for c, m in zip(result.columns, result.multiplicity, strict=True)
            for _ in range(m)
        ]
    if math.isfinite(ffd_cost):
        return [
            (int(s), pool.counts[h, :, : len(bins.shapes[s].node_ids)])
            for h, s in enumerate(pool.shape_index)
        ]
    return None


def _trim(layout: list[tuple[int, IntArray]], demand: IntArray, bins: _Bins) -> list[tuple[int, IntArray]]:
    """Remove guests beyond the inventory, last hosts first; drop the new hosts left empty."""
    hosts = [(s, c.copy()) for s, c in layout]
    excess = sum((c.sum(axis=1) for _, c in hosts), np.zeros_like(demand)) - demand
    for _, counts in reversed(hosts):
        for p in np.flatnonzero(excess > 0):
            for k in reversed(range(counts.shape[1])):
                take = min(int(excess[p]), int(counts[p, k]))
                counts[p, k] -= take
                excess[p] -= take
    return [(s, c) for s, c in hosts if c.any() or s >= bins.type_count]


def _states(fleet: Fleet, bins: _Bins, layout: list[tuple[int, IntArray]]) -> list[HostState]:
    """Existing hosts (with what the plan adds) first, then new hosts named ``{type}-001``..."""
    added: dict[int, IntArray] = {}
    used = dict.fromkeys(range(len(bins.groups)), 0)
    new: list[tuple[int, IntArray]] = []
    for s, counts in layout:
        if s < bins.type_count:
            new.append((s, counts))
            continue
        g = s - bins.type_count
        added[bins.groups[g][used[g]]] = counts
        used[g] += 1
    states = [
        dataclasses.replace(h, counts=h.counts + added[i]) if i in added else h
        for i, h in enumerate(fleet.hosts)
    ]
    taken = {h.name for h in fleet.hosts}
    serial = dict.fromkeys(range(bins.type_count), 0)
    for s, counts in sorted(new, key=lambda sc: sc[0]):
        name = ""
        while not name or name in taken:
            serial[s] += 1
            name = f"{bins.shapes[s].name}-{serial[s]:03d}"
        states.append(HostState(name, s, counts, existing=False))
    return states


def _plan_result(
    fleet: Fleet,
    states: list[HostState],
    demand: IntArray,
    result: CoverResult,
    ffd_pool: Pool,
    ffd_cost: float,
    bins: _Bins,
    start: float,
) -> FleetPlan:
    new = [h for h in states if not h.existing]
    objective = float(sum(fleet.shapes[h.type_index].cost for h in new))
    lower = min(result.lower_bound, objective)
    gap = relative_gap(objective, lower)
    status = "optimal" if gap == 0.0 else result.status
    per_type: dict[str, int] = {}
    for h in new:
        per_type[fleet.shapes[h.type_index].name] = per_type.get(fleet.shapes[h.type_index].name, 0) + 1
    return FleetPlan(
        status=status if status != "infeasible" else "feasible",
        objective=objective,
        lower_bound=lower,
        lp_value=result.lp_value,
        gap=gap,
        hosts=tuple(describe(h, fleet.shapes[h.type_index], fleet.catalog) for h in states),
        hosts_per_type=per_type,
        binding=binding_summary(
            states, fleet.shapes, fleet.catalog, [int(p) for p in np.flatnonzero(demand)]
        ),
        ffd_objective=ffd_cost,
        ffd_hosts=_new_hosts(ffd_pool, bins),
        iterations=result.iterations,
        column_count=result.generated,
        solve_s=time.monotonic() - start,
    )


def headroom(problem: FleetProblem) -> Headroom:
    """How many more guests of each profile fit, alone, on each existing host and in total (question b).

    Per host the closed form: per node ``floor(min_r free_r / d_r)``, the host-wide
    capacities (vCPUs) capping the sum; ``per_node`` gives each node's count with the host
    cap applied to it alone, ``blocked_by`` what stops one more guest beyond the count.
    """
    start = time.monotonic()
    fleet = fleet_of(problem)
    catalog = fleet.catalog
    out: list[HostHeadroom | None] = [None] * len(fleet.hosts)
    total = np.zeros(catalog.size, dtype=np.int64)
    for group in classes(fleet.hosts):
        host = fleet.hosts[group[0]]
        shape = fleet.shapes[host.type_index]
        free_node, free_host = free_of(host, shape, catalog)
        per_node = alone_per_node(free_node, catalog)
        cap = np.minimum(alone_per_host(free_host, catalog), np.iinfo(np.int64).max // 4).astype(np.int64)
        more = np.minimum(per_node.sum(axis=1), cap)
        placed = fill_in_order(per_node, more)
        blocked = {}
        for p in range(catalog.size):
            after_node = free_node - placed[p][:, None] * catalog.node_demand[p][None, :]
            after_host = free_host - more[p] * catalog.host_demand[p]
            blocked[catalog.names[p]] = blockers(after_node, after_host, shape, catalog, p)
        for i in group:
            out[i] = HostHeadroom(
                fleet.hosts[i].name,
                shape.name,
                {catalog.names[p]: int(more[p]) for p in range(catalog.size)},
                {
                    catalog.names[p]: {
                        nid: int(min(per_node[p, k], cap[p])) for k, nid in enumerate(shape.node_ids)
                    }
                    for p in range(catalog.size)
                },
                blocked,
            )
        total += more * len(group)
    hosts = tuple(h for h in out if h is not None)
    return Headroom(
        hosts, {catalog.names[p]: int(total[p]) for p in range(catalog.size)}, time.monotonic() - start
    )
