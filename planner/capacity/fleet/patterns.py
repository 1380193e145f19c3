"""Host patterns made feasible and better: repair, greedy fill, and a one-guest exchange search.

These are the primal side of the pricing (:mod:`planner.capacity.fleet.pricing`): the
relaxation and the node tables give counts that may overrun a node or the host (rounded-up
relaxation counts, node optima that together use too many vCPUs); :meth:`HostKit.repair`
takes guests off, the least dual value per unit of the overrun resource first,
:meth:`HostKit.fill` adds guests while they fit exactly, and :meth:`HostKit.improve` tries
one more guest of each profile on each node with the repair and fill around it, keeping what
raises the pattern's value (a 1-opt local search, as the "add one, drop the least valuable"
moves of the knapsack heuristics of [1] §9.5).

A pattern has a few nodes and a few resources, so the work is done on Python integers:
numpy's per-call cost would dominate arrays this small.

References
----------
.. [1] H. Kellerer, U. Pferschy, D. Pisinger, *Knapsack Problems*, Springer 2004, §9.5
   (multidimensional knapsack: greedy repair and local search).
"""

from __future__ import annotations

import math

import numpy as np

from planner.capacity.fleet.model import FLOAT_SLACK, Catalog, FloatArray, IntArray, Shape

#: duals below this are treated as zero (HiGHS works to ~1e-9)
VALUE_TOL = 1e-9

#: rounds of :meth:`HostKit.improve`
_IMPROVE_ROUNDS = 2

Counts = list[list[int]]  # [profile][node]


def value_of(pi: FloatArray, counts: IntArray) -> float:
    """Dual value of a host pattern."""
    return float(pi @ counts.sum(axis=1))


