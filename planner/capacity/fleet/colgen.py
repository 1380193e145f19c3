"""Column generation over host patterns: the linear master and its proven lower bound.

A *pattern* (column) is one host of one shape with integer guest counts per (profile, node)
that fit its nodes and its host-wide capacities. The master problem chooses how many hosts
of each pattern to use ([1] §3.1 "Fleet sizing", in the pattern form of Gilmore and Gomory
[2]; Vance [3] for the column generation of bin packing):

    minimise   sum_j c_j x_j
    subject to sum_j a_pj x_j >= d_p          every profile p (guests to place)
               sum_{j of shape b} x_j <= U_b   every shape b with a limited number of hosts
               x_j >= 0

Its size depends on the number of profiles and shapes, never on the number of guests.
The linear master is solved by HiGHS (``scipy.optimize.linprog``); its duals ``pi_p`` price
new patterns (:mod:`planner.capacity.fleet.pricing`, dynamic programming per NUMA node). The
node tables start coarse (few cells: fast, patterns a little below the best) and are refined
when no pattern improves at the current resolution.

The lower bound is Lagrangian (valid at every iteration, not only at convergence): for any
``pi >= 0`` and upper bounds ``v_b`` on the pricing optima, ``theta pi`` with
``nu_b = max(0, theta v_b - c_b)`` is dual feasible when ``theta v_b <= c_b`` for every
unlimited shape, so

    LB(theta) = theta sum_p pi_p d_p - sum_{b limited} U_b max(0, theta v_b - c_b)

is a lower bound (Farley [4], extended to limited shapes); it is concave in ``theta`` and
taken at its best breakpoint. When all costs are integers the integer optimum is at least
``ceil(LB)``.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §3.1.
.. [2] P. C. Gilmore, R. E. Gomory, "A linear programming approach to the cutting-stock
   problem", Operations Research 9(6), 1961.
.. [3] P. H. Vance, "Branch-and-price algorithms for the one-dimensional cutting stock
   problem", Computational Optimization and Applications 9, 1998.
.. [4] A. A. Farley, "A note on bounding a class of linear programming problems, including
   cutting stock problems", Operations Research 38(5), 1990.
.. [5] P. Wentges, "Weighted Dantzig-Wolfe decomposition for linear mixed-integer
   programming", International Transactions in Operational Research 4(2), 1997.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from planner.capacity.fleet.exact import price_exactly
from planner.capacity.fleet.model import Catalog, FloatArray, IntArray, Shape
from planner.capacity.fleet.pricing import Pricer

#: table cells per NUMA node for the patterns, coarse to fine: the next level is taken
#: when no pattern improves at the current one (benchmarks/results/fleet-solver.md)
LEVELS = (2**12, 2**14, 2**16)

#: table cells per NUMA node of the bounds proven while the columns are generated
BOUND_LEVEL = 2**16

#: table cells per NUMA node of the final bound (``bound`` rounding, no trace kept)
BOUND_CELLS = 2**20

#: relative slack on reduced costs (duals are floats from HiGHS)
DUAL_TOL = 1e-7

#: most seconds of HiGHS per shape in a round of exact pricing
EXACT_S = 0.2

#: weight of the best-bound duals in the smoothed duals (Wentges [5])
SMOOTHING = 0.5


@dataclass(frozen=True, eq=False)
class Column:
    """One host pattern: ``counts[p, k]`` guests of profile p on node k of shape ``shape``."""

    shape: int
    counts: IntArray
    cover: IntArray = field(init=False, repr=False)  # guests per profile

    def __post_init__(self) -> None:
        object.__setattr__(self, "cover", self.counts.sum(axis=1))

    def key(self) -> tuple[int, bytes]:
        return self.shape, self.counts.tobytes()


@dataclass(frozen=True)
class Master:
    """A solved linear master: value, column values, duals of the covers and of the availabilities."""

    value: float
    x: FloatArray
    pi: FloatArray
    mu: FloatArray  # per shape, <= 0; 0 for unlimited shapes


@dataclass
class Generation:
    """State of one column generation run (mutable while it runs)."""

    columns: list[Column]
    seen: set[tuple[int, bytes]] = field(default_factory=set)
    master: Master | None = None
    lower_bound: float = 0.0
    iterations: int = 0
    level: int = 0
    converged: bool = False
    timed_out: bool = False
    infeasible: bool = False

    def extend(self, new: Sequence[Column]) -> int:
        """Add the columns not seen before; returns how many."""
        added = 0
        for col in new:
            if col.counts.any() and col.key() not in self.seen:
                self.seen.add(col.key())
                self.columns.append(col)
                added += 1
        return added


def generate(
    catalog: Catalog,
    shapes: Sequence[Shape],
    demand: IntArray,
    gen: Generation,
    pricers: Sequence[Pricer],
    deadline: float,
    *,
    gap: float = 0.0,
) -> None:
    """Column generation until no pattern improves at the finest level, the bound is met, or the deadline.

    The bound is met when the master's value is within ``gap`` of it, or (integer costs)
    when both round up to the same multiple of the costs' greatest common divisor.

    Phase 1 (when the columns so far cannot cover the demand) minimises the uncovered guests;
    a positive lower bound on that proves the demand cannot be covered (``gen.infeasible``).
    In phase 2 the pricing uses duals smoothed towards those of the best bound so far
    (Wentges [5]); when they price out no improving pattern the master's own duals are used.
    """
    step = cost_step(shapes)
    phase = 2
    center: Duals | None = None
    while True:
        gen.iterations += 1
        master = master_lp(gen.columns, shapes, demand, phase)
        if master is None:
            phase = 1
            continue
        if phase == 2:
            gen.master = master
        new, last_upper, center = _round(shapes, pricers, master, center, demand, phase, gen)
        if gen.infeasible:
            return
        added = gen.extend(new)
        if phase == 1 and master.value <= 1e-9:  # the columns cover the demand: optimise the cost
            phase = 2
            continue
        if phase == 2 and _met(gen.lower_bound, master.value, step, gap):
            gen.converged = not added
            return
        if time.monotonic() > deadline:
            gen.timed_out = True
            return
        if not added:
            if gen.level + 1 < len(LEVELS) and not _all_exact(pricers, master, demand, LEVELS[gen.level]):
                gen.level += 1
                continue
            if phase == 2 and _worth_exact(master.value, gen.lower_bound, step, pricers, master, demand, gen):
                new, upper = _price_exactly(catalog, shapes, master, demand, deadline)
                lb = lagrangian_bound(shapes, master.pi, demand, np.minimum(upper, last_upper), phase)
                if lb > gen.lower_bound:
                    gen.lower_bound, center = lb, Duals(master.pi, master.mu)
                if gen.extend(new):
                    continue
            if phase == 2:
                gen.converged = True
                return


def _round(
    shapes: Sequence[Shape],
    pricers: Sequence[Pricer],
    master: Master,
    center: Duals | None,
    demand: IntArray,
    phase: int,
    gen: Generation,
) -> tuple[list[Column], FloatArray, Duals | None]:
    """One round of heuristic pricing: improving columns; upper bounds on the pricing optima at
    the master's duals (inf when the last duals tried were smoothed ones); the duals of the
    best bound so far. Updates ``gen.lower_bound`` (phase 2) or ``gen.infeasible`` (phase 1)."""
    own = Duals(master.pi, master.mu)
    tries = [own] if center is None or phase == 1 else [center.towards(own), own]
    tries.append(own)  # the last try prices deeper (exchange search, node tables for the bound)
    new: list[Column] = []
    upper = np.full(len(shapes), np.inf)
    for i, duals in enumerate(tries):
        deep = i == len(tries) - 1
        new, upper = _price(shapes, pricers, duals, master, demand, phase, LEVELS[gen.level], deep)
        if deep:
            upper = np.minimum(upper, bounds(shapes, pricers, duals.pi, demand, BOUND_LEVEL))
        lb = lagrangian_bound(shapes, duals.pi, demand, upper, phase)
        if phase == 1 and lb > 1e-6:
            gen.infeasible = True
            return [], upper, center
        if phase == 2 and lb > gen.lower_bound:
            gen.lower_bound, center = lb, duals
        if new:
            break
    if duals.pi is not master.pi:  # the bounds are for the smoothed duals, not the master's
        upper = np.full(len(shapes), np.inf)
    return new, upper, center


def _worth_exact(
    value: float,
    bound: float,
    step: float,
    pricers: Sequence[Pricer],
    master: Master,
    demand: IntArray,
    gen: Generation,
) -> bool:
    """Whether a round of exact pricing may raise the bound: the heuristics' tables are not
    exact, and the master's value is more than one step of the costs above the bound (within
    one step, the rounded bound rises by one step at most)."""
    if _all_exact(pricers, master, demand, LEVELS[gen.level]):
        return False
    return value - bound > (step if step > 0 else 1e-6 * max(1.0, abs(value)))


def _price_exactly(
    catalog: Catalog, shapes: Sequence[Shape], master: Master, demand: IntArray, deadline: float
) -> tuple[list[Column], FloatArray]:
    """Improving columns from HiGHS's pricing (:mod:`planner.capacity.fleet.exact`), and upper
    bounds on the pricing optima (inf for a shape it had no time for)."""
    new: list[Column] = []
    upper = np.full(len(shapes), np.inf)
    for b, shape in enumerate(shapes):
        if shape.available == 0:
            upper[b] = 0.0
            continue
        seconds = min(EXACT_S, deadline - time.monotonic())
        if seconds <= 0:
            continue
        priced = price_exactly(catalog, shape, master.pi, demand, seconds)
        upper[b] = priced.upper
        threshold = shape.cost - master.mu[b]
        if priced.counts is not None and priced.value > threshold + DUAL_TOL * max(1.0, abs(threshold)):
            new.append(Column(b, priced.counts))
    return new, upper


def cost_step(shapes: Sequence[Shape]) -> float:
    """Greatest common divisor of the shapes' costs when all are integers (every plan costs a
    multiple of it), else 0."""
    costs = [s.cost for s in shapes if s.cost > 0]
    if not costs or not all(float(c).is_integer() for c in costs):
        return 0.0
    return float(math.gcd(*(int(c) for c in costs)))


def round_up(bound: float, step: float) -> float:
    """A lower bound rounded up to the next multiple of ``step`` (no rounding when ``step`` is 0)."""
    if step <= 0:
        return bound
    return step * math.ceil(bound / step - 1e-9)


def _met(bound: float, value: float, step: float, gap: float) -> bool:
    if value - bound <= gap + 1e-9 * max(1.0, abs(value)):
        return True
    return step > 0 and round_up(bound, step) >= round_up(value, step)


@dataclass(frozen=True)
class Duals:
    """Duals to price with: of the covers (``pi``) and of the availabilities (``mu``, <= 0)."""

    pi: FloatArray
    mu: FloatArray

    def towards(self, other: Duals) -> Duals:
        """The smoothed duals ``a self + (1 - a) other`` (Wentges [5])."""
        a = SMOOTHING
        return Duals(a * self.pi + (1 - a) * other.pi, a * self.mu + (1 - a) * other.mu)


def _all_exact(pricers: Sequence[Pricer], master: Master, demand: IntArray, cells: int) -> bool:
    return all(p.is_exact(master.pi, demand, cells) for p in pricers)


def _price(
    shapes: Sequence[Shape],
    pricers: Sequence[Pricer],
    duals: Duals,
    master: Master,
    demand: IntArray,
    phase: int,
    cells: int,
    deep: bool,
) -> tuple[list[Column], FloatArray]:
    """Columns priced at ``duals`` that improve the master, and upper bounds on the pricing optima.

    ``deep`` adds the exchange search for the shapes whose bound leaves room for an
    improving pattern.
    """
    new: list[Column] = []
    upper = np.full(len(shapes), np.inf)
    for b, (shape, pricer) in enumerate(zip(shapes, pricers, strict=True)):
        if shape.available == 0:
            upper[b] = 0.0
            continue
        threshold = (shape.cost if phase == 2 else 0.0) - master.mu[b]
        own = duals.pi is master.pi
        priced = pricer.price(duals.pi, demand, cells, threshold=threshold if own else -np.inf, deep=deep)
        upper[b] = priced.upper
        for counts in priced.columns:
            if float(master.pi @ counts.sum(axis=1)) > threshold + DUAL_TOL * max(1.0, abs(threshold)):
                new.append(Column(b, counts))
    return new, upper


def bounds(
    shapes: Sequence[Shape], pricers: Sequence[Pricer], pi: FloatArray, demand: IntArray, cells: int
) -> FloatArray:
    """Upper bounds on every shape's pricing optimum from node tables of ``cells`` cells."""
    return np.array(
        [
            0.0 if s.available == 0 else p.bound(pi, demand, cells)
            for s, p in zip(shapes, pricers, strict=True)
        ]
    )


