"""Pricing for column generation: the most valuable host of one shape for given duals.

The pricing problem of a shape ([1] §3.1 per host, with NUMA nodes) is

    max  sum_p pi_p sum_k a_pk
    s.t. sum_p d_pr a_pk <= C_kr      every node k and node resource r (memory, hugepages)
         sum_p e_ps sum_k a_pk <= H_s  every host resource s (vCPUs)
         0 <= a_pk integer,  sum_k a_pk <= caps_p.

The host-wide rows are the only ones that tie the nodes together, so they are relaxed in
the Lagrangian way ([2]): with multipliers ``lambda = t * w`` (``w_s = 1 / H_s``, one scalar
``t >= 0``) the problem splits into one integer knapsack per node with values
``pi_p - lambda . e_p`` (:mod:`planner.capacity.fleet.knapsack`), and for every ``t``

    L(t) = sum_k K_k(pi - t w.e) + t w.H  >=  the pricing optimum

when the node knapsacks are solved in the ``bound`` rounding. Identical nodes share one
table. ``t`` is searched by bisection between a value whose node optima overrun a host
resource and one whose do not (``L`` is convex in ``t``); the host patterns come from the
``column`` rounding (always truly feasible): the node optima at the two ends, mixed node by
node, cut back to the host capacities (least value per vCPU first) and then filled greedily
with the exact free capacity.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §3.1.
.. [2] M. L. Fisher, "The Lagrangian relaxation method for solving integer programming
   problems", Management Science 27(1), 1981.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from planner.capacity.fleet.anchored import NodeTable, anchored
from planner.capacity.fleet.knapsack import Grid, Mode, fill, grid_of, largest_bound, solution, weights_on
from planner.capacity.fleet.model import (
    Catalog,
    FloatArray,
    IntArray,
    Shape,
    alone_per_host,
    alone_per_node,
    pattern_rows,
)
from planner.capacity.fleet.patterns import VALUE_TOL, HostKit, value_of

#: anchor totals tried below the relaxation's, in steps (:mod:`planner.capacity.fleet.anchored`)
_BELOW = 8
_BELOW_STEP = 2


@dataclass
class Priced:
    """Outcome of one pricing: feasible host patterns (profiles x nodes), best first.

    ``upper`` is a proven upper bound on the optimum.
    """

    columns: list[IntArray]
    best: float
    upper: float


@dataclass(frozen=True, eq=False)
class _Group:
    capacity: IntArray  # node resources
    nodes: tuple[int, ...]  # positions in the shape's nodes


@dataclass(frozen=True)
class _Relaxation:
    value: float  # optimum of the linear relaxation: an upper bound
    counts: IntArray  # its counts rounded down
    fractional: tuple[tuple[int, int], ...]  # (profile, node) of the counts that were fractional
    total: FloatArray  # per profile, over the nodes (not rounded)
    multiplier: FloatArray  # duals of the host-wide rows (0 where a row is not there)


@dataclass
class Pricer:
    """Pricing of one shape; keeps the grids and the relaxation's constraint matrix it built."""

    catalog: Catalog
    shape: Shape
    groups: tuple[_Group, ...] = field(init=False)
    _grids: dict[tuple[int, tuple[int, ...], int], Grid] = field(default_factory=dict)
    _rows: tuple[FloatArray, FloatArray, IntArray] | None = None
    _last: tuple[tuple[bytes, bytes], _Relaxation | None] | None = None
    _kit: HostKit = field(init=False)
    _bounds_memo: dict[tuple[int, bytes], IntArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rows: dict[bytes, list[int]] = {}
        for k in range(len(self.shape.node_ids)):
            rows.setdefault(self.shape.node_capacity[k].tobytes(), []).append(k)
        self.groups = tuple(_Group(self.shape.node_capacity[ks[0]], tuple(ks)) for ks in rows.values())
        self._kit = HostKit(self.catalog, self.shape)

    def price(
        self, pi: FloatArray, caps: IntArray, cells: int, *, threshold: float = -np.inf, deep: bool = False
    ) -> Priced:
        """Best host patterns for the duals ``pi``, at most ``caps`` guests of each profile.

        The linear relaxation gives a bound, its counts rounded (down, and each fractional
        count up in turn), and the multipliers of the host-wide rows; the node knapsacks are
        solved at those multipliers on tables of ``cells`` cells (a bound too when the tables
        are exact). Each candidate is repaired and filled; ``deep`` adds the exchange search
        (:func:`planner.capacity.fleet.patterns.improve`) on the best of them. When the
        relaxation proves no pattern worth more than ``threshold``, none is searched.
        """
        relaxed = self._relaxed(pi, caps)
        if relaxed is not None and relaxed.value <= threshold:
            return Priced([], 0.0, relaxed.value)
        lam = relaxed.multiplier if relaxed is not None else np.zeros(len(self.catalog.host_resources))
        anchor = self._anchor(relaxed)
        value, counts, tables = self._evaluate(pi, caps, cells, lam, "column", anchor)
        candidates = [counts]
        if anchor >= 0:
            near = int(np.floor(relaxed.total[anchor] + 1e-9))  # type: ignore[union-attr]
            totals = [int(counts[anchor].sum()), *range(near, near - _BELOW - 1, -_BELOW_STEP)]
            candidates.extend(anchored(self.catalog, self.shape, pi, caps, lam, anchor, tables, totals))
        upper = np.inf
        if relaxed is not None:
            upper = relaxed.value
            candidates.append(relaxed.counts)
            for p, k in relaxed.fractional:
                up = relaxed.counts.copy()
                up[p, k] += 1
                candidates.append(up)
        if self.is_exact(pi, caps, cells):
            upper = min(upper, value)
        return self._result(candidates, pi, caps, upper, deep)

    def bound(self, pi: FloatArray, caps: IntArray, cells: int) -> float:
        """An upper bound on the pricing optimum that sees the integrality of each node.

        The node knapsacks in the ``bound`` rounding on tables of ``cells`` cells, at the
        relaxation's multipliers ([2]: any multipliers >= 0 give a bound), or the
        relaxation's own value when that is lower.
        """
        relaxed = self._relaxed(pi, caps)
        lam = relaxed.multiplier if relaxed is not None else np.zeros(len(self.catalog.host_resources))
        mode: Mode = "column" if self.is_exact(pi, caps, cells) else "bound"
        value = self._evaluate(pi, caps, cells, lam, mode)[0] * (1 + 1e-9)
        return value if relaxed is None else min(value, relaxed.value)

    def _anchor(self, relaxed: _Relaxation | None) -> int:
        """The profile the host-wide multipliers weigh most per unit of node capacity, among those
        the relaxation uses; -1 when no host-wide capacity binds."""
        if relaxed is None or not (relaxed.multiplier > 0).any():
            return -1
        used = np.flatnonzero(relaxed.total > 1e-9)
        if not len(used):
            return -1
        node_share = (self.catalog.node_demand / np.maximum(self.shape.node_capacity.max(axis=0), 1)).sum(
            axis=1
        )
        density = (self.catalog.host_demand @ relaxed.multiplier) / np.maximum(node_share, 1e-12)
        return int(used[np.argmax(density[used])])

    def _relaxed(self, pi: FloatArray, caps: IntArray) -> _Relaxation | None:
        key = (pi.tobytes(), caps.tobytes())
        if self._last is None or self._last[0] != key:
            self._last = (key, self._relaxation(pi, caps))
        return self._last[1]

    def _relaxation(self, pi: FloatArray, caps: IntArray) -> _Relaxation | None:
        """The pricing program's linear relaxation (HiGHS): value, counts rounded down, host multipliers.

        Rounding down loses at most one fractional count per constraint row, and
        :func:`fill_greedily` takes some of that back.
        """
        from scipy.optimize import linprog

        a_ub, b_fixed, host_rows = self._matrix()
        n_p, n_k = self.catalog.size, len(self.shape.node_ids)
        b_ub = np.concatenate([b_fixed, caps.astype(float)])
        value = np.repeat(np.where(pi > VALUE_TOL, pi, 0.0), n_k)
        res = linprog(-value, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        if res.status != 0:
            return None
        lam = np.zeros(len(self.catalog.host_resources))
        marg = np.asarray(res.ineqlin.marginals, dtype=float)
        for i, s in enumerate(host_rows):
            lam[s] = max(0.0, -marg[len(b_fixed) - len(host_rows) + i])
        x = res.x.reshape(n_p, n_k)
        counts: IntArray = np.floor(x + 1e-9).astype(np.int64)
        fractional = tuple((int(p), int(k)) for p, k in np.argwhere(x - counts > 1e-6))
        return _Relaxation(-float(res.fun) * (1 + 1e-9), counts, fractional, x.sum(axis=1), lam)

    def _matrix(self) -> tuple[FloatArray, FloatArray, IntArray]:
        """Rows of the relaxation: node rows, host rows, then one cap row per profile."""
        if self._rows is None:
            n_p = self.catalog.size
            fixed, upper, host_rows = pattern_rows(self.catalog, self.shape)
            cap_rows = np.kron(np.eye(n_p), np.ones((1, len(self.shape.node_ids))))
            self._rows = (np.vstack([fixed, cap_rows]), upper, host_rows)
        return self._rows

    def _bounds(self, caps: IntArray, g: int) -> IntArray:
        """Most guests of each profile on one node of group ``g``, alone and within the host."""
        key = (g, caps.tobytes())
        if key not in self._bounds_memo:
            node = alone_per_node(self.groups[g].capacity[None, :], self.catalog)[:, 0]
            host = alone_per_host(self.shape.host_capacity, self.catalog)
            self._bounds_memo[key] = np.minimum(
                np.minimum(node, np.minimum(host, 2**40)).astype(np.int64), caps
            )
        return self._bounds_memo[key]

    def _dims(self, items: IntArray, bounds: IntArray, capacity: IntArray) -> tuple[int, ...]:
        """Node resources that can bind for these items (used by one, and over capacity at the bounds)."""
        d = self.catalog.node_demand[items]
        most = bounds[items] @ d
        return tuple(int(r) for r in np.flatnonzero((d > 0).any(axis=0) & (most > capacity)))

    def _grid(self, g: int, dims: tuple[int, ...], cells: int) -> Grid:
        key = (g, dims, cells)
        if key not in self._grids:
            cap = self.groups[g].capacity[list(dims)]
            self._grids[key] = grid_of(self.catalog.node_demand[:, list(dims)], cap, cells)
        return self._grids[key]

    def is_exact(self, pi: FloatArray, caps: IntArray, cells: int) -> bool:
        """Whether the grids are exact (then the ``column`` rounding is a bound too)."""
        for g, group in enumerate(self.groups):
            bounds = self._bounds(caps, g)
            items = np.flatnonzero((pi > VALUE_TOL) & (bounds > 0))
            dims = self._dims(items, bounds, group.capacity)
            if dims and not self._grid(g, dims, cells).exact:
                return False
        return True

    def _evaluate(
        self, pi: FloatArray, caps: IntArray, cells: int, lam: FloatArray, mode: Mode, anchor: int = -1
    ) -> tuple[float, IntArray, list[NodeTable]]:
        """``L(lam)`` in one rounding; in the ``column`` rounding also the node optima as host
        counts and the traced tables, with profile ``anchor`` (if any) as their last item."""
        u = pi - self.catalog.host_demand @ lam
        h = self.shape.host_capacity
        total = float(lam @ np.where(np.isfinite(h), h, 0.0))
        counts = np.zeros((self.catalog.size, len(self.shape.node_ids)), dtype=np.int64)
        tables: list[NodeTable] = []
        for g, group in enumerate(self.groups):
            bounds = self._bounds(caps, g)
            items = np.flatnonzero((u > VALUE_TOL) & (bounds > 0))
            items = np.concatenate([items[items != anchor], items[items == anchor]])
            dims = self._dims(items, bounds, group.capacity)
            if not dims:
                n = bounds[items]
                value = float(u[items] @ n)
            else:
                grid = self._grid(g, dims, cells)
                w = weights_on(
                    grid, self.catalog.node_demand[np.ix_(items, np.array(dims, dtype=np.int64))], mode
                )
                m = np.minimum(bounds[items], largest_bound(w, grid.size))
                keep = m > 0
                items, w, m = items[keep], w[keep], m[keep]
                table = fill(w, u[items], m, grid.size, trace=mode == "column")
                value = table.value
                n = solution(table, grid.size) if mode == "column" else m
                if mode == "column":
                    tables.append(NodeTable(group.nodes, items, table, grid))
            total += value * len(group.nodes)
            for k in group.nodes:
                counts[items, k] = n
        return total, counts, tables

    def _result(
        self, candidates: Sequence[IntArray], pi: FloatArray, caps: IntArray, upper: float, deep: bool
    ) -> Priced:
        out: dict[bytes, tuple[float, IntArray]] = {}
        seen: set[bytes] = set()
        for counts in candidates:
            if counts.tobytes() in seen:
                continue
            seen.add(counts.tobytes())
            col = self._kit.complete(pi, caps, counts)
            if col.any():
                out.setdefault(col.tobytes(), (value_of(pi, col), col))
        ranked = sorted(out.values(), key=lambda vc: -vc[0])
        if deep and ranked:
            col = self._kit.improve(pi, caps, ranked[0][1])
            if col.tobytes() not in out:
                ranked.insert(0, (value_of(pi, col), col))
        best = ranked[0][0] if ranked else 0.0
        return Priced([c for _, c in ranked], best, max(upper, best))