class HostKit:
    """Repair, fill and exchange search on the patterns of one shape."""

    def __init__(self, catalog: Catalog, shape: Shape) -> None:
        self.d = [[int(v) for v in row] for row in catalog.node_demand]
        self.e = [[float(v) for v in row] for row in catalog.host_demand]
        self.node_cap = [[int(v) for v in row] for row in shape.node_capacity]
        self.host_cap = [float(v) for v in shape.host_capacity]
        self.n_p, self.n_k = catalog.size, len(shape.node_ids)
        node_total = [
            max(1, sum(row[r] for row in self.node_cap)) for r in range(len(catalog.node_resources))
        ]
        host_total = [h if math.isfinite(h) and h > 0 else math.inf for h in self.host_cap]
        self.share = [
            sum(dv / t for dv, t in zip(self.d[p], node_total, strict=True))
            + sum(ev / t for ev, t in zip(self.e[p], host_total, strict=True))
            for p in range(self.n_p)
        ]

    def complete(self, pi: FloatArray, caps: IntArray, counts: IntArray) -> IntArray:
        """Any counts made into a feasible pattern: capped, repaired, then filled."""
        c = self._capped(counts.tolist(), caps.tolist())
        return self._array(self._fill(pi.tolist(), caps.tolist(), self._repair(pi.tolist(), c, None)))

    def improve(self, pi: FloatArray, caps: IntArray, counts: IntArray) -> IntArray:
        """One-guest exchanges: one more guest of a profile on a node, repaired and filled, while
        value rises."""
        pv, cv = pi.tolist(), caps.tolist()
        best = counts.tolist()
        best_value = _value(pv, best)
        for _ in range(_IMPROVE_ROUNDS):
            found = False
            for p in range(self.n_p):
                if pv[p] <= VALUE_TOL or sum(best[p]) >= cv[p]:
                    continue
                for k in range(self.n_k):
                    trial = [row[:] for row in best]
                    trial[p][k] += 1
                    trial = self._fill(pv, cv, self._repair(pv, trial, (p, k)))
                    v = _value(pv, trial)
                    if v > best_value * (1 + 1e-12) + 1e-12:
                        best, best_value, found = trial, v, True
            if not found:
                break
        return self._array(best)

    def _array(self, counts: Counts) -> IntArray:
        return np.array(counts, dtype=np.int64).reshape(self.n_p, self.n_k)

    def _free(self, counts: Counts) -> tuple[list[list[int]], list[float]]:
        node = [row[:] for row in self.node_cap]
        host = self.host_cap[:]
        for p in range(self.n_p):
            total = 0
            for k in range(self.n_k):
                n = counts[p][k]
                if n:
                    total += n
                    for r, dv in enumerate(self.d[p]):
                        node[k][r] -= n * dv
            if total:
                for s, ev in enumerate(self.e[p]):
                    host[s] -= total * ev
        return node, host

    def _repair(self, pi: list[float], counts: Counts, keep: tuple[int, int] | None) -> Counts:
        """Take guests off until every node and host-wide capacity holds.

        For an overrun node resource, guests of that node go first; for an overrun host
        resource, guests of any node; in both cases the profile with the least dual value
        per unit of the overrun resource, as many as the overrun needs. ``keep`` (profile,
        node) keeps at least the guest :meth:`improve` just added.
        """
        while True:
            node, host = self._free(counts)
            over = next(((k, r) for k in range(self.n_k) for r, f in enumerate(node[k]) if f < 0), None)
            if over is not None:
                k, r = over
                use = [row[r] for row in self.d]
                if not self._take_off(pi, counts, use, -node[k][r], [k], keep):
                    return [[0] * self.n_k for _ in range(self.n_p)]
                continue
            bad = next((s for s, f in enumerate(host) if f < -FLOAT_SLACK), None)
            if bad is None:
                return counts
            use_h = [row[bad] for row in self.e]
            if not self._take_off(pi, counts, use_h, -host[bad], list(range(self.n_k)), keep):
                return [[0] * self.n_k for _ in range(self.n_p)]

    def _take_off(
        self,
        pi: list[float],
        counts: Counts,
        use: list[int] | list[float],
        over: float,
        nodes: list[int],
        keep: tuple[int, int] | None,
    ) -> bool:
        """Remove guests using ``use`` each from ``nodes`` until ``over`` is freed; False if none can go."""
        best: tuple[float, int, int] | None = None
        for k in nodes:
            for p in range(self.n_p):
                floor = 1 if keep == (p, k) else 0
                if counts[p][k] > floor and use[p] > 0:
                    ratio = pi[p] / use[p]
                    if best is None or ratio < best[0]:
                        best = (ratio, p, k)
        if best is None:
            return False
        _, p, k = best
        floor = 1 if keep == (p, k) else 0
        take = min(math.ceil(over / use[p] - 1e-9), counts[p][k] - floor)
        counts[p][k] -= max(take, 1)
        return True

    def _fill(self, pi: list[float], caps: list[int], counts: Counts) -> Counts:
        """Add guests while they fit exactly, the most dual value per share of the host first."""
        node, host = self._free(counts)
        order = sorted(
            (p for p in range(self.n_p) if pi[p] > VALUE_TOL),
            key=lambda q: -pi[q] / max(self.share[q], 1e-12),
        )
        for p in order:
            room = caps[p] - sum(counts[p])
            for s, ev in enumerate(self.e[p]):
                if ev > 0:
                    room = min(room, math.floor((host[s] + FLOAT_SLACK) / ev))
            if room <= 0:
                continue
            for k in range(self.n_k):
                fit = min((node[k][r] // dv for r, dv in enumerate(self.d[p]) if dv > 0), default=room)
                take = max(0, min(room, fit))
                if take:
                    counts[p][k] += take
                    room -= take
                    for r, dv in enumerate(self.d[p]):
                        node[k][r] -= take * dv
                    for s, ev in enumerate(self.e[p]):
                        host[s] -= take * ev
                if room <= 0:
                    break
        return counts

    def _capped(self, counts: Counts, caps: list[int]) -> Counts:
        """Counts cut to at most ``caps`` guests of each profile (last nodes first)."""
        out = [[max(0, n) for n in row] for row in counts]
        for p in range(self.n_p):
            excess = sum(out[p]) - caps[p]
            for k in range(self.n_k - 1, -1, -1):
                if excess <= 0:
                    break
                take = min(excess, out[p][k])
                out[p][k] -= take
                excess -= take
        return out


def _value(pi: list[float], counts: Counts) -> float:
    return sum(v * sum(row) for v, row in zip(pi, counts, strict=True))
