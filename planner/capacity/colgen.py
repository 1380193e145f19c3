"""Column generation over host patterns, then an integer master (price-and-branch).

A *pattern* (column) is one host of one shape with integer guest counts per (profile, node)
that fit its nodes and its host-wide capacities. The master problem chooses how many hosts
of each pattern to use ([1] §3.1 "Fleet sizing", in the pattern form of Gilmore and Gomory
[2]; Vance [3] for the column generation of bin packing):

    minimise   sum_j c_j x_j
    subject to sum_j a_pj x_j >= d_p          every profile p (guests to place)
               sum_{j of shape b} x_j <= U_b   every shape b with a limited number of hosts
               x_j >= 0 (integer in the integer master)

Its size depends on the number of profiles and shapes, never on the number of guests.
The linear master is solved by HiGHS (``scipy.optimize.linprog``); its duals ``pi_p`` price
new patterns: per shape, the most valuable host ``max sum_p pi_p a_p`` is a small integer
program over counts per (profile, node) (``scipy.optimize.milp``). A pattern whose value
exceeds its shape's cost (plus the availability dual) enters the master.

The lower bound is Lagrangian (valid at every iteration, not only at convergence): for any
``pi >= 0`` and the pricing optima (upper bounds) ``v_b``, scaling ``pi`` by
``theta = min(1, min over unlimited shapes c_b / v_b)`` gives

    LB = theta sum_p pi_p d_p + sum_{b limited} U_b min(0, c_b - theta v_b),

the Farley bound [4] extended to limited shapes. When all costs are integers the integer
optimum is at least ``ceil(LB)``; a plan that meets it is proven optimal.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §3.1.
.. [2] P. C. Gilmore, R. E. Gomory, "A linear programming approach to the cutting-stock
   problem", Operations Research 9(6), 1961.
.. [3] P. H. Vance, "Branch-and-price algorithms for the one-dimensional cutting stock
   problem", Computational Optimization and Applications 9, 1998.
.. [4] A. A. Farley, "A note on bounding a class of linear programming problems, including
   cutting stock problems", Operations Research 38(5), 1990.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.capacity.model import (
    FLOAT_SLACK,
    Catalog,
    FloatArray,
    IntArray,
    Shape,
    Status,
    alone_per_host,
    alone_per_node,
    fill_in_order,
    fits,
    usage,
)

#: share of the time limit column generation may take before the integer master and the dive
_GENERATION_SHARE = 0.6

#: relative slack on reduced costs (duals are floats from HiGHS)
_DUAL_TOL = 1e-7


@dataclass(frozen=True, eq=False)
class Column:
    """One host pattern: ``counts[p, k]`` guests of profile p on node k of shape ``shape``."""

    shape: int
    counts: IntArray

    @property
    def cover(self) -> IntArray:
        out: IntArray = self.counts.sum(axis=1)
        return out

    def key(self) -> tuple[int, bytes]:
        return self.shape, self.counts.tobytes()


@dataclass(frozen=True)
class CoverResult:
    """Outcome of :func:`cover`: columns with integer multiplicities, and the bounds."""

    status: Status
    columns: tuple[Column, ...]
    multiplicity: tuple[int, ...]
    objective: float
    lower_bound: float
    lp_value: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class _Master:
    value: float
    x: FloatArray
    pi: FloatArray
    mu: FloatArray  # per shape; 0 for unlimited shapes


@dataclass
class _Generation:
    """State of one column generation run (mutable while it runs)."""

    columns: list[Column]
    seen: set[tuple[int, bytes]]
    master: _Master | None = None
    best_lb: float = 0.0
    iterations: int = 0
    converged: bool = False
    timed_out: bool = False
    infeasible: bool = False


def cover(
    catalog: Catalog,
    shapes: Sequence[Shape],
    demand: IntArray,
    *,
    initial: Sequence[Column],
    deadline: float,
) -> CoverResult:
    """Cheapest set of hosts (patterns) that holds ``demand`` guests per profile.

    ``initial`` columns (for instance from first fit decreasing) start the master; the
    caller checks beforehand that every profile with demand fits at least one shape.
    ``deadline`` is a ``time.monotonic()`` instant; past it the best plan and bound so far
    are returned with status ``time_limit``. After column generation the integer master
    over the columns is solved; when it does not meet the bound, a dive (fix the columns the
    linear master uses, the largest fractional one rounded up, then generate columns for
    what is left) looks for a better plan.
    """
    gen = _Generation([], set())
    _extend(gen.columns, gen.seen, initial)
    start = time.monotonic()
    _generate(catalog, shapes, demand, gen, start + _GENERATION_SHARE * (deadline - start))
    if gen.infeasible:
        return CoverResult(
            "infeasible", tuple(gen.columns), (), math.inf, math.inf, math.inf, gen.iterations, True
        )
    if gen.master is None:  # the time ran out before any cover was found
        return CoverResult(
            "time_limit", tuple(gen.columns), (), math.inf, 0.0, math.inf, gen.iterations, False
        )
    integral = all(float(s.cost).is_integer() for s in shapes)
    lower = float(_ceil(gen.best_lb)) if integral else gen.best_lb
    lp_value = gen.master.value
    share = time.monotonic() + max(0.5, (deadline - time.monotonic()) / 3)
    mult, ip_timed_out = _integer_master(gen.columns, shapes, demand, min(share, deadline))
    objective = _cost(gen.columns, mult, shapes)
    if objective > lower + 1e-9 * max(1.0, lower) and time.monotonic() < deadline:
        dive = _dive(catalog, shapes, demand, gen, deadline)
        if dive is not None and _cost(gen.columns, dive, shapes) < objective:
            mult, objective = dive, _cost(gen.columns, dive, shapes)
        if objective > lower + 1e-9 * max(1.0, lower) and time.monotonic() < deadline:
            again, ip_timed_out = _integer_master(
                gen.columns, shapes, demand, deadline
            )  # with the dive's columns
            if _cost(gen.columns, again, shapes) < objective:
                mult, objective = again, _cost(gen.columns, again, shapes)
        ip_timed_out = ip_timed_out or time.monotonic() >= deadline
    if mult is not None:
        mult = list(mult) + [0] * (len(gen.columns) - len(mult))
    status: Status
    if mult is not None and objective <= lower + 1e-9 * max(1.0, lower):
        status = "optimal"
    elif gen.timed_out or ip_timed_out:
        status = "time_limit"
    else:
        status = "feasible"
    return CoverResult(
        status,
        tuple(gen.columns),
        tuple(mult or ()),
        objective,
        lower,
        lp_value,
        gen.iterations,
        gen.converged,
    )


def _cost(columns: Sequence[Column], mult: Sequence[int] | None, shapes: Sequence[Shape]) -> float:
    if mult is None:
        return math.inf
    return float(sum(shapes[c.shape].cost * m for c, m in zip(columns, mult, strict=False)))


def _generate(
    catalog: Catalog, shapes: Sequence[Shape], demand: IntArray, gen: _Generation, deadline: float
) -> None:
    """Column generation until no pattern improves, the bound is met, or the deadline."""
    integral = all(float(s.cost).is_integer() for s in shapes)
    phase = 2
    while True:
        gen.iterations += 1
        master = _master_lp(gen.columns, shapes, demand, phase)
        if master is None:  # the restricted master cannot cover the demand: phase 1 first
            if phase == 1:
                raise RuntimeError("the phase-1 master (with slack columns) has no solution")
            phase = 1
            continue
        v_ub, new = _price_all(catalog, shapes, master, demand, phase, deadline)
        lb = _lagrangian_bound(shapes, master.pi, demand, v_ub, phase)
        if phase == 1:
            if lb > 1e-6:
                gen.infeasible = True
                return
            if master.value <= 1e-9:
                phase = 2
                _extend(gen.columns, gen.seen, new)
                continue
        else:
            gen.master = master
            gen.best_lb = max(gen.best_lb, lb)
        if time.monotonic() > deadline:
            gen.timed_out = True
            return
        if not _extend(gen.columns, gen.seen, new):
            gen.converged = True
            return
        if phase == 2 and integral and _ceil(gen.best_lb) >= _ceil(master.value):
            return


def _dive(
    catalog: Catalog, shapes: Sequence[Shape], demand: IntArray, gen: _Generation, deadline: float
) -> list[int] | None:
    """Fix the integral columns of the linear master (else round one up), regenerate, repeat."""
    fixed = np.zeros(len(gen.columns), dtype=np.int64)
    master = gen.master
    left = demand.copy()
    while master is not None and left.any() and time.monotonic() < deadline:
        x = np.concatenate([master.x, np.zeros(len(gen.columns) - len(master.x))])
        frac = x - np.floor(x + 1e-6)
        step = np.where(frac < 1e-6, np.floor(x + 1e-6), 0).astype(np.int64)  # the integral values
        if not step.any():  # none: round up the column closest to its next integer
            j = int(np.argmax(np.where(x > 1e-6, frac, -1.0)))
            step[j] = int(np.ceil(x[j]))
        fixed = np.concatenate([fixed, np.zeros(len(gen.columns) - len(fixed), dtype=np.int64)]) + step
        cover_now = sum(
            (c.cover * m for c, m in zip(gen.columns, fixed, strict=True) if m), np.zeros_like(demand)
        )
        left = np.maximum(demand - cover_now, 0)
        if not left.any():
            break
        rest = [_less_available(s, b, gen.columns, fixed) for b, s in enumerate(shapes)]
        sub = _Generation(gen.columns, gen.seen)
        _generate(catalog, rest, left, sub, deadline)
        master = None if sub.infeasible else sub.master
    if left.any():
        return None
    return [int(m) for m in np.concatenate([fixed, np.zeros(len(gen.columns) - len(fixed), dtype=np.int64)])]


def _less_available(shape: Shape, b: int, columns: Sequence[Column], fixed: IntArray) -> Shape:
    if shape.available is None:
        return shape
    used = int(sum(m for c, m in zip(columns, fixed, strict=False) if c.shape == b))
    return Shape(
        shape.name,
        shape.node_ids,
        shape.node_capacity,
        shape.host_capacity,
        shape.cost,
        shape.available - used,
    )


def _ceil(value: float) -> int:
    return math.ceil(value - 1e-6)


def _extend(columns: list[Column], seen: set[tuple[int, bytes]], new: Sequence[Column]) -> bool:
    added = False
    for col in new:
        if col.cover.sum() > 0 and col.key() not in seen:
            seen.add(col.key())
            columns.append(col)
            added = True
    return added


def _master_lp(
    columns: Sequence[Column], shapes: Sequence[Shape], demand: IntArray, phase: int
) -> _Master | None:
    """The linear master over the columns so far; phase 1 minimises the uncovered guests."""
    from scipy.optimize import linprog

    n_p, n_j = len(demand), len(columns)
    if n_j == 0 and phase == 2:
        return None
    a = np.array([c.cover for c in columns], dtype=float).T.reshape(n_p, n_j)
    limited = [b for b, s in enumerate(shapes) if s.available is not None]
    avail = np.zeros((len(limited), n_j))
    for j, col in enumerate(columns):
        if col.shape in limited:
            avail[limited.index(col.shape), j] = 1.0
    u = np.array([float(shapes[b].available or 0) for b in limited])
    if phase == 1:
        cost = np.concatenate([np.zeros(n_j), np.ones(n_p)])
        a_ub = np.block([[-a, -np.eye(n_p)], [avail, np.zeros((len(limited), n_p))]])
    else:
        cost = np.array([shapes[c.shape].cost for c in columns], dtype=float)
        a_ub = np.vstack([-a, avail])
    b_ub = np.concatenate([-demand.astype(float), u])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    if res.status != 0:
        return None
    marg = np.asarray(res.ineqlin.marginals, dtype=float)
    mu = np.zeros(len(shapes))
    for i, b in enumerate(limited):
        mu[b] = marg[n_p + i]
    return _Master(float(res.fun), np.asarray(res.x[:n_j], dtype=float), np.maximum(-marg[:n_p], 0.0), mu)


def _price_all(
    catalog: Catalog, shapes: Sequence[Shape], master: _Master, demand: IntArray, phase: int, deadline: float
) -> tuple[FloatArray, list[Column]]:
    """Best pattern of every shape for the duals; returns the values' upper bounds and the improving ones.

    The rounded linear relaxation of each pricing program comes first; only when it finds no
    improving pattern for any shape are the pricing programs solved as integer programs.
    """
    for exact in (False, True):
        v_ub = np.zeros(len(shapes))
        new: list[Column] = []
        for b, shape in enumerate(shapes):
            limit = max(0.05, min(5.0, deadline - time.monotonic()))
            threshold = (shape.cost if phase == 2 else 0.0) - master.mu[b]
            counts, v_lb, v_ub[b] = price(
                catalog, shape, master.pi, demand, limit, exact=exact, threshold=threshold
            )
            if counts is not None and v_lb > threshold + _DUAL_TOL * max(1.0, abs(threshold)):
                new.append(Column(b, counts))
        if new or time.monotonic() > deadline:
            break
    return v_ub, new


def _lagrangian_bound(
    shapes: Sequence[Shape], pi: FloatArray, demand: IntArray, v_ub: FloatArray, phase: int
) -> float:
    """Lower bound on the full master from any duals ``pi`` (module docstring; [4])."""
    cost = np.array([s.cost if phase == 2 else 0.0 for s in shapes])
    theta = 1.0
    for b, s in enumerate(shapes):
        if s.available is None and v_ub[b] > cost[b]:
            theta = min(theta, cost[b] / v_ub[b])
    bound = theta * float(pi @ demand)
    for b, s in enumerate(shapes):
        if s.available is not None:
            bound += s.available * min(0.0, cost[b] - theta * v_ub[b])
    return bound


def price(
    catalog: Catalog,
    shape: Shape,
    pi: FloatArray,
    caps: IntArray,
    time_limit_s: float,
    *,
    exact: bool = True,
    threshold: float = np.inf,
) -> tuple[IntArray | None, float, float]:
    """Most valuable host of one shape: ``max sum_p pi_p a_p`` with ``a_p <= caps_p``.

    Returns (counts or None, value of the counts, upper bound on the optimum). The linear
    relaxation, rounded down and filled greedily, gives the first counts and bound. With
    ``exact``, a program with a single integer constraint row (one node, one binding
    resource) is solved exactly by dynamic programming, any other by HiGHS: first briefly,
    then longer (up to ``time_limit_s``) only while neither a pattern worth more than
    ``threshold`` nor a bound below it is known.
    """
    from scipy.optimize import linprog

    per_node = alone_per_node(shape.node_capacity, catalog)
    per_host = alone_per_host(shape.host_capacity, catalog)
    ub = np.minimum(per_node, np.minimum(per_host, caps.astype(float))[:, None]).astype(np.int64)
    idx = np.argwhere((pi > 1e-12)[:, None] & (ub > 0))
    if len(idx) == 0:
        return None, 0.0, 0.0
    ub_vec = ub[idx[:, 0], idx[:, 1]].astype(float)
    value = pi[idx[:, 0]]
    rows, upper = _pricing_rows(catalog, shape, idx, ub_vec, caps)
    if not rows:  # the bounds alone are the optimum
        counts = _counts(catalog, shape, idx, ub_vec)
        v = float(pi @ counts.sum(axis=1))
        return counts, v, v * (1 + 1e-9)
    a_ub, b_ub = np.array(rows), np.array(upper)
    lp = linprog(
        -value, A_ub=a_ub, b_ub=b_ub, bounds=np.column_stack([np.zeros(len(idx)), ub_vec]), method="highs"
    )
    bound = -float(lp.fun) if lp.status == 0 else float(value @ ub_vec)
    start = np.floor(lp.x + 1e-9) if lp.status == 0 else np.zeros(len(idx))
    counts = _greedy_fill(
        catalog, shape, pi, caps, repair(_counts(catalog, shape, idx, start), shape, catalog)
    )
    best = float(pi @ counts.sum(axis=1))
    if exact and best < bound * (1 - 1e-9):
        x, bound = _exact_pricing(value, a_ub, b_ub, ub_vec, bound, best, threshold, time_limit_s)
        if x is not None:
            found = repair(_counts(catalog, shape, idx, x), shape, catalog)
            if float(pi @ found.sum(axis=1)) > best:
                counts, best = found, float(pi @ found.sum(axis=1))
    return counts, best, max(best, bound) * (1 + 1e-9)


#: relative gap to which HiGHS solves a pricing program: proving the last 0.1 % of a
#: multi-node knapsack takes HiGHS seconds; the bound stays valid (it uses HiGHS's dual
#: bound), it is only that much weaker (benchmarks/results/fleet-solver.md)
_PRICING_GAP = 1e-3

#: largest capacity x items table the dynamic programme may build
_DP_CELLS = 50_000_000


def _exact_pricing(
    value: FloatArray,
    a_ub: FloatArray,
    b_ub: FloatArray,
    ub_vec: FloatArray,
    bound: float,
    best: float,
    threshold: float,
    time_limit_s: float,
) -> tuple[FloatArray | None, float]:
    """Integer optimum (or best found, and a bound) of ``max value @ x, a_ub @ x <= b_ub, 0 <= x <= ub``."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    if len(a_ub) == 1 and np.all(a_ub[0] == np.rint(a_ub[0])):
        x = _knapsack(value, a_ub[0].astype(np.int64), int(b_ub[0]), ub_vec.astype(np.int64))
        if x is not None:
            return x.astype(float), float(value @ x)
    x_best: FloatArray | None = None
    for limit, gap in ((0.2, _PRICING_GAP), (min(1.0, time_limit_s), _PRICING_GAP / 10)):
        res = milp(
            -value,
            integrality=np.ones(len(value)),
            bounds=Bounds(np.zeros(len(value)), ub_vec),
            constraints=[LinearConstraint(a_ub, -np.inf, b_ub)],
            options={"time_limit": min(limit, time_limit_s), "mip_rel_gap": gap},
        )
        dual = getattr(res, "mip_dual_bound", None)
        if dual is not None and np.isfinite(dual):
            bound = min(bound, -float(dual))
        if res.x is not None:
            x_best = np.rint(res.x)
            best = max(best, float(value @ x_best))
        if res.status == 0 or best > threshold or bound <= threshold:
            break
    return x_best, bound


