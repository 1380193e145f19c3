"""Greedy placement: first-fit decreasing, per NUMA node and vector aware.

This is what the peers do ([1] §2: xapi's HA planner uses biggest-fit-decreasing, OpenStack
Watcher first fit), kept here as the baseline the optimal planner is compared against and as
the quick certificate the failover and consolidation checks try first.

Guests of one profile are identical, so item-by-item first fit places them in bulk: profile
after profile (largest first), each host in order takes as many as fit on its nodes (in node
order) before the next host is tried. That is exactly what item-level first fit does with
identical items, at a cost of profiles x nodes array operations over all hosts at once.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §2 (capacity-planning peers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.capacity.fleet.model import (
    FLOAT_SLACK,
    Catalog,
    FloatArray,
    IntArray,
    Shape,
    alone_per_host,
    alone_per_node,
    fill_in_order,
)


@dataclass
class Pool:
    """Hosts being filled (mutable working state of the greedy algorithms).

    Nodes are padded to the largest node count with zero capacity, so hosts of types with
    different node counts share one array: ``free_node[h, k, r]``, ``free_host[h, s]``,
    ``counts[h, p, k]`` (guests added by the greedy), ``shape_index[h]``.
    """

    catalog: Catalog
    shapes: Sequence[Shape]
    free_node: IntArray
    free_host: FloatArray
    counts: IntArray
    shape_index: IntArray

    @classmethod
    def empty(cls, catalog: Catalog, shapes: Sequence[Shape]) -> Pool:
        k_max = max(len(s.node_ids) for s in shapes)
        return cls(
            catalog,
            shapes,
            np.zeros((0, k_max, len(catalog.node_resources)), dtype=np.int64),
            np.zeros((0, len(catalog.host_resources))),
            np.zeros((0, catalog.size, k_max), dtype=np.int64),
            np.zeros(0, dtype=np.int64),
        )

    @property
    def host_count(self) -> int:
        return len(self.shape_index)

    def add(self, shape_index: int, count: int, used: IntArray | None = None) -> None:
        """Append ``count`` hosts of one shape, each already running ``used`` (profiles x nodes)."""
        shape = self.shapes[shape_index]
        k_max = self.free_node.shape[1]
        node_cap = np.zeros((k_max, self.free_node.shape[2]), dtype=np.int64)
        node_cap[: len(shape.node_ids)] = shape.node_capacity
        host_cap = shape.host_capacity.copy()
        if used is not None:
            node_cap[: len(shape.node_ids)] -= used.T @ self.catalog.node_demand
            host_cap -= used.sum(axis=1).astype(float) @ self.catalog.host_demand
        self.free_node = np.concatenate([self.free_node, np.repeat(node_cap[None], count, axis=0)])
        self.free_host = np.concatenate([self.free_host, np.repeat(host_cap[None], count, axis=0)])
        new_counts = np.zeros((count, self.catalog.size, k_max), dtype=np.int64)
        self.counts = np.concatenate([self.counts, new_counts])
        self.shape_index = np.concatenate([self.shape_index, np.full(count, shape_index, dtype=np.int64)])

    def first_fit(self, p: int, count: int, active: np.ndarray | None = None) -> tuple[int, IntArray]:
        """Place up to ``count`` guests of profile ``p``, hosts in order; returns (left, taken[h, k])."""
        d, e = self.catalog.node_demand[p], self.catalog.host_demand[p]
        pos = d > 0
        per_node = (self.free_node[:, :, pos] // d[pos]).min(axis=2)  # H x K
        per_host = np.full(self.host_count, np.inf)
        if (e > 0).any():
            per_host = np.floor((self.free_host[:, e > 0] + FLOAT_SLACK) / e[e > 0]).min(axis=1)
        fit = np.minimum(per_node.sum(axis=1), np.minimum(per_host, count)).astype(np.int64)
        if active is not None:
            fit = np.where(active, fit, 0)
        before = np.cumsum(fit) - fit
        take_host = np.clip(count - before, 0, fit)
        taken = fill_in_order(per_node, take_host)
        self.place(p, taken)
        return count - int(take_host.sum()), taken

    def place(self, p: int, taken: IntArray) -> None:
        """Record ``taken[h, k]`` guests of profile ``p`` and take their demand from the free capacity."""
        self.counts[:, p, :] += taken
        self.free_node -= taken[:, :, None] * self.catalog.node_demand[p][None, None, :]
        self.free_host -= taken.sum(axis=1)[:, None].astype(float) * self.catalog.host_demand[p][None, :]


def size_order(catalog: Catalog, shapes: Sequence[Shape]) -> list[int]:
    """Profiles largest first: by the largest share of any resource of the largest node or host."""
    node_max = np.max([s.node_capacity.max(axis=0) for s in shapes], axis=0).astype(float)
    host_max = np.max([s.host_capacity for s in shapes], axis=0) if catalog.host_resources else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        node_share = np.where(node_max > 0, catalog.node_demand / np.maximum(node_max, 1), 0.0)
        host_share = np.where(np.isfinite(host_max) & (host_max > 0), catalog.host_demand / host_max, 0.0)
    share = np.concatenate([node_share, host_share], axis=1).max(axis=1)
    return sorted(range(catalog.size), key=lambda p: (-share[p], catalog.names[p]))


def first_fit_decreasing(
    catalog: Catalog, shapes: Sequence[Shape], demand: IntArray, pool: Pool | None = None
) -> tuple[Pool, IntArray]:
    """Place ``demand`` (guests per profile) by first fit decreasing, opening hosts as needed.

    Hosts already in ``pool`` are tried first. A new host is of the shape with the least cost
    per guest of the profile being placed (an empty host's closed-form count), among shapes
    with hosts left. Returns the pool and the guests that could not be placed per profile
    (all zero when every guest found a host).
    """
    pool = pool if pool is not None else Pool.empty(catalog, shapes)
    opened = np.zeros(len(shapes), dtype=np.int64)
    for i in pool.shape_index:
        opened[i] += 1
    left_out = np.zeros(catalog.size, dtype=np.int64)
    for p in size_order(catalog, shapes):
        left, _ = pool.first_fit(p, int(demand[p]))
        while left > 0:
            choice = _cheapest_shape(catalog, shapes, p, opened)
            if choice is None:
                left_out[p] = left
                break
            s, per_host = choice
            avail = shapes[s].available
            new = -(-left // per_host)
            if avail is not None:
                new = min(new, avail - int(opened[s]))
            first = pool.host_count
            pool.add(s, new)
            opened[s] += new
            active = np.zeros(pool.host_count, dtype=bool)
            active[first:] = True
            left, _ = pool.first_fit(p, left, active)
    return pool, left_out


def _cheapest_shape(
    catalog: Catalog, shapes: Sequence[Shape], p: int, opened: IntArray
) -> tuple[int, int] | None:
    best: tuple[float, int, int] | None = None
    for s, shape in enumerate(shapes):
        if shape.available is not None and opened[s] >= shape.available:
            continue
        per_node = alone_per_node(shape.node_capacity, catalog)[p]
        per_host = int(min(per_node.sum(), alone_per_host(shape.host_capacity, catalog)[p]))
        if per_host <= 0:
            continue
        key = (shape.cost / per_host, s, per_host)
        if best is None or key < best:
            best = key
    return None if best is None else (best[1], best[2])
