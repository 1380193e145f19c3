"""N+r failover (issue 12, question c): with any r hosts failed, do their guests fit elsewhere?

For every set of r failed hosts, the guests they ran must be re-placed into the free
capacity of the surviving hosts, per NUMA node (an *evacuation packing*), as xapi's HA
planner checks for its pools ([1] §1.3, §2: ``ocaml/xapi/binpack.ml``, which enumerates the
failure orders exhaustively for small pools and approximates otherwise). Here:

* hosts of one type running the same guests are interchangeable, so a scenario is a
  multiset of such classes and stands for ``prod C(class size, failed in class)`` host sets;
  a planned fleet of 2,000 hosts has a few dozen classes, and r = 2 stays a few hundred
  scenarios;
* each scenario is decided by first fit decreasing (a placement found is the proof: its
  moves are in the report), else by capacity bounds (per profile: the most guests of it
  the survivors hold alone; per resource: their total free capacity), else by the pattern
  master of :mod:`planner.capacity.colgen` over the survivors' classes (a cover is a proof
  of survival, an infeasible linear master a proof of failure); what none decides within
  the time limit is ``unknown``.

What must be held back is given as spare hosts: ``need(F)`` empty hosts of the spare type
take what first fit could not place for failed set F. Spares can fail too, so ``E`` spares
suffice when, for every k <= min(r, E), every set of r - k failed hosts needs at most
``E - k`` spares; the smallest such E is reported.

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

from planner.capacity.colgen import cover
from planner.capacity.greedy import Pool, first_fit_decreasing, size_order
from planner.capacity.model import (
    Catalog,
    ExistingHost,
    FleetProblem,
    IntArray,
    Shape,
    alone_per_host,
    alone_per_node,
    residual_shape,
    type_index,
)
from planner.capacity.results import FailoverReport, FleetPlan, Move, Scenario, Verdict, relative_gap
from planner.capacity.state import Fleet, classes, describe, fleet_of


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
    base = Pool.empty(fleet.catalog, fleet.shapes)
    for host in fleet.hosts:
        base.add(host.type_index, 1, used=host.counts)
    groups = classes(fleet.hosts)
    need = {0: 0}
    reports: list[Scenario] = []
    checked = 0
    for r in range(1, failures + 1):
        scenarios, complete = _scenarios(fleet, base, groups, r, spare, deadline)
        need[r] = max((s.spare_hosts_needed or 0 for s in scenarios), default=0) if complete else -1
        if r == failures:
            reports, checked = scenarios, sum(s.weight for s in scenarios)
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
    fleet: Fleet, base: Pool, groups: list[list[int]], r: int, spare: int, deadline: float
) -> tuple[list[Scenario], bool]:
    """Every multiset of r classes (as many hosts of a class as it has); False when the time ran out."""
    out: list[Scenario] = []
    for combo in itertools.combinations_with_replacement(range(len(groups)), r):
        counts = {g: combo.count(g) for g in set(combo)}
        if any(n > len(groups[g]) for g, n in counts.items()):
            continue
        if time.monotonic() > deadline:
            return out, False
        failed = [i for g, n in sorted(counts.items()) for i in groups[g][:n]]
        weight = math.prod(math.comb(len(groups[g]), n) for g, n in counts.items())
        out.append(_scenario(fleet, base, failed, weight, spare, deadline))
    return out, True


def _scenario(
    fleet: Fleet, base: Pool, failed: list[int], weight: int, spare: int, deadline: float
) -> Scenario:
    catalog = fleet.catalog
    displaced = sum(
        (fleet.hosts[i].counts.sum(axis=1) for i in failed), np.zeros(catalog.size, dtype=np.int64)
    )
    pool = dataclasses.replace(
        base,
        free_node=base.free_node.copy(),
        free_host=base.free_host.copy(),
        counts=np.zeros_like(base.counts),
    )
    active = np.ones(pool.host_count, dtype=bool)
    active[failed] = False
    left = displaced.copy()
    for p in size_order(catalog, fleet.shapes):
        if left[p]:
            left[p], _ = pool.first_fit(p, int(left[p]), active)
    names = tuple(fleet.hosts[i].name for i in failed)
    share = _displaced_share(catalog, base, active, displaced)
    shown = {catalog.names[p]: int(displaced[p]) for p in np.flatnonzero(displaced)}
    if not left.any():
        return Scenario(names, weight, shown, "survives", "greedy", share, _moves(fleet, failed, pool.counts))
    unplaced = {catalog.names[p]: int(left[p]) for p in np.flatnonzero(left)}
    need = _spares_for(catalog, fleet.shapes[spare], left)
    if _bound_fails(catalog, base, active, displaced):
        return Scenario(names, weight, shown, "fails", "bound", share, (), unplaced, need)
    verdict, moves = _exact(fleet, failed, displaced, deadline)
    return Scenario(
        names, weight, shown, verdict, "exact", share, moves, unplaced, need if verdict != "survives" else 0
    )


def _displaced_share(catalog: Catalog, base: Pool, active: np.ndarray, displaced: IntArray) -> float:
    free_node = base.free_node[active].sum(axis=(0, 1)).astype(float)
    free_host = base.free_host[active].sum(axis=0)
    need_node = displaced.astype(float) @ catalog.node_demand
    need_host = displaced.astype(float) @ catalog.host_demand
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.concatenate([need_node / free_node, need_host / free_host])
    shares = np.where(np.isnan(shares), 0.0, shares)
    return float(shares.max()) if len(shares) else 0.0


def _bound_fails(catalog: Catalog, base: Pool, active: np.ndarray, displaced: IntArray) -> bool:
    """True when the survivors cannot hold the displaced guests by resource totals or per profile alone."""
    free_node, free_host = base.free_node[active], base.free_host[active]
    if (displaced @ catalog.node_demand > free_node.sum(axis=(0, 1))).any():
        return True
    if (displaced.astype(float) @ catalog.host_demand > free_host.sum(axis=0) + 1e-6).any():
        return True
    per_node = alone_per_node(free_node, catalog).sum(axis=2)  # H x P
    alone = np.minimum(per_node, alone_per_host(free_host, catalog))
    return bool((displaced > alone.sum(axis=0)).any())


def _spares_for(catalog: Catalog, spare: Shape, left: IntArray) -> int | None:
    """Empty hosts of the spare type that first fit decreasing needs for what is left."""
    unlimited = dataclasses.replace(spare, available=None)
    pool, still = first_fit_decreasing(catalog, [unlimited], left)
    return None if still.any() else pool.host_count


def _exact(
    fleet: Fleet, failed: list[int], displaced: IntArray, deadline: float
) -> tuple[Verdict, tuple[Move, ...]]:
    """Decide one scenario with the pattern master over the survivors' classes."""
    catalog = fleet.catalog
    survivors = [i for i in range(len(fleet.hosts)) if i not in set(failed)]
    groups = [[survivors[j] for j in g] for g in classes([fleet.hosts[i] for i in survivors])]
    shapes = []
    for g in groups:
        h = fleet.hosts[g[0]]
        free = residual_shape(fleet.shapes[h.type_index], h.counts, catalog, name=h.name)
        shapes.append(dataclasses.replace(free, cost=1.0, available=len(g)))
    limit = min(deadline, time.monotonic() + 10.0)
    result = cover(catalog, shapes, displaced, initial=[], deadline=limit)
    if result.status == "infeasible":
        return "fails", ()
    if not result.multiplicity:
        return "unknown", ()
    added = np.zeros(
        (len(fleet.hosts), catalog.size, max(len(s.node_ids) for s in fleet.shapes)), dtype=np.int64
    )
    used = [0] * len(groups)
    left = displaced.copy()
    for col, m in zip(result.columns, result.multiplicity, strict=True):
        for _ in range(m):
            host = groups[col.shape][used[col.shape]]
            used[col.shape] += 1
            take = col.counts.copy()
            for p in range(catalog.size):  # trim what covers more than the displaced guests
                for k in range(take.shape[1]):
                    take[p, k] = min(take[p, k], left[p])
                    left[p] -= take[p, k]
            added[host, :, : take.shape[1]] += take
    return "survives", _moves(fleet, failed, added)


