"""Integer packing of guest profiles onto the NUMA nodes of a host.

Guests of one profile are interchangeable, so the variables are integer counts
per (profile, node), not one variable per guest: the problem size does not grow
with the number of guests. ``scipy.optimize.milp`` (HiGHS) solves it.

The model, after [1] §3.1 ("one host, several profiles"):

    maximise   sum_{p,k} v_p * n_{p,k}
    subject to sum_p n_{p,k} * d_{p,r} <= C_{k,r}      for every node k and node resource r
               sum_{p,k} n_{p,k} * e_{p,s} <= H_s       for every host-wide resource s (vCPUs)
               min_p <= sum_k n_{p,k} <= max_p
               n_{p,k} integer >= 0

``v_p`` is 1 (objective ``max_guests``) or the profile's weight (``max_weight``).
Resources are plain names with integer amounts (``memory_kib``, ``hugepages_kib``
on a node; ``vcpu_count`` on the host); this module knows nothing about what they
mean, reads no files and no YAML.

:func:`min_bins` is the fleet-sizing counterpart (vector bin packing, counts per
bin, [1] §3.1 "Fleet sizing"); it is used to check the solver on the
known-optimum instances of [1] §3.2.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §3 (scipy ``milp`` models and
   known-optimum instances).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from planner.capacity.binding import natural_key
from planner.capacity.highs import milp
from planner.errors import PlannerError

Objective = Literal["max_guests", "max_weight"]
Status = Literal["optimal", "time_limit", "infeasible"]
#: ``scipy.optimize.milp`` status for a problem proven infeasible (1 is a time or node limit)
_MILP_INFEASIBLE = 2


@dataclass(frozen=True)
class GuestKind:
    """One guest profile as the solver sees it.

    Parameters
    ----------
    name
        Profile name; also names the ``{name}.min`` / ``{name}.max`` constraints.
    node_demand
        Per guest, what it takes from the node it runs on: resource -> amount.
    host_demand
        Per guest, what it takes from host-wide resources (``vcpu_count``).
    weight
        Value of one guest under the ``max_weight`` objective.
    min_count, max_count
        Bounds on the number of guests of this profile on the whole host.
    """

    name: str
    node_demand: Mapping[str, int]
    host_demand: Mapping[str, float] = field(default_factory=dict)
    weight: float = 1.0
    min_count: int = 0
    max_count: int | None = None


@dataclass(frozen=True)
class NodeCapacity:
    """What one NUMA node offers to guests: resource -> amount."""

    node_id: int
    capacity: Mapping[str, int]


@dataclass(frozen=True)
class PackingProblem:
    """Guest kinds, nodes and host-wide capacities; see the module docstring."""

    kinds: tuple[GuestKind, ...]
    nodes: tuple[NodeCapacity, ...]
    host_capacity: Mapping[str, float] = field(default_factory=dict)
    objective: Objective = "max_guests"
    time_limit_s: float = 10.0
    #: relative optimality gap at which HiGHS stops; None: 0 for ``max_guests`` (the objective is
    #: a whole number of guests and HiGHS rounds its bound to one, so the count is proven exact;
    #: a relative 1e-4 let hosts of more than 10,000 guests stop one or more guests short) and
    #: 1e-3 for ``max_weight`` (weighted knapsacks with near-equal weight densities otherwise
    #: take seconds to close the last 0.1 %; benchmarks/results/fit-solver.md). The plan reports
    #: the gap reached.
    mip_rel_gap: float | None = None


@dataclass(frozen=True)
class Plan:
    """A solved packing.

    ``counts`` maps (profile name, node id) -> guests; ``status`` is ``optimal`` when
    HiGHS proved the plan within the problem's ``mip_rel_gap``, and ``gap`` is the relative
    MIP gap it reached (0 when proven exactly optimal); ``binding`` names the constraints that stop
    one more guest of any profile from being added (``node0.memory_kib``,
    ``host.vcpu_count``, ``web.max``); ``blocked_by`` gives them per profile.
    """

    status: Status
    counts: Mapping[tuple[str, int], int]
    objective_value: float
    gap: float
    binding: tuple[str, ...]
    blocked_by: Mapping[str, tuple[str, ...]]
    node_used: Mapping[int, Mapping[str, int]]
    host_used: Mapping[str, float]

    def count(self, name: str) -> int:
        """Guests of one profile on the whole host."""
        return sum(n for (p, _), n in self.counts.items() if p == name)

    @property
    def total_guests(self) -> int:
        """Guests of all profiles on the whole host."""
        return sum(self.counts.values())

    def node_counts(self, node_id: int) -> dict[str, int]:
        """Profile -> guests on one node (profiles with none are left out)."""
        return {p: n for (p, k), n in self.counts.items() if k == node_id and n}


def _node_resources(problem: PackingProblem) -> list[str]:
    names: set[str] = set()
    for kind in problem.kinds:
        names.update(kind.node_demand)
    for node in problem.nodes:
        names.update(node.capacity)
    return sorted(names)


def _validate(problem: PackingProblem) -> None:
    if not problem.nodes:
        raise ValueError("a packing problem needs at least one node")
    ids = [node.node_id for node in problem.nodes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"node ids must be unique; found {ids}")
    names = [kind.name for kind in problem.kinds]
    if len(set(names)) != len(names):
        raise ValueError(f"guest kind names must be unique; found {names}")
    for kind in problem.kinds:
        demands = [*kind.node_demand.values(), *kind.host_demand.values()]
        if any(d < 0 for d in demands):
            raise ValueError(f"{kind.name}: demands must not be negative")
        if kind.max_count is None and not any(d > 0 for d in demands):
            raise ValueError(f"{kind.name}: a kind with no demand needs a max_count")
        if kind.max_count is not None and kind.max_count < kind.min_count:
            raise ValueError(f"{kind.name}: max_count {kind.max_count} < min_count {kind.min_count}")


def solve(problem: PackingProblem) -> Plan:
    """Solve a packing problem with ``scipy.optimize.milp`` (HiGHS).

    Returns a :class:`Plan`; an infeasible problem (the minimum counts do not fit)
    gives ``status="infeasible"`` and all counts zero, with ``binding`` naming the
    constraints the minimum counts alone overflow.

    Raises
    ------
    PlannerError
        HiGHS reached the time limit before it found any plan (nothing is known to be
        infeasible then, so no plan is returned).
    """
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint

    _validate(problem)
    kinds, nodes = problem.kinds, problem.nodes
    n_vars = len(kinds) * len(nodes)
    node_res = _node_resources(problem)
    host_res = sorted(problem.host_capacity)
    rows, lower, upper = _constraints(problem, node_res, host_res)
    value = np.array(
        [(kind.weight if problem.objective == "max_weight" else 1.0) for kind in kinds for _ in nodes]
    )
    constraints = [LinearConstraint(np.array(rows), np.array(lower), np.array(upper))] if rows else []
    res = milp(
        -value,
        integrality=np.ones(n_vars),
        bounds=Bounds(np.zeros(n_vars), np.full(n_vars, np.inf)),
        constraints=constraints,
        options={"time_limit": problem.time_limit_s, "mip_rel_gap": _gap(problem)},
    )
    if res.x is None:
        if res.status != _MILP_INFEASIBLE:
            raise PlannerError(
                f"the solver (HiGHS) found no plan within its {problem.time_limit_s:g} s time limit; "
                "expected fewer profiles or NUMA nodes"
            )
        return _infeasible_plan(problem, node_res, host_res)
    x = np.rint(res.x).astype(int)
    counts = {
        (kind.name, node.node_id): int(x[p * len(nodes) + k])
        for p, kind in enumerate(kinds)
        for k, node in enumerate(nodes)
    }
    status: Status = "optimal" if res.status == 0 else "time_limit"
    gap = float(res.mip_gap) if getattr(res, "mip_gap", None) is not None else 0.0
    return _plan(problem, counts, status, gap, node_res, host_res)


def _constraints(
    problem: PackingProblem, node_res: list[str], host_res: list[str]
) -> tuple[list[Any], list[float], list[float]]:
    """The rows of ``lower <= A x <= upper``, ``x[p * nodes + k]`` the count of kind ``p`` on
    node ``k``: each node resource, each host resource, each kind's min/max count."""
    import numpy as np

    kinds, nodes = problem.kinds, problem.nodes
    n_nodes = len(nodes)
    n_vars = len(kinds) * n_nodes
    rows: list[Any] = []
    upper: list[float] = []
    for k, node in enumerate(nodes):
        for r in node_res:
            row = np.zeros(n_vars)
            for p, kind in enumerate(kinds):
                row[p * n_nodes + k] = kind.node_demand.get(r, 0)
            if not row.any():
                continue
            rows.append(row)
            upper.append(float(node.capacity.get(r, 0)))
    for s in host_res:
        row = np.zeros(n_vars)
        for p, kind in enumerate(kinds):
            row[p * n_nodes : (p + 1) * n_nodes] = kind.host_demand.get(s, 0)
        if row.any():
            rows.append(row)
            upper.append(float(problem.host_capacity[s]))
    lower = [-np.inf] * len(rows)
    for p, kind in enumerate(kinds):
        if kind.min_count > 0 or kind.max_count is not None:
            row = np.zeros(n_vars)
            row[p * n_nodes : (p + 1) * n_nodes] = 1
            rows.append(row)
            lower.append(float(kind.min_count))
            upper.append(float(kind.max_count) if kind.max_count is not None else np.inf)
    return rows, lower, upper


