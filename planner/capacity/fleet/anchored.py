"""Host patterns around one *anchor* profile: its count per node enumerated, the rest by the node tables.

The Lagrangian node optima (:mod:`planner.capacity.fleet.pricing`) price the host-wide
capacity (vCPUs) at one multiplier, so their node loads lie on the concave envelope of the
node's value against its vCPUs; the best host often mixes loads off that envelope: one node
heavy in the small vCPU-dense guests, the other filled with large ones, summing to exactly
the host's vCPUs. Those are found here. The anchor is the profile the relaxation uses that
is densest in the host-wide resources; it is put last in each node table, so the table
before it gives, for every remaining capacity, the best load of the other profiles ("the
fillers"). For each node and each anchor count ``s`` the value ``u_a s + T(C - s d_a)``
is read off the table; the nodes are combined by a max-plus convolution over the total
anchor count ``n`` (kept within the host's capacities and the cap), and the best few totals
are traced back to counts. This is the classical "enumerate one variable, solve the rest by
dynamic programming" decomposition of two-constraint knapsacks ([1] §9.3.2).

References
----------
.. [1] H. Kellerer, U. Pferschy, D. Pisinger, *Knapsack Problems*, Springer 2004, §9.3.2
   (two-constraint knapsack: dynamic programming over one constraint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.capacity.fleet.knapsack import Grid, Table, solution
from planner.capacity.fleet.model import FLOAT_SLACK, Catalog, FloatArray, IntArray, Shape


@dataclass(frozen=True, eq=False)
class NodeTable:
    """A traced node table of one group of identical nodes: its items (profiles, in table order)."""

    nodes: tuple[int, ...]
    items: IntArray
    table: Table
    grid: Grid


def anchored(
    catalog: Catalog,
    shape: Shape,
    pi: FloatArray,
    caps: IntArray,
    lam: FloatArray,
    anchor: int,
    tables: Sequence[NodeTable],
    totals: Sequence[int],
) -> list[IntArray]:
    """Host counts (profiles x nodes) for the given anchor totals; nodes without a table keep none.

    The callers pass the Lagrangian optimum's total and those just below the relaxation's:
    freeing a few vCPUs there lets the fillers pack the nodes' memory (the integer optimum
    sits a few guests below the relaxation's count).
    """
    nodes: list[tuple[int, NodeTable]] = [(k, t) for t in tables for k in t.nodes]
    if not nodes or any(t.items[-1] != anchor for _, t in nodes):
        return []
    u_a = float(pi[anchor] - catalog.host_demand[anchor] @ lam)
    values = [_node_values(t, u_a) for _, t in nodes]
    head, choice = _combine(values[:-1])
    e = catalog.host_demand[anchor]
    most = int(caps[anchor])
    for s in np.flatnonzero(e > 0):
        most = min(most, int(np.floor((shape.host_capacity[s] + FLOAT_SLACK) / e[s])))
    out = []
    for n in sorted({min(int(n), most) for n in totals if n >= 0}):
        last = values[-1]
        sel: IntArray = np.arange(max(0, n - len(head) + 1), min(n, len(last) - 1) + 1)
        if not len(sel):
            continue
        s_last = int(sel[np.argmax(head[n - sel] + last[sel])])
        split = [s_last]
        left = n - s_last
        for i in range(len(nodes) - 2, -1, -1):
            s_k = int(choice[i][left]) if i else left
            split.append(s_k)
            left -= s_k
        counts = np.zeros((catalog.size, len(shape.node_ids)), dtype=np.int64)
        for (k, t), s_k in zip(nodes, reversed(split), strict=True):
            fillers = solution(t.table, t.grid.size - s_k * t.table.weights[-1], len(t.items) - 1)
            counts[t.items[:-1], k] = fillers[:-1]
            counts[anchor, k] = s_k
        out.append(counts)
    return out


def _node_values(t: NodeTable, u_a: float) -> FloatArray:
    """``u_a s + T(C - s d_a)`` for s = 0 .. the anchor's bound, T the table before the anchor."""
    w = t.table.weights[-1]
    s = np.arange(int(t.table.bounds[-1]) + 1)
    idx = tuple(int(t.grid.size[r]) - s * int(w[r]) for r in range(len(w)))
    before = t.table.snapshots[len(t.items) - 2][idx] if len(t.items) > 1 else np.zeros(len(s))
    out: FloatArray = u_a * s + before
    return out


def _combine(values: Sequence[FloatArray]) -> tuple[FloatArray, list[IntArray]]:
    """Max-plus convolution over nodes: best value per total and, per node, its share of each total."""
    if not values:
        return np.zeros(1), []
    total = values[0].copy()
    choice: list[IntArray] = [np.zeros(0, dtype=np.int64)]
    for f in values[1:]:
        new = np.full(len(total) + len(f) - 1, -np.inf)
        pick = np.zeros(len(new), dtype=np.int64)
        for s, v in enumerate(f):
            cand = total + v
            better = cand > new[s : s + len(total)]
            new[s : s + len(total)] = np.where(better, cand, new[s : s + len(total)])
            pick[s : s + len(total)] = np.where(better, s, pick[s : s + len(total)])
        total = new
        choice.append(pick)
    return total, choice
