"""N+r failover (issue 12, question c): with any r hosts failed, do their guests fit elsewhere?

For every set of r failed hosts, the guests they ran must be re-placed into the free
capacity of the surviving hosts, per NUMA node (an *evacuation packing*), as xapi's HA
planner checks for its pools ([1] §1.3, §2: ``ocaml/xapi/binpack.ml``, which enumerates the
failure orders exhaustively for small pools and approximates otherwise). Here:

* hosts of one type running the same guests are interchangeable (*classes*), so a scenario
  is a multiset of r classes and stands for ``prod C(class size, failed in class)`` host
  sets: ``C(c + r - 1, r)`` scenarios for c classes, not ``C(n, r)``; a planned fleet of
  1,300 hosts has a few dozen classes. The survivors of a class are interchangeable too,
  so the evacuation works on rows of identical hosts (:mod:`planner.capacity.fleet.evacuate`);
* each scenario is decided by first fit decreasing over those rows (a placement found is
  the proof: its moves are in the report), else by capacity bounds (per profile: the most
  guests of it the survivors hold alone; per resource: their total free capacity), else by
  the pattern master of :mod:`planner.capacity.fleet.rounding` over the survivors' classes,
  each a shape with as many hosts as survive of it (the per-host capacities hold exactly:
  a column is one host; a cover is a proof of survival, an infeasible linear master a proof
  of failure); what none decides within the time limit is ``unknown``.

What must be held back is given as spare hosts: ``need(F)`` empty hosts of the spare type
take what first fit left over for failed set F. Spares can fail too, so ``E`` spares
suffice when, for every k <= min(r, E), every set of r - k failed hosts needs at most
``E - k`` spares; the smallest such E is reported. Per node, ``node_reserve`` is the most
any evacuation found puts on one node of a host of each type.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §1.3 and §2 (xapi HA planner).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Sequence

import numpy as np

from planner.capacity.fleet.evacuate import Groups, evacuate, moves, node_load
from planner.capacity.fleet.greedy import first_fit_decreasing
from planner.capacity.fleet.model import (
    Catalog,
    FleetProblem,
    IntArray,
    Shape,
    alone_per_host,
    alone_per_node,
    residual_shape,
    type_index,
)
from planner.capacity.fleet.results import FailoverReport, Scenario, Verdict
from planner.capacity.fleet.rounding import cover
from planner.capacity.fleet.state import Fleet, classes, fleet_of
from planner.capacity.highs import milp

#: most seconds the exact check of one scenario may take
_EXACT_S = 10.0

Reserve = dict[str, dict[int, dict[str, int]]]


def check_failover(
    problem: FleetProblem, failures: int, *, spare_host_type: str | None = None, worst_count: int = 5
) -> FailoverReport:
    """Check that the guests of any ``failures`` failed existing hosts fit the others (N+r).

    Parameters
    ----------
    problem
        The fleet: host types and existing hosts with their guests (``inventory`` unused).
    failures
        r >= 1, the number of hosts that fail together.
    spare_host_type
        Type of the spare hosts reported as needed; default the cheapest type.
    worst_count
        How many of the worst scenarios the report lists (failing first, then by displaced share).
    """
    if failures < 1:
        raise ValueError("failures must be at least 1")
    start = time.monotonic()
    deadline = start + problem.time_limit_s
    fleet = fleet_of(problem)
    spare = _spare_type(problem, fleet, spare_host_type)
    groups = classes(fleet.hosts)
    base = Groups.of(fleet, groups)
    need = {0: 0}
    reports: list[Scenario] = []
    reserve: Reserve = {}
    for r in range(1, failures + 1):
        scenarios, complete = _scenarios(fleet, base, r, spare, deadline, reserve if r == failures else {})
        need[r] = max((s.spare_hosts_needed or 0 for s in scenarios), default=0) if complete else -1
        if r == failures:
            reports = scenarios
    checked = sum(s.weight for s in reports)
    host_sets = math.comb(len(fleet.hosts), failures)
    verdicts = {s.verdict for s in reports}
    survives = (
        False
        if "fails" in verdicts
        else (True if verdicts <= {"survives"} and checked == host_sets else None)
    )
    worst = sorted(
        reports, key=lambda s: ({"fails": 0, "unknown": 1, "survives": 2}[s.verdict], -s.displaced_share)
    )
    return FailoverReport(
        failures=failures,
        survives=survives,
        host_sets=host_sets,
        host_sets_checked=checked,
        scenarios=tuple(reports),
        worst=tuple(worst[:worst_count]),
        spare_host_type=fleet.shapes[spare].name,
        spare_hosts_needed=_spares_needed(need, failures),
        held_back=_held_back(fleet.catalog, reports),
        node_reserve=reserve,
        classes=len(groups),
        solve_s=time.monotonic() - start,
    )


def _spare_type(problem: FleetProblem, fleet: Fleet, name: str | None) -> int:
    if name is not None:
        return type_index(problem.host_types, name, field="spare_host_type")
    return min(
        range(len(fleet.shapes)), key=lambda t: (fleet.shapes[t].cost, -fleet.shapes[t].node_capacity.sum())
    )


def _spares_needed(need: dict[int, int], failures: int) -> int | None:
    """Smallest E with ``need[r - k] <= E - k`` for every k <= min(r, E) (spares fail too)."""
    if any(v < 0 for v in need.values()):
        return None
    for e in range(0, failures + max(need.values()) + 1):
        if all(need[failures - k] <= e - k for k in range(min(failures, e) + 1)):
            return e
    return None  # pragma: no cover - the loop's last E always qualifies


def _scenarios(
    fleet: Fleet, base: Groups, r: int, spare: int, deadline: float, reserve: Reserve
) -> tuple[list[Scenario], bool]:
    """Every multiset of r classes (as many hosts of a class as it has); False when the time ran out."""
    out: list[Scenario] = []
    for combo in itertools.combinations_with_replacement(range(len(base.mult)), r):
        failed = {g: combo.count(g) for g in set(combo)}
        if any(n > base.mult[g] for g, n in failed.items()):
            continue
        if time.monotonic() > deadline:
            return out, False
        weight = math.prod(math.comb(int(base.mult[g]), n) for g, n in failed.items())
        out.append(_scenario(fleet, base, failed, weight, spare, deadline, reserve))
    return out, True


def _scenario(
    fleet: Fleet,
    base: Groups,
    failed: dict[int, int],
    weight: int,
    spare: int,
    deadline: float,
    reserve: Reserve,
) -> Scenario:
    catalog = fleet.catalog
    hosts = [i for g, n in sorted(failed.items()) for i in base.members[g][:n]]
    displaced = sum(
        (fleet.hosts[i].counts.sum(axis=1) for i in hosts), np.zeros(catalog.size, dtype=np.int64)
    )
    survivors = base.without(failed)
    share = _displaced_share(catalog, survivors, displaced)
    names = tuple(fleet.hosts[i].name for i in hosts)
    shown = {catalog.names[p]: int(displaced[p]) for p in np.flatnonzero(displaced)}
    bound_fails = _bound_fails(catalog, survivors, displaced)
    left = displaced if bound_fails else evacuate(fleet, survivors, displaced)
    if not left.any():
        added = survivors.per_host_added(len(fleet.hosts))
        node_load(fleet, added, reserve)
        return Scenario(names, weight, shown, "survives", "greedy", share, moves(fleet, hosts, added))
    unplaced = {catalog.names[p]: int(left[p]) for p in np.flatnonzero(left)}
    need = _spares_for(catalog, fleet.shapes[spare], left)
    if bound_fails:
        return Scenario(names, weight, shown, "fails", "bound", share, (), unplaced, need)
    verdict, exact_added = _exact(fleet, base.without(failed), displaced, deadline)
    if exact_added is None:
        return Scenario(names, weight, shown, verdict, "exact", share, (), unplaced, need)
    added = exact_added
    node_load(fleet, added, reserve)
    return Scenario(names, weight, shown, verdict, "exact", share, moves(fleet, hosts, added), None, 0)


def _displaced_share(catalog: Catalog, survivors: Groups, displaced: IntArray) -> float:
    """Displaced demand over the survivors' free capacity, the largest over resources."""
    mult = survivors.mult.astype(float)
    free_node = np.einsum("g,gkr->r", mult, np.maximum(survivors.free_node, 0).astype(float))
    free_host = mult @ np.maximum(survivors.free_host, 0)
    need = np.concatenate(
        [displaced.astype(float) @ catalog.node_demand, displaced.astype(float) @ catalog.host_demand]
    )
    free = np.concatenate([free_node, free_host])
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(need > 0, need / free, 0.0)
    return float(shares.max()) if len(shares) else 0.0