def _gap(problem: PackingProblem) -> float:
    if problem.mip_rel_gap is not None:
        return problem.mip_rel_gap
    return 0.0 if problem.objective == "max_guests" else 1e-3


def _usage(
    problem: PackingProblem, counts: Mapping[tuple[str, int], int], node_res: list[str], host_res: list[str]
) -> tuple[dict[int, dict[str, int]], dict[str, float]]:
    node_used = {
        node.node_id: {
            r: sum(
                counts.get((kind.name, node.node_id), 0) * kind.node_demand.get(r, 0)
                for kind in problem.kinds
            )
            for r in node_res
        }
        for node in problem.nodes
    }
    host_used = {
        s: float(
            sum(
                counts.get((kind.name, node.node_id), 0) * kind.host_demand.get(s, 0)
                for kind in problem.kinds
                for node in problem.nodes
            )
        )
        for s in host_res
    }
    return node_used, host_used


def _plan(
    problem: PackingProblem,
    counts: dict[tuple[str, int], int],
    status: Status,
    gap: float,
    node_res: list[str],
    host_res: list[str],
) -> Plan:
    node_used, host_used = _usage(problem, counts, node_res, host_res)
    blocked_by: dict[str, tuple[str, ...]] = {}
    for kind in problem.kinds:
        total = sum(counts[(kind.name, node.node_id)] for node in problem.nodes)
        blocks: set[str] = set()
        if kind.max_count is not None and total >= kind.max_count:
            blocks.add(f"{kind.name}.max")
        else:
            for s in host_res:
                if host_used[s] + kind.host_demand.get(s, 0) > problem.host_capacity[s] + 1e-9:
                    blocks.add(f"host.{s}")
            for node in problem.nodes:
                for r in node_res:
                    d = kind.node_demand.get(r, 0)
                    if d and node_used[node.node_id][r] + d > node.capacity.get(r, 0):
                        blocks.add(f"node{node.node_id}.{r}")
        blocked_by[kind.name] = tuple(sorted(blocks, key=natural_key))
    binding = tuple(sorted({c for cs in blocked_by.values() for c in cs}, key=natural_key))
    weights = {
        kind.name: (kind.weight if problem.objective == "max_weight" else 1.0) for kind in problem.kinds
    }
    objective_value = float(sum(weights[p] * n for (p, _), n in counts.items()))
    return Plan(
        status=status,
        counts=counts,
        objective_value=objective_value,
        gap=gap,
        binding=binding,
        blocked_by=blocked_by,
        node_used=node_used,
        host_used=host_used,
    )