def _knapsack(value: FloatArray, weight: IntArray, capacity: int, bound: IntArray) -> IntArray | None:
    """Bounded knapsack by dynamic programming over capacity (binary splitting of the bounds).

    Weights are divided by their greatest common divisor first; returns None when the
    table would be too large.
    """
    g = int(np.gcd.reduce(weight[weight > 0])) if (weight > 0).any() else 1
    w, cap = weight // g, capacity // g
    pieces: list[tuple[int, int]] = []  # (item, multiplicity)
    for i, u in enumerate(bound):
        k = 1
        while u > 0:
            take = min(k, int(u))
            pieces.append((i, take))
            u -= take
            k *= 2
    if (cap + 1) * len(pieces) > _DP_CELLS:
        return None
    dp = np.zeros(cap + 1)
    chose = np.zeros((len(pieces), cap + 1), dtype=bool)
    for j, (i, m) in enumerate(pieces):
        wj, vj = int(w[i]) * m, float(value[i]) * m
        if wj > cap:
            continue
        cand = dp[: cap + 1 - wj] + vj
        better = cand > dp[wj:] + 1e-12
        chose[j, wj:] = better
        dp[wj:] = np.where(better, cand, dp[wj:])
    x = np.zeros(len(value), dtype=np.int64)
    c = cap
    for j in range(len(pieces) - 1, -1, -1):
        if chose[j, c]:
            i, m = pieces[j]
            x[i] += m
            c -= int(w[i]) * m
    return x


