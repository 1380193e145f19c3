"""Bounded integer knapsack over a grid of node resources, by dynamic programming (numpy).

One NUMA node's share of a pricing problem: ``max sum_p u_p n_p`` subject to
``sum_p d_pr n_p <= C_r`` for every node resource r and ``0 <= n_p <= m_p``. The demands
are put on a grid of *grains* ``g_r`` so that the table ``prod_r (C_r // g_r + 1)`` stays
within a cell budget; the table is filled item by item, each item's bound split into pieces
1, 2, 4, ... (binary splitting: the pieces add up to every count up to the bound, so each
piece is a 0/1 item), each piece one shifted ``maximum`` over the whole table ([1] §7.1).

Rounding decides what the answer means ([2], the usual scaling argument):

* ``mode="column"``: demands rounded *up* to the grain, ``ceil(d/g)``; a counts vector that
  fits the grid fits the node exactly (``sum n ceil(d/g) <= C//g`` implies ``sum n d <= C``),
  so every answer is a truly feasible node load;
* ``mode="bound"``: demands rounded *down*, ``floor(d/g)``; every truly feasible load fits the
  grid (``sum n floor(d/g) <= sum n d / g <= C / g``, and the left side is an integer), so
  the table's optimum is an upper bound on the true one.

With a grain that divides every demand (their greatest common divisor) both are exact.

References
----------
.. [1] H. Kellerer, U. Pferschy, D. Pisinger, *Knapsack Problems*, Springer 2004, §7.1
   (bounded knapsack: binary splitting of the bounds).
.. [2] O. H. Ibarra, C. E. Kim, "Fast approximation algorithms for the knapsack and sum of
   subset problems", J. ACM 22(4), 1975 (scaling of weights).
.. [3] E. Falkenauer, "A hybrid grouping genetic algorithm for bin packing", Journal of
   Heuristics 2, 1996 (the "triplet" instances, each bin filled exactly by three items).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

Mode = Literal["column", "bound"]


@dataclass(frozen=True, eq=False)
class Grid:
    """Grains and grid capacities of one node: ``grain[r]`` and ``size[r] = capacity[r] // grain[r]``.

    ``exact``: every grain divides every demand, so both rounding modes are exact.
    """

    grain: IntArray
    size: IntArray
    exact: bool

    @property
    def cells(self) -> int:
        return int(np.prod(self.size + 1))


#: an exact table (grains = greatest common divisors) of at most this many cells is used
#: whatever the budget asked for: exact patterns matter most on small grids (bins that
#: three items fill exactly, [3])
EXACT_CELLS = 2**16


def grid_of(demand: IntArray, capacity: IntArray, cells: int) -> Grid:
    """Grains for demands ``demand[p, r]`` on a node of ``capacity[r]`` within ``cells`` table cells.

    Starts from each resource's greatest common divisor (exact) and, unless that table has
    at most :data:`EXACT_CELLS` cells, doubles the grain of the resource with the most grid
    points until the table fits the budget.
    """
    grain = np.ones(len(capacity), dtype=np.int64)
    for r in range(len(capacity)):
        used = demand[:, r][demand[:, r] > 0]
        grain[r] = max(1, int(np.gcd.reduce(used))) if len(used) else max(1, int(capacity[r]))
    exact_grain = grain.copy()
    size = np.maximum(capacity, 0) // grain
    if int(np.prod(size + 1)) <= EXACT_CELLS:
        cells = EXACT_CELLS
    while int(np.prod(size + 1)) > cells:
        r = int(np.argmax(size))
        grain[r] *= 2
        size[r] = max(0, int(capacity[r])) // grain[r]
    exact = bool((grain == exact_grain).all())
    return Grid(grain, size, exact)


def weights_on(grid: Grid, demand: IntArray, mode: Mode) -> IntArray:
    """Demands in grains: rounded up (``column``) or down (``bound``)."""
    if mode == "column":
        out: IntArray = -(-demand // grid.grain)
    else:
        out = demand // grid.grain
    return out


@dataclass(frozen=True, eq=False)
class Table:
    """A filled table: ``value`` at full capacity, and what :func:`solution` needs to trace it back."""

    value: float
    weights: IntArray
    values: FloatArray
    bounds: IntArray
    snapshots: tuple[FloatArray, ...]


def fill(weights: IntArray, values: FloatArray, bounds: IntArray, size: IntArray, *, trace: bool) -> Table:
    """Best ``sum values[i] n_i`` with ``sum weights[i] n_i <= size`` and ``0 <= n_i <= bounds[i]``.

    Items with value <= 0 or bound 0 should be left out by the caller. With ``trace`` the
    table after each item is kept so that :func:`solution` can recover the counts.
    """
    dp = np.zeros(tuple(int(s) + 1 for s in size))
    snapshots: list[FloatArray] = []
    alone = largest_bound(weights, size)
    for i in range(len(values)):
        w, v = weights[i], float(values[i])
        axis = _single_axis(w)
        if axis >= 0 and bounds[i] >= alone[i]:
            _unbounded(dp, axis, int(w[axis]), v)
            if trace:
                snapshots.append(dp.copy())
            continue
        left, piece = int(bounds[i]), 1
        while left > 0:
            t = min(piece, left)
            left -= t
            piece *= 2
            shift = t * w
            dst = tuple(slice(int(s), None) for s in shift)
            src = tuple(slice(0, int(n) + 1 - int(s)) for n, s in zip(size, shift, strict=True))
            np.maximum(dp[dst], dp[src] + t * v, out=dp[dst])
        if trace:
            snapshots.append(dp.copy())
    return Table(float(dp[tuple(size)]), weights, values, bounds, tuple(snapshots))


#: chains of at most this many steps are run row by row (numpy's accumulate strides across rows)
_ROW_LOOP = 256


def _single_axis(w: IntArray) -> int:
    """The one grid axis an item's weight uses, or -1 (several, or none)."""
    used = np.flatnonzero(w > 0)
    return int(used[0]) if len(used) == 1 else -1