def _infeasible_plan(problem: PackingProblem, node_res: list[str], host_res: list[str]) -> Plan:
    """All counts zero; ``binding`` names what the minimum counts alone overflow."""
    counts = {(kind.name, node.node_id): 0 for kind in problem.kinds for node in problem.nodes}
    overflow: set[str] = set()
    for s in host_res:
        need = sum(kind.min_count * kind.host_demand.get(s, 0) for kind in problem.kinds)
        if need > problem.host_capacity[s]:
            overflow.add(f"host.{s}")
    for r in node_res:
        need_r = sum(kind.min_count * kind.node_demand.get(r, 0) for kind in problem.kinds)
        if need_r > sum(node.capacity.get(r, 0) for node in problem.nodes):
            overflow.add(f"nodes.{r}")
    if not overflow:
        overflow.add("nodes (the minimum counts do not split across the nodes)")
    node_used, host_used = _usage(problem, counts, node_res, host_res)
    return Plan(
        status="infeasible",
        counts=counts,
        objective_value=0.0,
        gap=math.inf,
        binding=tuple(sorted(overflow, key=natural_key)),
        blocked_by={kind.name: () for kind in problem.kinds},
        node_used=node_used,
        host_used=host_used,
    )


def max_count_one_kind(capacity: Sequence[float], demand: Sequence[float]) -> int:
    """Closed form for one profile on one node: ``floor(min_r capacity_r / demand_r)``.

    [1] §3.1 "One profile, one host"; used to cross-check :func:`solve`.
    """
    ratios = [c / d for c, d in zip(capacity, demand, strict=True) if d > 0]
    if not ratios:
        raise ValueError("at least one demand must be positive")
    return max(0, math.floor(min(ratios)))


