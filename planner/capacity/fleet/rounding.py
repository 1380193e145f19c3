"""From the linear master to hosts: round down, then pack what is left exactly.

The linear master's solution uses few distinct patterns (at most one per constraint row
is basic), and a fleet holds many hosts of each, so rounding every pattern's count down
keeps almost all of the plan: what it leaves uncovered is at most one host's worth per
basic pattern. That *residual* demand is small, and is packed by a fresh column generation
over it (patterns capped at the residual counts) followed by HiGHS's integer program over
the columns (``scipy.optimize.milp``), the price-and-branch step of [1] on a problem a few
hosts large. Guests are small against hosts, so the plan ends within a host or two of the
linear bound; :func:`cover` reports ``optimal`` only when it meets the proven bound.

References
----------
.. [1] P. H. Vance, "Branch-and-price algorithms for the one-dimensional cutting stock
   problem", Computational Optimization and Applications 9, 1998 (price-and-branch,
   rounding heuristics).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from planner.capacity.fleet.colgen import Column, Generation, cost_step, generate, round_up
from planner.capacity.fleet.model import Catalog, IntArray, Shape, Status
from planner.capacity.fleet.pricing import Pricer
from planner.capacity.highs import milp

#: share of the time left that column generation may use before the rounding
_GENERATION_SHARE = 0.5

#: plans of at most this many of the dearest hosts that miss the bound get more dives and
#: HiGHS's integer program over all the columns
_SMALL_HOSTS = 64

#: seconds HiGHS may take over all the columns of a small plan, each time
_MILP_S = 2.0

#: round-up thresholds of those further dives
_DIVES = (2.0, 0.8, 0.7, 0.9, 0.6, 0.5)

#: when no column of the residual master is at one host or more, those at this value or
#: more are rounded up together (with the one of the largest cost share)
ROUND_UP = 0.8

#: most seconds of column generation per step of the dive
_STEP_S = 2.0

#: a step of the dive stops its column generation when the residual master is within this
#: share of the cheapest host's cost of its bound: closer would not change the plan by a host
GAP_SHARE = 0.5


@dataclass(frozen=True)
class CoverResult:
    """Outcome of :func:`cover`: distinct host patterns with how many hosts of each, and the bounds.

    ``generated``: columns the column generation made (the patterns of the plan are a few).
    """

    status: Status
    columns: tuple[Column, ...]
    multiplicity: tuple[int, ...]
    objective: float
    lower_bound: float
    lp_value: float
    iterations: int
    generated: int
    converged: bool


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
    are returned with status ``time_limit``. The column generation may take
    ``_GENERATION_SHARE`` of the time; the rounding takes the rest. A plan of a few hosts
    that does not meet the bound is also looked for by HiGHS over all the columns.
    """
    if not demand.any():  # nothing to place: no host is the cheapest cover, and it is proven
        return CoverResult("optimal", (), (), 0.0, 0.0, 0.0, 0, 0, True)
    gen = Generation([])
    gen.extend(initial)
    pricers = [Pricer(catalog, s) for s in shapes]
    start = time.monotonic()
    generate(catalog, shapes, demand, gen, pricers, start + _GENERATION_SHARE * (deadline - start))
    if gen.infeasible or gen.master is None:  # proven impossible / no cover found in time
        status: Status = "infeasible" if gen.infeasible else "time_limit"
        bound = math.inf if gen.infeasible else 0.0
        return CoverResult(
            status, (), (), math.inf, bound, math.inf, gen.iterations, len(gen.columns), gen.converged
        )
    step = cost_step(shapes)
    lower = round_up(gen.lower_bound, step)
    if gen.lower_bound > 1e-9:  # every plan costs something: at least the cheapest host that costs
        lower = max(lower, min((s.cost for s in shapes if s.cost > 0), default=0.0))
    gap = GAP_SHARE * min((s.cost for s in shapes if s.cost > 0), default=0.0)
    found = Generation([])
    found.extend(gen.columns)
    plan = round_master(catalog, shapes, demand, gen, pricers, deadline, gap, found=found)
    if gen.master.value <= _SMALL_HOSTS * max(s.cost for s in shapes):
        plan = _small(catalog, shapes, demand, gen, pricers, deadline, plan, lower, found)
    objective = _cost(shapes, plan)
    if plan is not None and objective <= lower + 1e-9 * max(1.0, lower):
        status = "optimal"
    elif gen.timed_out or time.monotonic() >= deadline:
        status = "time_limit"
    else:
        status = "feasible"
    return CoverResult(
        status,
        tuple(c for c, _ in plan or ()),
        tuple(m for _, m in plan or ()),
        objective,
        lower,
        gen.master.value,
        gen.iterations,
        len(gen.columns),
        gen.converged,
    )


def _small(
    catalog: Catalog,
    shapes: Sequence[Shape],
    demand: IntArray,
    gen: Generation,
    pricers: Sequence[Pricer],
    deadline: float,
    plan: list[tuple[Column, int]] | None,
    lower: float,
    found: Generation,
) -> list[tuple[Column, int]] | None:
    """A plan of a few hosts that misses the bound: HiGHS over all the columns so far (those
    of the dives too), then more dives (full column generation in each step, other round-up
    thresholds), each followed by HiGHS again; the cheapest plan wins."""
    tries: list[Callable[[float], list[tuple[Column, int]] | None]] = []

    def milp_try(t: float) -> list[tuple[Column, int]] | None:
        return _integer_plan(found.columns, shapes, demand, min(t, time.monotonic() + _MILP_S))

    def dive(up: float) -> Callable[[float], list[tuple[Column, int]] | None]:
        return lambda t: round_master(catalog, shapes, demand, gen, pricers, t, 0.0, up, found)

    for up in _DIVES:
        tries.append(milp_try)
        tries.append(dive(up))
    for attempt in tries:
        if _cost(shapes, plan) <= lower + 1e-9 * max(1.0, lower) or time.monotonic() >= deadline:
            break
        other = attempt(deadline)
        if _cost(shapes, other) < _cost(shapes, plan):
            plan = other
    return plan


