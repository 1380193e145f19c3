"""Hosts with guests on them: validation, classes of identical hosts, fills and blocking limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.capacity.binding import natural_key
from planner.capacity.fleet.model import (
    FLOAT_SLACK,
    Catalog,
    FleetProblem,
    IntArray,
    Shape,
    alone_per_host,
    alone_per_node,
    catalog_of,
    counts_array,
    fits,
    shape_of,
    type_index,
    usage,
)
from planner.capacity.fleet.results import PlannedHost
from planner.errors import InputError


@dataclass(frozen=True, eq=False)
class HostState:
    """One host: its name, type (index into the shapes) and guests per (profile, node)."""

    name: str
    type_index: int
    counts: IntArray
    fixed: bool = False
    existing: bool = True

    def key(self) -> tuple[int, bytes, bool]:
        """Hosts with equal keys are interchangeable (same type, same guests, same pinning)."""
        return self.type_index, self.counts.tobytes(), self.fixed


@dataclass(frozen=True, eq=False)
class Fleet:
    """A problem's catalog, host-type shapes and existing hosts, validated."""

    catalog: Catalog
    shapes: tuple[Shape, ...]
    hosts: tuple[HostState, ...]


def fleet_of(problem: FleetProblem) -> Fleet:
    """Validate a problem: names, node ids, and existing hosts that fit their type."""
    if not problem.host_types:
        raise InputError("expected at least one host type; found none", field="host_types")
    names = [t.name for t in problem.host_types]
    if len(set(names)) != len(names):
        raise InputError(f"expected unique host type names; found {names}", field="host_types")
    catalog = catalog_of(problem.profiles, problem.host_types)
    shapes = tuple(shape_of(t, catalog) for t in problem.host_types)
    hosts: list[HostState] = []
    seen: set[str] = set()
    for host in problem.existing:
        where = f"existing.{host.name}"
        if host.name in seen:
            raise InputError(f"expected unique host names; found {host.name!r} twice", field=where)
        seen.add(host.name)
        t = type_index(problem.host_types, host.host_type, field=f"{where}.host_type")
        counts = counts_array(host.counts, catalog, shapes[t].node_ids, field=f"{where}.counts")
        if not fits(counts, shapes[t], catalog):
            raise InputError(
                f"expected guests that fit a {host.host_type} host; found more than its capacity",
                field=f"{where}.counts",
            )
        hosts.append(HostState(host.name, t, counts, host.fixed))
    return Fleet(catalog, shapes, tuple(hosts))


def classes(hosts: Sequence[HostState]) -> list[list[int]]:
    """Indices of interchangeable hosts, grouped, in first-seen order."""
    groups: dict[tuple[int, bytes, bool], list[int]] = {}
    for i, h in enumerate(hosts):
        groups.setdefault(h.key(), []).append(i)
    return list(groups.values())


def free_of(host: HostState, shape: Shape, catalog: Catalog) -> tuple[IntArray, np.ndarray]:
    """Free capacity per node (nodes x node resources) and per host resource."""
    node_used, host_used = usage(host.counts, catalog)
    return shape.node_capacity - node_used, shape.host_capacity - host_used


def describe(host: HostState, shape: Shape, catalog: Catalog) -> PlannedHost:
    """A host as a result record: counts by name and the fill of every resource it has."""
    node_used, host_used = usage(host.counts, catalog)
    node_fill = {
        node_id: {
            r: float(node_used[k, i] / shape.node_capacity[k, i])
            for i, r in enumerate(catalog.node_resources)
            if shape.node_capacity[k, i] > 0
        }
        for k, node_id in enumerate(shape.node_ids)
    }
    host_fill = {
        s: float(host_used[i] / shape.host_capacity[i])
        for i, s in enumerate(catalog.host_resources)
        if 0 < shape.host_capacity[i] < np.inf
    }
    counts = {
        (catalog.names[p], node_id): int(host.counts[p, k])
        for p in range(catalog.size)
        for k, node_id in enumerate(shape.node_ids)
        if host.counts[p, k]
    }
    return PlannedHost(host.name, shape.name, counts, node_fill, host_fill, host.existing)


def blockers(
    free_node: IntArray, free_host: np.ndarray, shape: Shape, catalog: Catalog, p: int
) -> tuple[str, ...]:
    """Constraints that stop one more guest of profile ``p`` (``node0.memory_kib``, ``host.vcpu_count``).

    Empty when one more fits.
    """
    per_node = alone_per_node(free_node, catalog)[p]
    per_host = alone_per_host(free_host, catalog)[p]
    if per_node.sum() > 0 and per_host >= 1:
        return ()
    names: set[str] = set()
    e = catalog.host_demand[p]
    for i, s in enumerate(catalog.host_resources):
        if e[i] > 0 and free_host[i] + FLOAT_SLACK < e[i]:
            names.add(f"host.{s}")
    if not names:
        d = catalog.node_demand[p]
        for k, node_id in enumerate(shape.node_ids):
            for i, r in enumerate(catalog.node_resources):
                if d[i] > 0 and free_node[k, i] < d[i]:
                    names.add(f"node{node_id}.{r}")
    return tuple(sorted(names, key=natural_key))


def binding_summary(
    hosts: Sequence[HostState], shapes: Sequence[Shape], catalog: Catalog, profiles: Sequence[int]
) -> dict[str, int]:
    """Constraint -> number of hosts on which it stops one more guest of one of ``profiles``."""
    tally: dict[str, int] = {}
    memo: dict[tuple[int, bytes, bool], set[str]] = {}
    for host in hosts:
        key = host.key()
        if key not in memo:
            free_node, free_host = free_of(host, shapes[host.type_index], catalog)
            memo[key] = {
                name
                for p in profiles
                for name in blockers(free_node, free_host, shapes[host.type_index], catalog, p)
            }
        for name in memo[key]:
            tally[name] = tally.get(name, 0) + 1
    return dict(sorted(tally.items(), key=lambda kv: natural_key(kv[0])))