def _bound_fails(catalog: Catalog, survivors: Groups, displaced: IntArray) -> bool:
    """True when the survivors cannot hold the displaced guests by resource totals or per profile alone."""
    mult = survivors.mult
    free_node = np.maximum(survivors.free_node, 0)
    if (displaced @ catalog.node_demand > np.einsum("g,gkr->r", mult, free_node)).any():
        return True
    host_total = mult.astype(float) @ np.maximum(survivors.free_host, 0)
    if (displaced.astype(float) @ catalog.host_demand > host_total + 1e-6).any():
        return True
    per_node = alone_per_node(free_node, catalog).sum(axis=2)  # G x P
    alone = np.minimum(per_node, alone_per_host(np.maximum(survivors.free_host, 0), catalog))
    return bool((displaced > mult @ np.minimum(alone, 2**40).astype(np.int64)).any())


def _spares_for(catalog: Catalog, spare: Shape, left: IntArray) -> int | None:
    """Empty hosts of the spare type that first fit decreasing needs for what is left."""
    unlimited = dataclasses.replace(spare, available=None)
    pool, still = first_fit_decreasing(catalog, [unlimited], left)
    return None if still.any() else pool.host_count


def _exact(
    fleet: Fleet, survivors: Groups, displaced: IntArray, deadline: float
) -> tuple[Verdict, IntArray | None]:
    """Decide one scenario with the pattern master over the survivors' rows (each a shape, as many hosts
    as the row has). Returns the verdict and, when it survives, the guests added per host."""
    catalog = fleet.catalog
    shapes = []
    for g, members in enumerate(survivors.members):
        host = fleet.hosts[members[0]]
        free = residual_shape(fleet.shapes[host.type_index], host.counts, catalog, name=host.name)
        shapes.append(dataclasses.replace(free, cost=1.0, available=int(survivors.mult[g])))
    result = cover(
        catalog, shapes, displaced, initial=[], deadline=min(deadline, time.monotonic() + _EXACT_S)
    )
    if result.status == "infeasible":
        return "fails", None
    if not result.multiplicity:  # the linear master covers it, no rounding found: decide per host
        return _per_host(fleet, survivors, displaced, deadline)
    k_max = max(len(s.node_ids) for s in fleet.shapes)
    added = np.zeros((len(fleet.hosts), catalog.size, k_max), dtype=np.int64)
    used = [0] * len(shapes)
    for col, m in zip(result.columns, result.multiplicity, strict=True):
        for _ in range(m):
            target = survivors.members[col.shape][used[col.shape]]
            used[col.shape] += 1
            added[target, :, : col.counts.shape[1]] += col.counts
    excess = added.sum(axis=(0, 2)) - displaced  # a pattern may hold more than is left to place
    for h in range(len(fleet.hosts) - 1, -1, -1):
        for p in np.flatnonzero(excess > 0):
            for k in range(k_max - 1, -1, -1):
                take = min(int(excess[p]), int(added[h, p, k]))
                added[h, p, k] -= take
                excess[p] -= take
    return "survives", added


