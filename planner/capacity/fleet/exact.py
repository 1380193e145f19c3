"""Pricing by HiGHS's integer program: the columns the heuristics miss, and a bound from its search.

The heuristic pricing (:mod:`planner.capacity.fleet.pricing`) packs nodes on a grid and
repairs; near the end of a column generation the improving patterns are worth a few parts in
ten thousand more than the cost, less than what the grid loses, and the heuristics stop
finding them while the master's value is still above its optimum (the tail of [1]). The
pricing program itself (the integer program of the pricing module's docstring) is small,
profiles x nodes integer variables and one row per node resource and per host resource, and
HiGHS (``scipy.optimize.milp``) finds near-optimal patterns in a fraction of a second; its
dual bound is an upper bound on the pricing optimum for Farley's bound ([2]) even when the
search stops at its time limit.

Identical nodes make the search symmetric: swapping their loads changes nothing. Each group
of identical nodes is ordered by its first node resource's load (a valid cut: any pattern has
a copy with the loads in that order).

References
----------
.. [1] M. E. Lübbecke, J. Desrosiers, "Selected topics in column generation", Operations
   Research 53(6), 2005 (tailing off).
.. [2] A. A. Farley, "A note on bounding a class of linear programming problems, including
   cutting stock problems", Operations Research 38(5), 1990.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.capacity.fleet.model import (
    Catalog,
    FloatArray,
    IntArray,
    Shape,
    alone_per_host,
    alone_per_node,
    fits,
    pattern_rows,
)
from planner.capacity.fleet.patterns import VALUE_TOL
from planner.capacity.highs import milp

#: relative gap HiGHS may stop at: below what separates an improving pattern from the cost
REL_GAP = 1e-5


@dataclass(frozen=True)
class ExactPriced:
    """A pattern (profiles x nodes; None if HiGHS found none in time) and an upper bound on the optimum."""

    counts: IntArray | None
    value: float
    upper: float


def price_exactly(
    catalog: Catalog, shape: Shape, pi: FloatArray, caps: IntArray, seconds: float
) -> ExactPriced:
    """The most valuable host pattern for duals ``pi`` (at most ``caps`` of each profile), by HiGHS."""
    from scipy.optimize import Bounds, LinearConstraint

    n_p, n_k = catalog.size, len(shape.node_ids)
    value = np.where(pi > VALUE_TOL, pi, 0.0)
    host_most = np.minimum(alone_per_host(shape.host_capacity, catalog), caps)
    ub = np.minimum(alone_per_node(shape.node_capacity, catalog), host_most[:, None]).astype(float)
    ub[value <= 0] = 0.0
    rows, lower, upper = _rows(catalog, shape)
    rows = np.vstack([rows, np.kron(np.eye(n_p), np.ones((1, n_k)))])  # at most caps[p] over the nodes
    lower = np.concatenate([lower, np.full(n_p, -np.inf)])
    upper = np.concatenate([upper, caps.astype(float)])
    res = milp(
        -np.repeat(value, n_k),
        integrality=np.ones(n_p * n_k),
        bounds=Bounds(np.zeros(n_p * n_k), ub.ravel()),
        constraints=[LinearConstraint(rows, lower, upper)],
        options={"time_limit": max(0.05, seconds), "mip_rel_gap": REL_GAP, "disp": False},
    )
    bound = getattr(res, "mip_dual_bound", None)
    top = np.inf if bound is None or not np.isfinite(bound) else -float(bound) * (1 + 1e-9) + 1e-12
    if res.x is None:
        return ExactPriced(None, 0.0, top)
    counts: IntArray = np.rint(res.x).astype(np.int64).reshape(n_p, n_k)
    if not fits(counts, shape, catalog):  # HiGHS's tolerances: never hand on an infeasible pattern
        return ExactPriced(None, 0.0, top)
    return ExactPriced(counts, float(pi @ counts.sum(axis=1)), max(top, float(pi @ counts.sum(axis=1))))


def _rows(catalog: Catalog, shape: Shape) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The pattern's rows and the order cuts of identical nodes, with their lower and upper sides."""
    n_p, n_k = catalog.size, len(shape.node_ids)
    fixed, top, _ = pattern_rows(catalog, shape)
    rows = list(fixed)
    upper = list(top)
    lower = [-np.inf] * len(rows)
    if len(catalog.node_resources):
        for k in range(n_k - 1):
            if (shape.node_capacity[k] == shape.node_capacity[k + 1]).all():
                row = np.zeros((n_p, n_k))
                row[:, k] = catalog.node_demand[:, 0]
                row[:, k + 1] = -catalog.node_demand[:, 0]
                rows.append(row.ravel())
                lower.append(0.0)
                upper.append(np.inf)
    return np.array(rows).reshape(len(rows), n_p * n_k), np.array(lower), np.array(upper)