def _counts(catalog: Catalog, shape: Shape, idx: Any, x: FloatArray) -> IntArray:
    counts = np.zeros((catalog.size, len(shape.node_ids)), dtype=np.int64)
    counts[idx[:, 0], idx[:, 1]] = np.rint(x).astype(np.int64)
    return counts


def _greedy_fill(
    catalog: Catalog, shape: Shape, pi: FloatArray, caps: IntArray, counts: IntArray
) -> IntArray:
    """Add guests to ``counts`` while they fit, the most dual value per share of the host first."""
    counts = counts.copy()
    node_cap = np.maximum(shape.node_capacity.sum(axis=0), 1).astype(float)
    host_cap = np.where(
        np.isfinite(shape.host_capacity) & (shape.host_capacity > 0), shape.host_capacity, np.inf
    )
    share = (catalog.node_demand / node_cap).sum(axis=1) + (catalog.host_demand / host_cap).sum(axis=1)
    for p in sorted(np.flatnonzero(pi > 1e-12), key=lambda q: -pi[q] / max(share[q], 1e-12)):
        node_used, host_used = usage(counts, catalog)
        per_node = alone_per_node(shape.node_capacity - node_used, catalog)[p]
        room = min(alone_per_host(shape.host_capacity - host_used, catalog)[p], caps[p] - counts[p].sum())
        take = fill_in_order(per_node[None, :], np.array([int(max(0, min(room, per_node.sum())))]))[0]
        counts[p] += take
    return counts


