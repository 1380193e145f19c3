"""Inputs of the fleet questions, and the arrays the solvers work on.

A *profile* is a :class:`planner.capacity.solver.GuestKind` (its ``name``, ``node_demand`` and
``host_demand``; the single-host fields ``weight``, ``min_count`` and ``max_count`` are not
used here). A *host type* is what one host of a kind offers: its NUMA nodes' capacities
(after the host kernel and reserves, as for ``planner fit``), its host-wide capacities
(``vcpu_count`` = CPUs x vCPU ratio), a cost and how many can be had. An *existing host* is
one host of a type with the guests it runs now, counted per (profile, node).

Guests of one profile are interchangeable, so every solver here works on counts per
(profile, node) and per host class, never on single guests ([1] §3.1): the arrays below
are profiles x resources and hosts x nodes x resources.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §3 (counts formulations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from planner.capacity.solver import GuestKind, NodeCapacity
from planner.errors import InputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: ``optimal``: proven (the plan meets the lower bound); ``feasible``: a plan, not proven optimal;
#: ``time_limit``: the time ran out, best plan and bound so far; ``infeasible``: proven impossible
Status = Literal["optimal", "feasible", "time_limit", "infeasible"]

#: slack on host-wide (float) capacities such as ``vcpu_count`` = CPUs x a fractional ratio
FLOAT_SLACK = 1e-9


#: the capacity of a host resource a host type does not name (more than any host holds)
UNLIMITED = float(2**40)


@dataclass(frozen=True)
class HostType:
    """One kind of host that can be bought or used.

    Parameters
    ----------
    name
        Type name; new hosts are named ``{name}-001``, ``{name}-002``, ...
    nodes
        Capacity of each NUMA node for guests (``memory_kib``, ``hugepages_kib``). [KiB]
    host_capacity
        Host-wide capacities (``vcpu_count``: CPUs x vCPU ratio).
    cost
        Cost of one host (1 for "fewest hosts").
    available
        How many hosts of this type can be had; None: unlimited.
    """

    name: str
    nodes: tuple[NodeCapacity, ...]
    host_capacity: Mapping[str, float] = field(default_factory=dict)
    cost: float = 1.0
    available: int | None = None


@dataclass(frozen=True)
class ExistingHost:
    """A host that exists, with the guests it runs: (profile, node id) -> count.

    ``fixed``: its guests may not move (consolidation never empties it; it may still receive).
    """

    name: str
    host_type: str
    counts: Mapping[tuple[str, int], int] = field(default_factory=dict)
    fixed: bool = False


@dataclass(frozen=True)
class FleetProblem:
    """Profiles, host types, the guests to place and the hosts that exist.

    ``inventory`` maps profile name -> guests to place (beyond those on existing hosts).
    ``time_limit_s`` bounds each solve; a solve that reaches it returns its best plan and bound.
    """

    profiles: tuple[GuestKind, ...]
    host_types: tuple[HostType, ...]
    inventory: Mapping[str, int] = field(default_factory=dict)
    existing: tuple[ExistingHost, ...] = ()
    time_limit_s: float = 60.0


@dataclass(frozen=True, eq=False)
class Catalog:
    """Profiles as arrays: ``node_demand[p, r]`` (int) and ``host_demand[p, s]`` (float)."""

    names: tuple[str, ...]
    node_resources: tuple[str, ...]
    host_resources: tuple[str, ...]
    node_demand: IntArray
    host_demand: FloatArray

    @property
    def size(self) -> int:
        return len(self.names)

    def index(self, name: str, *, field: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            expected = f"expected one of the profiles {list(self.names)}; found {name!r}"
            raise InputError(expected, field=field) from None


@dataclass(frozen=True, eq=False)
class Shape:
    """One host type (or one class of hosts with the same free capacity) as arrays.

    ``node_capacity[k, r]`` for the k-th node (id ``node_ids[k]``); ``host_capacity[s]``.
    """

    name: str
    node_ids: tuple[int, ...]
    node_capacity: IntArray
    host_capacity: FloatArray
    cost: float
    available: int | None


def catalog_of(profiles: Sequence[GuestKind], host_types: Sequence[HostType] = ()) -> Catalog:
    """Arrays of the profiles; resource names are the union over profiles and host types."""
    names = tuple(p.name for p in profiles)
    if len(set(names)) != len(names):
        raise InputError(f"profile names must be unique; found {list(names)}", field="profiles")
    node_res = sorted({r for p in profiles for r in p.node_demand} | _type_node_resources(host_types))
    host_res = sorted({s for p in profiles for s in p.host_demand} | _type_host_resources(host_types))
    node_demand = np.array([[p.node_demand.get(r, 0) for r in node_res] for p in profiles], dtype=np.int64)
    host_demand = np.array([[p.host_demand.get(s, 0.0) for s in host_res] for p in profiles], dtype=float)
    node_demand = node_demand.reshape(len(names), len(node_res))
    host_demand = host_demand.reshape(len(names), len(host_res))
    for i, p in enumerate(profiles):
        if (node_demand[i] < 0).any() or (host_demand[i] < 0).any():
            raise InputError("expected demands >= 0; found a negative one", field=f"profiles.{p.name}")
        if not (node_demand[i] > 0).any():
            raise InputError(
                "expected a positive node demand (memory_kib or hugepages_kib); found none",
                field=f"profiles.{p.name}",
            )
    return Catalog(names, tuple(node_res), tuple(host_res), node_demand, host_demand)


def _type_node_resources(host_types: Sequence[HostType]) -> set[str]:
    return {r for t in host_types for n in t.nodes for r in n.capacity}


def _type_host_resources(host_types: Sequence[HostType]) -> set[str]:
    return {s for t in host_types for s in t.host_capacity}


def shape_of(host_type: HostType, catalog: Catalog) -> Shape:
    """Arrays of one host type; a resource a node does not name has capacity 0 there."""
    if not host_type.nodes:
        raise InputError("expected at least one NUMA node; found none", field=f"host_types.{host_type.name}")
    ids = tuple(n.node_id for n in host_type.nodes)
    if len(set(ids)) != len(ids):
        raise InputError(f"expected unique node ids; found {list(ids)}", field=f"host_types.{host_type.name}")
    if host_type.cost < 0 or (host_type.available is not None and host_type.available < 0):
        raise InputError("expected cost >= 0 and available >= 0", field=f"host_types.{host_type.name}")
    node_cap = np.array(
        [[n.capacity.get(r, 0) for r in catalog.node_resources] for n in host_type.nodes], dtype=np.int64
    ).reshape(len(ids), len(catalog.node_resources))
    # a host resource the type does not name is unlimited there (as in planner.capacity.solver):
    # a finite stand-in, as the counts derived from it are cast to integers
    host_cap = np.array(
        [float(host_type.host_capacity.get(s, UNLIMITED)) for s in catalog.host_resources], dtype=float
    )
    return Shape(host_type.name, ids, node_cap, host_cap, float(host_type.cost), host_type.available)


def type_index(host_types: Sequence[HostType], name: str, *, field: str) -> int:
    """Position of a host type by name; an unknown name is bad input."""
    for i, t in enumerate(host_types):
        if t.name == name:
            return i
    raise InputError(
        f"expected one of the host types {[t.name for t in host_types]}; found {name!r}", field=field
    )


def counts_array(
    counts: Mapping[tuple[str, int], int], catalog: Catalog, node_ids: Sequence[int], *, field: str
) -> IntArray:
    """(profile, node id) -> count as a profiles x nodes array."""
    out = np.zeros((catalog.size, len(node_ids)), dtype=np.int64)
    for (name, node_id), n in counts.items():
        if node_id not in node_ids:
            raise InputError(f"expected a node id in {list(node_ids)}; found {node_id}", field=field)
        if n < 0:
            raise InputError(f"expected a count >= 0; found {n}", field=field)
        out[catalog.index(name, field=field), node_ids.index(node_id)] += n
    return out


def inventory_array(inventory: Mapping[str, int], catalog: Catalog) -> IntArray:
    """Profile name -> guests to place, as an array over the catalog's profiles."""
    out = np.zeros(catalog.size, dtype=np.int64)
    for name, n in inventory.items():
        if n < 0:
            raise InputError(f"expected a count >= 0; found {n}", field=f"inventory.{name}")
        out[catalog.index(name, field=f"inventory.{name}")] = n
    return out