def _held_back(catalog: Catalog, scenarios: Sequence[Scenario]) -> dict[str, float]:
    """The largest displaced demand per resource over the scenarios."""
    out: dict[str, float] = {}
    for s in scenarios:
        d = np.array([s.displaced.get(n, 0) for n in catalog.names], dtype=float)
        for name, amount in [
            *zip(catalog.node_resources, d @ catalog.node_demand, strict=True),
            *zip(catalog.host_resources, d @ catalog.host_demand, strict=True),
        ]:
            out[name] = max(out.get(name, 0.0), float(amount))
    return out


#: most integer variables of the per-host program (survivors x profiles x nodes)
_PER_HOST_VARS = 200_000


def _per_host(
    fleet: Fleet, survivors: Groups, displaced: IntArray, deadline: float
) -> tuple[Verdict, IntArray | None]:
    """Decide one scenario by an integer program with a variable per surviving host, displaced
    profile and node (HiGHS; the formulation the pattern master avoids, used only when the master
    covers the guests fractionally and its rounding found no placement). ``unknown`` when it is
    too large or runs out of time."""
    from scipy.optimize import Bounds, LinearConstraint
    from scipy.sparse import lil_matrix

    cat = fleet.catalog
    hosts = [(g, h) for g, members in enumerate(survivors.members) for h in members]
    profiles = np.flatnonzero(displaced)
    k_max = int(survivors.free_node.shape[1])
    n = len(hosts) * len(profiles) * k_max
    left_s = deadline - time.monotonic()
    if n == 0 or n > _PER_HOST_VARS or left_s <= 0:
        return "unknown", None

    def var(i: int, j: int, k: int) -> int:
        return (i * len(profiles) + j) * k_max + k

    rows_r, rows_s = len(cat.node_resources), len(cat.host_resources)
    a = lil_matrix((len(hosts) * (k_max * rows_r + rows_s) + len(profiles), n))
    hi: list[float] = []
    row = 0
    for i, (g, _) in enumerate(hosts):
        for k in range(k_max):
            for r in range(rows_r):
                for j, p in enumerate(profiles):
                    a[row, var(i, j, k)] = cat.node_demand[p, r]
                hi.append(float(survivors.free_node[g, k, r]))
                row += 1
        for s in range(rows_s):
            for j, p in enumerate(profiles):
                for k in range(k_max):
                    a[row, var(i, j, k)] = cat.host_demand[p, s]
            hi.append(float(survivors.free_host[g, s]) + 1e-6)
            row += 1
    lo = [-np.inf] * row
    for j, p in enumerate(profiles):
        for i in range(len(hosts)):
            for k in range(k_max):
                a[row, var(i, j, k)] = 1
        lo.append(float(displaced[p]))
        hi.append(float(displaced[p]))
        row += 1
    res = milp(
        np.zeros(n),
        integrality=np.ones(n),
        bounds=Bounds(0, np.inf),
        constraints=[LinearConstraint(a.tocsr(), lo, hi)],
        options={"time_limit": max(0.1, min(left_s, _EXACT_S))},
    )
    if res.status == 2:  # proven infeasible
        return "fails", None
    if res.x is None:
        return "unknown", None
    x = np.rint(res.x).astype(np.int64).reshape(len(hosts), len(profiles), k_max)
    added = np.zeros((len(fleet.hosts), cat.size, k_max), dtype=np.int64)
    for i, (_, h) in enumerate(hosts):
        added[h, profiles, :] = x[i]
    return "survives", added