def _integer_plan(
    columns: Sequence[Column], shapes: Sequence[Shape], demand: IntArray, deadline: float
) -> list[tuple[Column, int]] | None:
    mult = integer_master(columns, shapes, demand, deadline)
    if mult is None:
        return None
    return _merged(
        [(Column(c.shape, _capped(c.counts, demand)), m) for c, m in zip(columns, mult, strict=True) if m]
    )


def _cost(shapes: Sequence[Shape], plan: Sequence[tuple[Column, int]] | None) -> float:
    if plan is None:
        return math.inf
    return float(sum(shapes[c.shape].cost * m for c, m in plan))


def round_master(
    catalog: Catalog,
    shapes: Sequence[Shape],
    demand: IntArray,
    gen: Generation,
    pricers: Sequence[Pricer],
    deadline: float,
    gap: float,
    round_up_at: float = ROUND_UP,
    found: Generation | None = None,
) -> list[tuple[Column, int]] | None:
    """Hosts for the demand from the linear master: (pattern, how many) pairs, or None if none found in time.

    A dive ([1] §4, "residual" rounding): the master's counts rounded down are fixed (or,
    when all are below one, the one with the largest cost share is rounded up to one host);
    the demand they leave is re-solved by column generation over patterns capped at it;
    repeat.
    """
    assert gen.master is not None
    plan: list[tuple[Column, int]] = []
    left = demand.copy()
    used = np.zeros(len(shapes), dtype=np.int64)
    master, columns = gen.master, list(gen.columns)
    while left.any():
        if time.monotonic() > deadline:
            return None
        x = np.zeros(len(columns))
        x[: len(master.x)] = master.x
        if round_up_at > 1:  # fix the integral values only; else round up the nearest to its ceiling
            near = np.rint(x)
            step = np.where(np.abs(x - near) < 1e-6, near, 0).astype(np.int64)
            if not step.any():
                frac = np.where(x > 1e-6, x - np.floor(x), -1.0)
                top = int(np.argmax(frac))
                step[top] = np.int64(np.ceil(x[top]))
        else:
            step = np.floor(x + 1e-9).astype(np.int64)
            if not step.any():
                step[int(np.argmax(x * np.array([shapes[c.shape].cost for c in columns])))] = 1
                step[x >= round_up_at] = 1
        for j in np.flatnonzero(step):
            take = _capped(columns[j].counts, left)
            if take.any():
                plan.append((Column(columns[j].shape, take), int(step[j])))
                left = np.maximum(left - columns[j].cover * step[j], 0)
                used[columns[j].shape] += int(step[j])
        if not left.any():
            break
        rest = [_less_available(s, int(used[b])) for b, s in enumerate(shapes)]
        sub = Generation([])
        sub.extend([Column(c.shape, _capped(c.counts, left)) for c in columns])
        generate(catalog, rest, left, sub, pricers, min(deadline, time.monotonic() + _STEP_S), gap=gap)
        if sub.infeasible or sub.master is None:
            return None
        if found is not None:
            found.extend(sub.columns)
        master, columns = sub.master, sub.columns
    return _merged([(Column(c.shape, _capped(c.counts, demand)), m) for c, m in plan])


def _merged(plan: Sequence[tuple[Column, int]]) -> list[tuple[Column, int]]:
    out: dict[tuple[int, bytes], tuple[Column, int]] = {}
    for col, m in plan:
        seen = out.get(col.key())
        out[col.key()] = (col, m + (seen[1] if seen else 0))
    return list(out.values())


def _covered(columns: Sequence[Column], mult: IntArray, n_p: int) -> IntArray:
    out = np.zeros(n_p, dtype=np.int64)
    for col, m in zip(columns, mult, strict=False):
        if m:
            out += col.cover * m
    return out


def _capped(counts: IntArray, left: IntArray) -> IntArray:
    """Counts cut to at most ``left`` guests of each profile (last nodes first)."""
    out = counts.copy()
    excess = out.sum(axis=1) - left
    for k in range(out.shape[1] - 1, -1, -1):
        take = np.minimum(np.maximum(excess, 0), out[:, k])
        out[:, k] -= take
        excess -= take
    return out


def _less_available(shape: Shape, used: int) -> Shape:
    if shape.available is None:
        return shape
    return dataclasses.replace(shape, available=max(0, shape.available - used))


def integer_master(
    columns: Sequence[Column], shapes: Sequence[Shape], demand: IntArray, deadline: float
) -> list[int] | None:
    """Integer multiplicities over the columns (HiGHS ``milp``), or None when none was found in time."""
    from scipy.optimize import Bounds, LinearConstraint

    n_j = len(columns)
    if n_j == 0:
        return None
    a = np.zeros((len(demand), n_j))
    ub = np.zeros(n_j)
    for j, col in enumerate(columns):
        a[:, j] = col.cover
        useful = np.flatnonzero((col.cover > 0) & (demand > 0))
        need = max((math.ceil(demand[p] / col.cover[p]) for p in useful), default=0)
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
        options={"time_limit": max(0.2, deadline - time.monotonic()), "mip_rel_gap": 0.0, "disp": False},
    )
    if res.x is None:
        return None
    return [int(v) for v in np.rint(res.x)]