def _pricing_rows(
    catalog: Catalog, shape: Shape, idx: Any, ub_vec: FloatArray, caps: IntArray
) -> tuple[list[FloatArray], list[float]]:
    """Constraint rows of the pricing program that the variable bounds alone do not satisfy."""
    rows: list[FloatArray] = []
    upper: list[float] = []
    n_k = len(shape.node_ids)
    for k in range(n_k):
        on_k = (idx[:, 1] == k).astype(float)
        for r in range(len(catalog.node_resources)):
            coef = on_k * catalog.node_demand[idx[:, 0], r]
            if coef @ ub_vec > shape.node_capacity[k, r]:
                rows.append(coef)
                upper.append(float(shape.node_capacity[k, r]))
    for s in range(len(catalog.host_resources)):
        coef = catalog.host_demand[idx[:, 0], s].astype(float)
        if coef @ ub_vec > shape.host_capacity[s] + FLOAT_SLACK:
            rows.append(coef)
            upper.append(float(shape.host_capacity[s]))
    if n_k > 1:
        for p in np.unique(idx[:, 0]):
            coef = (idx[:, 0] == p).astype(float)
            if coef @ ub_vec > caps[p]:
                rows.append(coef)
                upper.append(float(caps[p]))
    return rows, upper


def repair(counts: IntArray, shape: Shape, catalog: Catalog) -> IntArray:
    """Take guests off until the counts fit exactly (HiGHS works to a float tolerance)."""
    counts = counts.copy()
    while not fits(counts, shape, catalog):
        node_used = counts.T @ catalog.node_demand
        over = np.argwhere(node_used > shape.node_capacity)
        if len(over):
            k, r = over[0]
            candidates = [p for p in range(catalog.size) if counts[p, k] and catalog.node_demand[p, r]]
        else:
            k = int(np.argmax(counts.sum(axis=0)))
            candidates = [p for p in range(catalog.size) if counts[p, k]]
        p = max(candidates, key=lambda q: catalog.node_demand[q].sum())
        counts[p, k] -= 1
    return counts


