"""Evacuations: the guests of failed hosts placed into the survivors' free capacity, per NUMA node.

Hosts of one type running the same guests are interchangeable (:func:`planner.capacity.fleet.state.classes`),
and so are their survivors: a :class:`Groups` row stands for ``mult`` identical hosts, so a
fleet of 2,000 planned hosts is a few dozen rows. First fit decreasing over the rows places
a profile's guests as item-by-item first fit would over the hosts: each row's hosts in turn
take as many as fit on their nodes (in node order); the row where the guests run out splits
into the hosts that took a full load, the one that took the rest, and the untouched ones.
This is the greedy of the peers ([1] §2: xapi's HA planner, OpenStack Watcher), used as the
quick certificate of survival: a placement found is a proof, its moves are reported.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §2 (capacity-planning peers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.capacity.fleet.greedy import size_order
from planner.capacity.fleet.model import FLOAT_SLACK, Catalog, FloatArray, IntArray, fill_in_order
from planner.capacity.fleet.results import Move
from planner.capacity.fleet.state import Fleet


@dataclass
class Groups:
    """Rows of identical hosts being filled (mutable working state).

    ``free_node[g, k, r]`` and ``free_host[g, s]`` per host of row g (nodes padded with zero
    capacity), ``mult[g]`` hosts, ``members[g]`` their indices in the fleet, ``added[g, p, k]``
    the guests each of them took.
    """

    free_node: IntArray
    free_host: FloatArray
    mult: IntArray
    members: list[list[int]]
    added: IntArray

    @classmethod
    def of(cls, fleet: Fleet, rows: Sequence[Sequence[int]]) -> Groups:
        """One row per list of interchangeable hosts (indices into ``fleet.hosts``)."""
        cat = fleet.catalog
        k_max = max(len(s.node_ids) for s in fleet.shapes)
        free_node = np.zeros((len(rows), k_max, len(cat.node_resources)), dtype=np.int64)
        free_host = np.zeros((len(rows), len(cat.host_resources)))
        for g, row in enumerate(rows):
            host = fleet.hosts[row[0]]
            shape = fleet.shapes[host.type_index]
            k = len(shape.node_ids)
            free_node[g, :k] = shape.node_capacity - host.counts.T @ cat.node_demand
            free_host[g] = shape.host_capacity - host.counts.sum(axis=1).astype(float) @ cat.host_demand
        return cls(
            free_node,
            free_host,
            np.array([len(r) for r in rows], dtype=np.int64),
            [list(r) for r in rows],
            np.zeros((len(rows), cat.size, k_max), dtype=np.int64),
        )

    def without(self, failed: dict[int, int]) -> Groups:
        """A copy in which row g has lost its first ``failed[g]`` hosts (rows left empty dropped)."""
        keep = [g for g in range(len(self.mult)) if self.mult[g] > failed.get(g, 0)]
        return Groups(
            self.free_node[keep].copy(),
            self.free_host[keep].copy(),
            np.array([self.mult[g] - failed.get(g, 0) for g in keep], dtype=np.int64),
            [self.members[g][failed.get(g, 0) :] for g in keep],
            np.zeros_like(self.added[keep]),
        )

    def place(self, catalog: Catalog, p: int, count: int) -> int:
        """First fit of ``count`` guests of profile ``p`` over the rows in order; returns those left."""
        d, e = catalog.node_demand[p], catalog.host_demand[p]
        pos = d > 0
        per_node = (np.maximum(self.free_node[:, :, pos], 0) // d[pos]).min(axis=2)  # G x K
        per_host = per_node.sum(axis=1)
        if (e > 0).any():
            by_host = np.floor((self.free_host[:, e > 0] + FLOAT_SLACK) / e[e > 0]).min(axis=1)
            per_host = np.minimum(per_host, np.maximum(by_host, 0).astype(np.int64))
        row_cap = per_host * self.mult
        before = np.cumsum(row_cap) - row_cap
        take = np.clip(count - before, 0, row_cap)
        full = np.flatnonzero((take == row_cap) & (take > 0))
        self._add(catalog, p, full, fill_in_order(per_node[full], per_host[full]))
        partial = np.flatnonzero((take > 0) & (take < row_cap))
        for g in partial:  # at most one row: the last one first fit reaches
            self._split(catalog, p, int(g), int(take[g]), per_node[g], int(per_host[g]))
        return int(count - take.sum())

    def _add(self, catalog: Catalog, p: int, rows: IntArray, per_host_nodes: IntArray) -> None:
        self.added[rows, p, :] += per_host_nodes
        self.free_node[rows] -= per_host_nodes[:, :, None] * catalog.node_demand[p][None, None, :]
        self.free_host[rows] -= (
            per_host_nodes.sum(axis=1)[:, None].astype(float) * catalog.host_demand[p][None, :]
        )

    def _split(self, catalog: Catalog, p: int, g: int, take: int, per_node: IntArray, per_host: int) -> None:
        """Row g takes ``take`` guests: full hosts first, then one with the rest, the others none."""
        full, rest = divmod(take, per_host)
        parts = [(n, each) for n, each in ((full, per_host), (1 if rest else 0, rest)) if n > 0]
        untouched = int(self.mult[g]) - sum(n for n, _ in parts)
        if untouched > 0:
            parts.append((untouched, 0))
        rows = [g]
        for _ in parts[1:]:  # copies of the row as it is, before any part takes guests
            self._copy_row(g)
            rows.append(len(self.mult) - 1)
        members = self.members[g]
        for row, (n, each) in zip(rows, parts, strict=True):
            self.mult[row] = n
            self.members[row] = members[:n]
            members = members[n:]
            if each:
                self._add(catalog, p, np.array([row]), fill_in_order(per_node[None, :], np.array([each])))

    def _copy_row(self, g: int) -> None:
        self.free_node = np.concatenate([self.free_node, self.free_node[g : g + 1]])
        self.free_host = np.concatenate([self.free_host, self.free_host[g : g + 1]])
        self.mult = np.concatenate([self.mult, self.mult[g : g + 1]])
        self.added = np.concatenate([self.added, self.added[g : g + 1]])
        self.members.append([])

    def per_host_added(self, host_count: int) -> IntArray:
        """``added`` per host of the fleet (hosts x profiles x nodes)."""
        out = np.zeros((host_count, *self.added.shape[1:]), dtype=np.int64)
        for g, members in enumerate(self.members):
            out[members] = self.added[g]
        return out


def evacuate(fleet: Fleet, groups: Groups, displaced: IntArray) -> IntArray:
    """First fit decreasing of ``displaced`` guests per profile into the rows of surviving hosts.

    Returns the guests left over per profile (all zero when every guest found a place);
    ``groups`` records what each row took.
    """
    left = displaced.copy()
    for p in size_order(fleet.catalog, fleet.shapes):
        if left[p]:
            left[p] = groups.place(fleet.catalog, p, int(left[p]))
    return left


def moves(fleet: Fleet, failed: Sequence[int], added: IntArray) -> tuple[Move, ...]:
    """Pair the failed hosts' guests (sources) with the guests added to survivors (targets), per profile."""
    catalog = fleet.catalog
    out: list[Move] = []
    for p in range(catalog.size):
        sources: list[tuple[str, int, int]] = [
            (fleet.hosts[i].name, fleet.shapes[fleet.hosts[i].type_index].node_ids[k], int(n))
            for i in failed
            for k, n in enumerate(fleet.hosts[i].counts[p])
            if n
        ]
        for h, k in zip(*np.nonzero(added[:, p, :]), strict=True):
            n = int(added[h, p, k])
            target = (fleet.hosts[h].name, fleet.shapes[fleet.hosts[h].type_index].node_ids[k])
            while n and sources:
                name, node, have = sources[0]
                take = min(n, have)
                out.append(Move(catalog.names[p], name, node, *target, take))
                sources[0] = (name, node, have - take)
                n -= take
                if not sources[0][2]:
                    sources.pop(0)
    return tuple(out)


def node_load(fleet: Fleet, added: IntArray, out: dict[str, dict[int, dict[str, int]]]) -> None:
    """Raise ``out`` (host type -> node id -> resource -> amount) to the largest demand the
    evacuation ``added`` (hosts x profiles x nodes) puts on one node of a host."""
    catalog = fleet.catalog
    for h in np.flatnonzero(added.any(axis=(1, 2))):
        shape = fleet.shapes[fleet.hosts[h].type_index]
        used = added[h, :, : len(shape.node_ids)].T @ catalog.node_demand  # K x R
        per_type = out.setdefault(shape.name, {})
        for k, node_id in enumerate(shape.node_ids):
            node = per_type.setdefault(node_id, {})
            for r, name in enumerate(catalog.node_resources):
                if used[k, r] > node.get(name, 0):
                    node[name] = int(used[k, r])