def usage(counts: IntArray, catalog: Catalog) -> tuple[IntArray, FloatArray]:
    """Node usage (nodes x node resources) and host usage (host resources) of a profiles x nodes count."""
    node_used = counts.T @ catalog.node_demand
    host_used = counts.sum(axis=1).astype(float) @ catalog.host_demand
    return node_used, host_used


def fits(counts: IntArray, shape: Shape, catalog: Catalog) -> bool:
    """Whether a count array fits a shape, checked exactly (integers per node; floats per host)."""
    node_used, host_used = usage(counts, catalog)
    return bool(
        (node_used <= shape.node_capacity).all() and (host_used <= shape.host_capacity + FLOAT_SLACK).all()
    )


def residual_shape(shape: Shape, counts: IntArray, catalog: Catalog, *, name: str) -> Shape:
    """The free capacity a shape has left with ``counts`` placed (cost 0, one host)."""
    node_used, host_used = usage(counts, catalog)
    return Shape(
        name,
        shape.node_ids,
        np.maximum(shape.node_capacity - node_used, 0),
        np.maximum(shape.host_capacity - host_used, 0.0),
        0.0,
        1,
    )


def alone_per_node(node_free: IntArray, catalog: Catalog) -> IntArray:
    """Most guests of each profile that fit alone on each node: ``floor(min_r free_r / d_r)``.

    [1] §3.1 "One profile, one host" (closed form). ``node_free`` is nodes x resources (or
    hosts x nodes x resources); the result is profiles x nodes (or hosts x profiles x nodes).
    """
    d = catalog.node_demand  # P x R
    big = np.iinfo(np.int64).max
    free = node_free[..., None, :, :]  # (H) x 1 x K x R
    dd = d[:, None, :]  # P x 1 x R
    ratio = np.where(dd > 0, free // np.maximum(dd, 1), big)
    out: IntArray = ratio.min(axis=-1)
    return out


def alone_per_host(host_free: FloatArray, catalog: Catalog) -> FloatArray:
    """Most guests of each profile the host-wide capacities (vCPUs) allow: profiles (or hosts x profiles)."""
    e = catalog.host_demand  # P x S
    if e.shape[1] == 0:
        return np.full((*host_free.shape[:-1], catalog.size), np.inf)
    free = host_free[..., None, :]  # (H) x 1 x S
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(e > 0, np.floor((free + FLOAT_SLACK) / np.where(e > 0, e, 1.0)), np.inf)
    out: FloatArray = ratio.min(axis=-1)
    return out


def fill_in_order(per_node: IntArray, total: IntArray) -> IntArray:
    """Spread ``total`` guests over nodes in order, at most ``per_node`` on each (last axis = nodes)."""
    out = np.zeros_like(per_node)
    left = total.copy()
    for k in range(per_node.shape[-1]):
        take = np.minimum(per_node[..., k], left)
        out[..., k] = take
        left = left - take
    return out


def pattern_rows(catalog: Catalog, shape: Shape) -> tuple[FloatArray, FloatArray, IntArray]:
    """Rows of a host pattern's capacities over the variables ``counts[p, k]`` (flattened):
    one per node and node resource, then one per finite host resource (whose indices are
    returned), and their upper sides."""
    n_p, n_k = catalog.size, len(shape.node_ids)
    rows: list[FloatArray] = []
    upper: list[float] = []
    for k in range(n_k):
        for r in range(len(catalog.node_resources)):
            row = np.zeros((n_p, n_k))
            row[:, k] = catalog.node_demand[:, r]
            rows.append(row.ravel())
            upper.append(float(shape.node_capacity[k, r]))
    host_rows = np.flatnonzero(np.isfinite(shape.host_capacity))
    for s in host_rows:
        rows.append(np.repeat(catalog.host_demand[:, s][:, None], n_k, axis=1).ravel())
        upper.append(float(shape.host_capacity[s]) + FLOAT_SLACK)
    return np.array(rows).reshape(len(rows), n_p * n_k), np.array(upper), host_rows.astype(np.int64)