def _integer_master(
    columns: Sequence[Column], shapes: Sequence[Shape], demand: IntArray, deadline: float
) -> tuple[list[int] | None, bool]:
    """Integer multiplicities over the generated columns; returns (multiplicities, timed out)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_j = len(columns)
    a = np.array([c.cover for c in columns], dtype=float).T.reshape(len(demand), n_j)
    ub = np.zeros(n_j)
    for j, col in enumerate(columns):
        need = max(math.ceil(demand[p] / col.cover[p]) for p in np.flatnonzero(col.cover))
        avail = shapes[col.shape].available
        ub[j] = need if avail is None else min(need, avail)
    rows, lower, upper = [a], [demand.astype(float)], [np.full(len(demand), np.inf)]
    for b, s in enumerate(shapes):
        if s.available is not None:
            rows.append(np.array([[1.0 if c.shape == b else 0.0 for c in columns]]))
            lower.append(np.array([-np.inf]))
            upper.append(np.array([float(s.available)]))
    res = milp(
        np.array([shapes[c.shape].cost for c in columns], dtype=float),
        integrality=np.ones(n_j),
        bounds=Bounds(np.zeros(n_j), ub),
        constraints=[LinearConstraint(np.vstack(rows), np.concatenate(lower), np.concatenate(upper))],
        options={"time_limit": max(0.5, deadline - time.monotonic()), "mip_rel_gap": 0.0},
    )
    timed_out = res.status == 1
    if res.x is None:
        return None, timed_out
    return [int(v) for v in np.rint(res.x)], timed_out
