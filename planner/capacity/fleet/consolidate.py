"""Consolidation (issue 12, question d): the existing hosts that could be emptied.

Guests move only off the hosts being emptied, into the free capacity of the hosts that stay
(per NUMA node), as OpenStack Watcher's consolidation does ([1] §2); hosts marked ``fixed``
keep their guests but may receive. The hosts are tried least loaded first, each emptied by
first fit decreasing into the hosts that stay when all its guests fit (the peers' greedy).

The upper bound: the hosts that stay must hold every guest, so at least as many hosts stay
as the pattern master of :mod:`planner.capacity.fleet.colgen` proves necessary to hold all guests
on these hosts (each type with as many hosts as exist, guests free to go anywhere); and
every fixed host stays. The answer is ``optimal`` when the greedy meets that bound. A host
that has taken guests stays (the moves into it must stand).

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §2 (OpenStack Watcher
   ``vm_workload_consolidation``).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from planner.capacity.fleet.evacuate import moves as evac_moves
from planner.capacity.fleet.greedy import Pool, size_order
from planner.capacity.fleet.model import FleetProblem
from planner.capacity.fleet.results import Consolidation, Move, relative_gap
from planner.capacity.fleet.rounding import cover
from planner.capacity.fleet.state import Fleet, fleet_of


def consolidate(problem: FleetProblem) -> Consolidation:
    """The existing hosts that can be emptied, and the moves (question d)."""
    start = time.monotonic()
    fleet = fleet_of(problem)
    pool = Pool.empty(fleet.catalog, fleet.shapes)
    for host in fleet.hosts:
        pool.add(host.type_index, 1, used=host.counts)
    emptied: list[int] = []
    moves: list[Move] = []
    order = sorted(
        (i for i, h in enumerate(fleet.hosts) if not h.fixed),
        key=lambda i: (_load(fleet, i), fleet.hosts[i].name),
    )
    receivers: set[int] = set()  # hosts that took guests stay (their moves must stand)
    for i in order:
        if i in receivers:
            continue
        trial = dataclasses.replace(
            pool,
            free_node=pool.free_node.copy(),
            free_host=pool.free_host.copy(),
            counts=np.zeros_like(pool.counts),
        )
        active = np.ones(pool.host_count, dtype=bool)
        active[[*emptied, i]] = False
        left = fleet.hosts[i].counts.sum(axis=1)
        for p in size_order(fleet.catalog, fleet.shapes):
            if left[p]:
                left[p], _ = trial.first_fit(p, int(left[p]), active)
        if left.any():
            continue
        pool = dataclasses.replace(trial, counts=pool.counts + trial.counts)
        moves.extend(evac_moves(fleet, [i], trial.counts))
        emptied.append(i)
        receivers.update(int(h) for h in np.flatnonzero(trial.counts.any(axis=(1, 2))))
    upper = _upper_bound(fleet, start + problem.time_limit_s)
    objective = float(len(emptied))
    gap = relative_gap(upper, objective) if upper > objective else 0.0
    return Consolidation(
        status="optimal" if objective >= upper else "feasible",
        emptied=tuple(fleet.hosts[i].name for i in emptied),
        moves=tuple(moves),
        objective=objective,
        upper_bound=upper,
        gap=gap,
        greedy_emptied=len(emptied),
        solve_s=time.monotonic() - start,
    )


def _load(fleet: Fleet, i: int) -> float:
    """Share of its type's node capacity a host uses (summed over nodes and resources)."""
    host = fleet.hosts[i]
    shape = fleet.shapes[host.type_index]
    node_used = host.counts.T @ fleet.catalog.node_demand
    with np.errstate(divide="ignore", invalid="ignore"):
        node_share = np.where(shape.node_capacity > 0, node_used / np.maximum(shape.node_capacity, 1), 0.0)
    return float(node_share.sum())


def _upper_bound(fleet: Fleet, deadline: float) -> float:
    """Hosts minus those that must stay: the proven least number of these hosts that hold every guest."""
    total = sum((h.counts.sum(axis=1) for h in fleet.hosts), np.zeros(fleet.catalog.size, dtype=np.int64))
    fixed = sum(1 for h in fleet.hosts if h.fixed)
    if not total.any():
        return float(len(fleet.hosts) - fixed)
    per_type = np.bincount([h.type_index for h in fleet.hosts], minlength=len(fleet.shapes))
    shapes = [
        dataclasses.replace(s, cost=1.0, available=int(n))
        for s, n in zip(fleet.shapes, per_type, strict=True)
    ]
    result = cover(fleet.catalog, shapes, total, initial=[], deadline=deadline)
    must_stay = max(
        fixed, int(np.ceil(result.lower_bound - 1e-6)) if np.isfinite(result.lower_bound) else fixed
    )
    return float(len(fleet.hosts) - must_stay)