@dataclass(frozen=True)
class FleetPlan:
    """Result of :func:`min_bins`: the number of bins (hosts) used and the counts per bin."""

    status: Status
    bin_count: int
    gap: float
    counts: tuple[tuple[int, ...], ...]  # per bin: count of each item type


def min_bins(
    sizes: Sequence[Sequence[float]],
    demands: Sequence[int],
    capacity: Sequence[float],
    *,
    time_limit_s: float = 30.0,
) -> FleetPlan:
    """Fewest identical bins (hosts) that hold ``demands[t]`` items of each type ``t``.

    Vector bin packing in the counts formulation of [1] §3.1 "Fleet sizing":
    integer ``x[t, b]``, binary ``y[b]``; ``sum_b x[t, b] = d_t``;
    ``sum_t w[t, r] x[t, b] <= W_r y[b]``; symmetry break ``y[b] >= y[b+1]``.
    The number of candidate bins comes from first-fit decreasing.

    Parameters
    ----------
    sizes
        ``sizes[t][r]``: size of one item of type ``t`` in dimension ``r``.
    demands
        Items of each type.
    capacity
        Bin capacity per dimension.
    """
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint

    n_types, n_dims = len(sizes), len(capacity)
    for t, size in enumerate(sizes):
        if len(size) != n_dims or any(s > c for s, c in zip(size, capacity, strict=True)):
            raise ValueError(f"item type {t} does not fit an empty bin")
    n_bins = _first_fit_decreasing(sizes, demands, capacity)
    n_x = n_types * n_bins
    n_vars = n_x + n_bins
    rows: list[Any] = []
    lower: list[float] = []
    upper: list[float] = []
    for t in range(n_types):
        row = np.zeros(n_vars)
        row[t * n_bins : (t + 1) * n_bins] = 1
        rows.append(row)
        lower.append(demands[t])
        upper.append(demands[t])
    for b in range(n_bins):
        for r in range(n_dims):
            row = np.zeros(n_vars)
            for t in range(n_types):
                row[t * n_bins + b] = sizes[t][r]
            row[n_x + b] = -capacity[r]
            rows.append(row)
            lower.append(-np.inf)
            upper.append(0.0)
        if b + 1 < n_bins:
            row = np.zeros(n_vars)
            row[n_x + b] = 1
            row[n_x + b + 1] = -1
            rows.append(row)
            lower.append(0.0)
            upper.append(np.inf)
    c = np.concatenate([np.zeros(n_x), np.ones(n_bins)])
    ub = np.concatenate([np.repeat(np.asarray(demands, dtype=float), n_bins), np.ones(n_bins)])
    res = milp(
        c,
        integrality=np.ones(n_vars),
        bounds=Bounds(np.zeros(n_vars), ub),
        constraints=[LinearConstraint(np.array(rows), np.array(lower), np.array(upper))],
        options={"time_limit": time_limit_s},
    )
    if res.x is None:  # first-fit decreasing found a packing, so only a limit ends here
        raise PlannerError(f"the solver (HiGHS) found no packing within its {time_limit_s:g} s time limit")
    x = np.rint(res.x).astype(int)
    used = [b for b in range(n_bins) if x[n_x + b]]
    counts = tuple(tuple(int(x[t * n_bins + b]) for t in range(n_types)) for b in used)
    status: Status = "optimal" if res.status == 0 else "time_limit"
    gap = float(res.mip_gap) if getattr(res, "mip_gap", None) is not None else 0.0
    return FleetPlan(status=status, bin_count=len(used), gap=gap, counts=counts)


def _first_fit_decreasing(
    sizes: Sequence[Sequence[float]], demands: Sequence[int], capacity: Sequence[float]
) -> int:
    """Bins used by first-fit decreasing (largest normalised size first): an upper bound."""
    items = sorted(
        (t for t, d in enumerate(demands) for _ in range(d)),
        key=lambda t: -max(s / c for s, c in zip(sizes[t], capacity, strict=True)),
    )
    bins: list[list[float]] = []
    for t in items:
        for load in bins:
            if all(lv + s <= c for lv, s, c in zip(load, sizes[t], capacity, strict=True)):
                for r, s in enumerate(sizes[t]):
                    load[r] += s
                break
        else:
            bins.append(list(sizes[t]))
    return max(1, len(bins))
