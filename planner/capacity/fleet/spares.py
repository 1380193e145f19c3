"""N+r planning: the cheapest fleet found for an inventory that survives any r failed hosts.

The plan for the inventory (:func:`planner.capacity.fleet.plan.plan_fleet`) is checked for
N+r (:func:`planner.capacity.fleet.failover.check_failover`); while it does not survive,
spare hosts are added: for each host type with hosts left, as many as the check reports
needed for it, and r of the cheapest type that dominates every type in use (each failed
host's guests then move to one spare, whatever fails); the cheapest of these is added and
the fleet checked again. The result is proven by the final check.

Any fleet that survives r failures still holds the inventory without its r cheapest
hosts, so its cost is at least the plan's bound plus r times the cheapest type's cost: the
result is ``optimal`` when it meets that bound.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from planner.capacity.fleet.failover import check_failover
from planner.capacity.fleet.model import ExistingHost, FleetProblem, Status
from planner.capacity.fleet.results import FailoverReport, FleetPlan, PlannedHost, relative_gap
from planner.capacity.fleet.state import Fleet, HostState, describe, fleet_of

#: rounds of "add spares, check again" before the dominating spares are taken
_ROUNDS = 3


def plan_with_failures(problem: FleetProblem, failures: int) -> FleetPlan:
    """The cheapest fleet found that survives any ``failures`` failed hosts (module docstring)."""
    from planner.capacity.fleet.plan import plan_fleet

    start = time.monotonic()
    base = plan_fleet(problem)
    if base.objective == float("inf"):
        return dataclasses.replace(base, failures_tolerated=failures)
    fleet = fleet_of(problem)
    left = max(1.0, problem.time_limit_s - (time.monotonic() - start))
    as_fleet = dataclasses.replace(problem, existing=base.as_existing(), inventory={}, time_limit_s=left)
    spares: list[ExistingHost] = []
    report = check_failover(as_fleet, failures)
    for _ in range(_ROUNDS):
        if report.survives:
            break
        t, n = _cheapest_option(problem, fleet, base, spares, as_fleet, failures, report)
        spares += _spares(fleet, base, spares, t, n)
        report = check_failover(
            dataclasses.replace(as_fleet, existing=(*as_fleet.existing, *spares)), failures
        )
    if not report.survives:
        dominating = _dominating_spare(fleet, base, failures)
        if dominating is not None:
            spares = _spares(fleet, base, [], dominating, failures)
            report = check_failover(
                dataclasses.replace(as_fleet, existing=(*as_fleet.existing, *spares)), failures
            )
    return _result(fleet, base, spares, report, failures)


def _cheapest_option(
    problem: FleetProblem,
    fleet: Fleet,
    base: FleetPlan,
    spares: list[ExistingHost],
    as_fleet: FleetProblem,
    failures: int,
    report: FailoverReport,
) -> tuple[int, int]:
    """(type index, how many) of the cheapest spares that the check says fix every failing scenario."""
    options: list[tuple[float, int, int]] = []
    with_spares = dataclasses.replace(as_fleet, existing=(*as_fleet.existing, *spares))
    for t, shape in enumerate(fleet.shapes):
        if _left(fleet, base, spares, t) <= 0:
            continue
        rep = (
            report
            if shape.name == report.spare_host_type
            else check_failover(with_spares, failures, spare_host_type=shape.name)
        )
        if rep.spare_hosts_needed is not None and rep.spare_hosts_needed <= _left(fleet, base, spares, t):
            options.append((shape.cost * max(1, rep.spare_hosts_needed), t, max(1, rep.spare_hosts_needed)))
    dominating = _dominating_spare(fleet, base, failures)
    if dominating is not None:
        options.append((fleet.shapes[dominating].cost * failures, dominating, failures))
    if not options:
        return min(range(len(fleet.shapes)), key=lambda t: fleet.shapes[t].cost), 1
    _, t, n = min(options)
    return t, n


def _left(fleet: Fleet, base: FleetPlan, spares: list[ExistingHost], t: int) -> float:
    shape = fleet.shapes[t]
    if shape.available is None:
        return float("inf")
    used = base.hosts_per_type.get(shape.name, 0) + sum(1 for s in spares if s.host_type == shape.name)
    return float(shape.available - used)


def _spares(fleet: Fleet, base: FleetPlan, spares: list[ExistingHost], t: int, n: int) -> list[ExistingHost]:
    taken = {h.name for h in base.hosts} | {s.name for s in spares}
    out: list[ExistingHost] = []
    i = 0
    while len(out) < n:
        i += 1
        name = f"{fleet.shapes[t].name}-spare-{i:02d}"
        if name not in taken:
            out.append(ExistingHost(name, fleet.shapes[t].name))
    return out


def _dominating_spare(fleet: Fleet, base: FleetPlan, failures: int) -> int | None:
    """The cheapest type with ``failures`` hosts left whose capacities cover every used type's."""
    used = {h.host_type for h in base.hosts}
    best: int | None = None
    for t, s in enumerate(fleet.shapes):
        if _left(fleet, base, [], t) < failures:
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


def _result(
    fleet: Fleet, base: FleetPlan, spares: list[ExistingHost], report: FailoverReport, failures: int
) -> FleetPlan:
    index = {s.name: t for t, s in enumerate(fleet.shapes)}
    spare_hosts: list[PlannedHost] = []
    per_type = dict(base.hosts_per_type)
    extra = 0.0
    for s in spares:
        t = index[s.host_type]
        empty = np.zeros((fleet.catalog.size, len(fleet.shapes[t].node_ids)), dtype=np.int64)
        state = HostState(s.name, t, empty, existing=False)
        spare_hosts.append(describe(state, fleet.shapes[t], fleet.catalog))
        per_type[s.host_type] = per_type.get(s.host_type, 0) + 1
        extra += fleet.shapes[t].cost
    objective = base.objective + extra
    lower = min(objective, base.lower_bound + failures * min(s.cost for s in fleet.shapes))
    gap = relative_gap(objective, lower)
    status: Status = base.status
    if gap == 0.0 and report.survives:
        status = "optimal"
    elif base.status in ("optimal", "feasible"):
        status = "feasible"
    return dataclasses.replace(
        base,
        status=status,
        objective=objective,
        lower_bound=lower,
        gap=gap,
        hosts=(*base.hosts, *spare_hosts),
        hosts_per_type=per_type,
        failures_tolerated=failures,
        spare_hosts=tuple(s.name for s in spares),
        failover=report,
    )