def _unbounded(dp: FloatArray, axis: int, w: int, v: float) -> None:
    """Add an item of weight ``w`` along ``axis`` and no bound of its own, in place, in one pass.

    Along the axis, cells that differ by a multiple of ``w`` form chains; on a chain
    ``new[j] = max_{i <= j} (dp[i] - i v) + j v`` ([1] §7.1, the unbounded recurrence as a
    running maximum), so the pass costs one sweep of the table whatever the item's count.
    """
    moved = np.moveaxis(dp, axis, 0)
    rows, rest = divmod(moved.shape[0], w)
    if rows == 0:
        return
    body = moved[: rows * w].reshape(rows, w, *moved.shape[1:])
    steps = (np.arange(rows) * v).reshape(rows, *([1] * (body.ndim - 1)))
    body -= steps
    if rows <= _ROW_LOOP:  # a few long rows: row by row runs along memory
        for j in range(1, rows):
            np.maximum(body[j], body[j - 1], out=body[j])
    else:
        np.maximum.accumulate(body, axis=0, out=body)
    body += steps
    if rest:  # the partial last row: one step past the chains' last full row
        tail = moved[rows * w :]
        np.maximum(tail, body[-1, :rest] + v, out=tail)


def solution(table: Table, size: IntArray, items: int | None = None) -> IntArray:
    """Counts per item of the table's optimum at ``size`` (needs ``trace=True``).

    ``items``: trace the optimum over the first ``items`` items only (the table as it was
    before the later ones were added).
    """
    counts = np.zeros(len(table.values), dtype=np.int64)
    at = [int(v) for v in size]
    last = len(table.values) if items is None else items
    for i in range(last - 1, -1, -1):
        w = [int(v) for v in table.weights[i]]
        most = int(table.bounds[i])
        for a, wr in zip(at, w, strict=True):
            if wr > 0:
                most = min(most, a // wr)
        if most <= 0:
            continue
        if i == 0:
            best = most  # the first item alone: as many as fit (values are > 0)
        else:
            before = _back(table.snapshots[i - 1], at, w, most)
            best = int(np.argmax(before + np.arange(most + 1) * table.values[i]))
        counts[i] = best
        at = [a - best * wr for a, wr in zip(at, w, strict=True)]
    return counts


def _back(snapshot: FloatArray, at: list[int], w: list[int], most: int) -> FloatArray:
    """``snapshot[at - n w]`` for n = 0 .. most (a strided slice on a one-dimensional table)."""
    if len(at) == 1:
        a, wr = at[0], w[0]
        if wr == 0:
            return np.full(most + 1, snapshot[a])
        out: FloatArray = snapshot[a - most * wr : a + 1 : wr][::-1]
        return out
    n = np.arange(most + 1)
    return snapshot[tuple(a - n * wr for a, wr in zip(at, w, strict=True))]


def largest_bound(weights: IntArray, size: IntArray) -> IntArray:
    """Most copies of each item the grid holds alone: ``min_r size_r // w_r`` (inf-free)."""
    big = np.iinfo(np.int64).max // 4
    with np.errstate(divide="ignore"):
        ratio = np.where(weights > 0, size[None, :] // np.maximum(weights, 1), big)
    out: IntArray = ratio.min(axis=1) if weights.shape[1] else np.full(len(weights), big)
    return out
