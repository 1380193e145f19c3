"""Last improvements of a plan: empty a host into the others' free capacity, and take cheaper types.

A rounded plan has a little free capacity on most hosts; the guests of a lightly loaded
host often fit into what the others have left (the consolidation move of [1] §2, OpenStack
Watcher, applied to a plan rather than to a running fleet). Each distinct pattern is tried
once, the least loaded per unit of cost first: its guests are placed by first fit into the
other hosts, per NUMA node; when all of them fit the host is dropped. Then every host takes
the cheapest type that holds its guests on the same nodes. Both moves keep every guest
placed and every node within its capacity.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §2 (capacity-planning peers).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from planner.capacity.fleet.greedy import Pool, size_order
from planner.capacity.fleet.model import Catalog, IntArray, Shape, fits

Host = tuple[int, IntArray]  # (shape index, counts[profile, node])


def polish(
    catalog: Catalog, shapes: Sequence[Shape], hosts: Sequence[Host], *, movable: int, deadline: float
) -> list[Host]:
    """Hosts after emptying what can be emptied and taking cheaper types where the guests fit.

    Only hosts of the first ``movable`` shapes (the host types; later shapes are existing
    hosts' free capacity, which costs nothing) are emptied or retyped.
    """
    hosts = _empty(catalog, shapes, list(hosts), movable, deadline)
    used = np.bincount([s for s, _ in hosts], minlength=len(shapes))
    out = []
    for s, counts in hosts:
        t = _cheapest(catalog, shapes, s, counts, movable, used)
        used[s] -= 1
        used[t] += 1
        out.append((t, counts))
    return out


def _empty(
    catalog: Catalog, shapes: Sequence[Shape], hosts: list[Host], movable: int, deadline: float
) -> list[Host]:
    pool = Pool.empty(catalog, shapes)
    for s, counts in hosts:
        pool.add(s, 1, used=counts)
    tried: set[tuple[int, bytes]] = set()
    alive = np.ones(len(hosts), dtype=bool)
    order = sorted(range(len(hosts)), key=lambda i: _load(catalog, shapes, hosts[i]))
    moved = [c.copy() for _, c in hosts]
    for i in order:
        s, counts = hosts[i]
        key = (s, moved[i].tobytes())
        if s >= movable or key in tried or time.monotonic() > deadline:
            continue
        tried.add(key)
        trial = dataclasses.replace(
            pool,
            free_node=pool.free_node.copy(),
            free_host=pool.free_host.copy(),
            counts=np.zeros_like(pool.counts),
        )
        active = alive.copy()
        active[i] = False
        left = moved[i].sum(axis=1)
        for p in size_order(catalog, shapes):
            if left[p]:
                left[p], _ = trial.first_fit(p, int(left[p]), active)
        if left.any():
            continue
        alive[i] = False
        pool = dataclasses.replace(trial, counts=pool.counts + trial.counts)
        for h in np.flatnonzero(trial.counts.any(axis=(1, 2))):
            moved[h] = moved[h] + trial.counts[h, :, : moved[h].shape[1]]
        moved[i] = np.zeros_like(moved[i])
    return [(hosts[i][0], moved[i]) for i in range(len(hosts)) if alive[i]]


def _load(catalog: Catalog, shapes: Sequence[Shape], host: Host) -> float:
    """Used share of the host's node capacity, per unit of its cost (lightly loaded, costly hosts first)."""
    s, counts = host
    used = (counts.T @ catalog.node_demand).sum(axis=0).astype(float)
    cap = np.maximum(shapes[s].node_capacity.sum(axis=0), 1).astype(float)
    return float((used / cap).max()) / max(shapes[s].cost, 1e-9)


def _cheapest(
    catalog: Catalog, shapes: Sequence[Shape], s: int, counts: IntArray, movable: int, used: IntArray
) -> int:
    """The cheapest host type with hosts left that holds these guests on the same nodes."""
    if s >= movable:
        return s
    best = s
    for t in range(movable):
        if shapes[t].cost >= shapes[best].cost or len(shapes[t].node_ids) != counts.shape[1]:
            continue
        if shapes[t].available is not None and used[t] >= shapes[t].available:
            continue
        if fits(counts, shapes[t], catalog):
            best = t
    return best