def _moves(fleet: Fleet, failed: list[int], added: IntArray) -> tuple[Move, ...]:
    """Pair the failed hosts' guests (sources) with the guests added to survivors (targets), per profile."""
    catalog = fleet.catalog
    out: list[Move] = []
    for p in range(catalog.size):
        sources: list[tuple[str, int, int]] = [
            (fleet.hosts[i].name, fleet.shapes[fleet.hosts[i].type_index].node_ids[k], int(n))
            for i in failed
            for k, n in enumerate(fleet.hosts[i].counts[p])
            if n
        ]
        for h, k in zip(*np.nonzero(added[:, p, :]), strict=True):
            n = int(added[h, p, k])
            target = (fleet.hosts[h].name, fleet.shapes[fleet.hosts[h].type_index].node_ids[k])
            while n and sources:
                name, node, have = sources[0]
                take = min(n, have)
                out.append(Move(catalog.names[p], name, node, *target, take))
                sources[0] = (name, node, have - take)
                n -= take
                if not sources[0][2]:
                    sources.pop(0)
    return tuple(out)


def _held_back(catalog: Catalog, scenarios: Sequence[Scenario]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in scenarios:
        d = np.array([s.displaced.get(n, 0) for n in catalog.names], dtype=float)
        for name, amount in [
            *zip(catalog.node_resources, d @ catalog.node_demand, strict=True),
            *zip(catalog.host_resources, d @ catalog.host_demand, strict=True),
        ]:
            out[name] = max(out.get(name, 0.0), float(amount))
    return out


def plan_with_failures(problem: FleetProblem, failures: int) -> FleetPlan:
    """The cheapest fleet found that survives any ``failures`` failed hosts (N+r planning).

    The plan for the inventory, plus spare hosts: r of the cheapest type that dominates every
    type the plan uses (each failed host's guests move to one spare, whatever fails), or as
    many as :func:`check_failover` reports needed otherwise. Any fleet that survives r
    failures still holds the inventory without its r cheapest hosts, so its cost is at least
    the plan's bound plus r times the cheapest type's cost: the result is ``optimal`` when
    it meets that bound. The final fleet is checked with :func:`check_failover`.
    """
    from planner.capacity.fleet import plan_fleet

    base = plan_fleet(problem)
    if not math.isfinite(base.objective):
        return dataclasses.replace(base, failures_tolerated=failures)
    fleet = fleet_of(problem)
    as_fleet = dataclasses.replace(problem, existing=base.as_existing(), inventory={})
    used = {h.host_type for h in base.hosts}
    spare = _dominating_spare(fleet, base, used, failures)
    if spare is not None:
        spare_count = failures
    else:
        first = check_failover(as_fleet, failures)
        spare = type_index(problem.host_types, first.spare_host_type or "", field="spare_host_type")
        spare_count = first.spare_hosts_needed if first.spare_hosts_needed is not None else failures
    taken = {h.name for h in base.hosts}
    names = [f"{fleet.shapes[spare].name}-spare-{i:02d}" for i in range(1, spare_count + 1)]
    names = [n if n not in taken else f"{n}b" for n in names]
    spares = tuple(ExistingHost(n, fleet.shapes[spare].name) for n in names)
    final = check_failover(dataclasses.replace(as_fleet, existing=(*as_fleet.existing, *spares)), failures)
    spare_states = [
        fleet_of(dataclasses.replace(problem, existing=spares)).hosts[i] for i in range(len(spares))
    ]
    spare_hosts = tuple(
        dataclasses.replace(describe(s, fleet.shapes[spare], fleet.catalog), existing=False)
        for s in spare_states
    )
    objective = base.objective + spare_count * fleet.shapes[spare].cost
    lower = min(objective, base.lower_bound + failures * min(s.cost for s in fleet.shapes))
    gap = relative_gap(objective, lower)
    per_type = dict(base.hosts_per_type)
    per_type[fleet.shapes[spare].name] = per_type.get(fleet.shapes[spare].name, 0) + spare_count
    status = (
        "optimal"
        if gap == 0.0 and final.survives
        else ("feasible" if base.status == "optimal" else base.status)
    )
    return dataclasses.replace(
        base,
        status=status,
        objective=objective,
        lower_bound=lower,
        gap=gap,
        hosts=(*base.hosts, *spare_hosts),
        hosts_per_type=per_type,
        failures_tolerated=failures,
        spare_hosts=tuple(names),
        failover=final,
    )


def _dominating_spare(fleet: Fleet, base: FleetPlan, used: set[str], failures: int) -> int | None:
    """The cheapest type with ``failures`` hosts left whose capacities cover every used type's."""
    counts = {t: base.hosts_per_type.get(t, 0) for t in (s.name for s in fleet.shapes)}
    best: int | None = None
    for t, s in enumerate(fleet.shapes):
        if s.available is not None and s.available - counts[s.name] < failures:
            continue
        ok = all(
            len(o.node_ids) == len(s.node_ids)
            and (o.node_capacity <= s.node_capacity).all()
            and (o.host_capacity <= s.host_capacity).all()
            for o in fleet.shapes
            if o.name in used
        )
        if ok and (best is None or s.cost < fleet.shapes[best].cost):
            best = t
    return best