def lagrangian_bound(
    shapes: Sequence[Shape], pi: FloatArray, demand: IntArray, upper: FloatArray, phase: int
) -> float:
    """Lower bound on the full master from any duals ``pi`` (module docstring; [4])."""
    cost = np.array([s.cost if phase == 2 else 0.0 for s in shapes])
    limited = np.array([s.available is not None for s in shapes])
    if not np.isfinite(upper).all():
        return 0.0
    theta_max = 1.0 if phase == 1 else np.inf
    for b in np.flatnonzero(~limited & (upper > 0)):
        theta_max = min(theta_max, cost[b] / upper[b])
    u = np.array([s.available or 0 for s in shapes], dtype=float)
    candidates = {0.0, min(1.0, theta_max)}
    if np.isfinite(theta_max):
        candidates.add(theta_max)
    for b in np.flatnonzero(limited & (upper > 0)):
        if cost[b] / upper[b] <= theta_max:
            candidates.add(cost[b] / upper[b])
    best = 0.0
    for theta in candidates:
        penalty = float((u * np.maximum(0.0, theta * upper - cost))[limited].sum())
        best = max(best, theta * float(pi @ demand) - penalty)
    return best


def master_lp(
    columns: Sequence[Column], shapes: Sequence[Shape], demand: IntArray, phase: int
) -> Master | None:
    """The linear master over the columns so far; phase 1 minimises the uncovered guests."""
    from scipy.optimize import linprog

    n_p, n_j = len(demand), len(columns)
    if n_j == 0 and phase == 2:
        return None
    a = np.zeros((n_p, n_j))
    for j, col in enumerate(columns):
        a[:, j] = col.cover
    limited = [b for b, s in enumerate(shapes) if s.available is not None]
    avail = np.zeros((len(limited), n_j))
    shape_of = np.array([c.shape for c in columns], dtype=np.int64)
    for i, b in enumerate(limited):
        avail[i] = shape_of == b
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
        mu[b] = min(0.0, marg[n_p + i])
    return Master(float(res.fun), np.asarray(res.x[:n_j], dtype=float), np.maximum(-marg[:n_p], 0.0), mu)
