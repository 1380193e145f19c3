"""``planner fleet``: a fleet file -> fleet sizing, headroom, N+r failover and consolidation.

Each host type's guests are sized and its nodes budgeted exactly as ``planner fit`` does for
a host file (:func:`planner.workflows.fit.packing_inputs`); the fleet questions are answered
by :mod:`planner.capacity.fleet` (column generation over host patterns, HiGHS).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from planner.capacity.fleet import (
    ExistingHost,
    FleetProblem,
    HostType,
    check_failover,
    consolidate,
    headroom,
    plan_fleet,
)
from planner.capacity.fleet.model import FLOAT_SLACK
from planner.capacity.solver import GuestKind
from planner.errors import InputError
from planner.inputs.fleetfile import FleetExisting, FleetFile, load_fleet_file
from planner.results.fleet import FleetResult
from planner.workflows.fit import packing_inputs


def fleet(path: str | Path, *, failures: int | None = None) -> FleetResult:
    """Answer the fleet questions for a fleet file (``failures`` overrides its ``failures:``)."""
    return fleet_of_file(load_fleet_file(path), failures=failures)


def fleet_of_file(spec: FleetFile, *, failures: int | None = None) -> FleetResult:
    """:func:`fleet` of a fleet file already read."""
    r = spec.failures if failures is None else failures
    if not 0 <= r <= 2:
        raise InputError(f"expected 0, 1 or 2; found {r}", field="--failures")
    return answer(fleet_problem(spec), name=spec.path, failures=r, plan=True)


def answer(problem: FleetProblem, *, name: str, failures: int, plan: bool) -> FleetResult:
    """The fleet questions for a problem: the plan for its inventory (when ``plan``), and
    headroom, N+r and consolidation of its existing hosts."""
    place = {k: v for k, v in problem.inventory.items() if v}
    fleet_plan = plan_fleet(problem, failures=failures) if plan and (place or not problem.existing) else None
    existing = dataclasses.replace(problem, inventory={})
    has_hosts = bool(problem.existing)
    return FleetResult(
        fleet_file=name,
        failures=failures,
        profiles={k.name: dict(k.node_demand) | dict(k.host_demand) for k in problem.profiles},
        inventory=dict(problem.inventory),
        existing_hosts=len(problem.existing),
        plan=fleet_plan,
        headroom=headroom(existing) if has_hosts else None,
        failover=check_failover(existing, failures) if has_hosts and failures else None,
        consolidation=consolidate(existing) if has_hosts else None,
    )


def fleet_problem(spec: FleetFile) -> FleetProblem:
    """The fleet file as a :class:`FleetProblem` (one demand per guest on every host type)."""
    kinds: tuple[GuestKind, ...] | None = None
    types = []
    for t in spec.host_types:
        k, nodes, host_capacity = packing_inputs(t.host_file)
        if kinds is None:
            kinds = k
        elif [(a.node_demand, a.host_demand) for a in k] != [(a.node_demand, a.host_demand) for a in kinds]:
            raise InputError(
                "expected host types whose hypervisor and hugepage page size give each guest the same "
                f"demand as on {spec.host_types[0].name!r}; found another on {t.name!r}",
                file=spec.path,
                line=t.origin.line,
                field="host_types.host",
            )
        types.append(HostType(t.name, nodes, host_capacity, t.cost, t.available))
    assert kinds is not None
    by_type = {t.name: t for t in types}
    existing = tuple(_placed(h, by_type[h.host_type], kinds) for h in spec.existing)
    return FleetProblem(kinds, tuple(types), dict(spec.inventory), existing, spec.time_limit_s)


def _placed(host: FleetExisting, host_type: HostType, kinds: tuple[GuestKind, ...]) -> ExistingHost:
    """An existing host's guests on its nodes, as the host would hold them: those pinned to a node
    there, the others first fit (largest first) on what the pinned ones leave."""
    free = {n.node_id: dict(n.capacity) for n in host_type.nodes}
    by_name = {k.name: k for k in kinds}
    counts: dict[tuple[str, int], int] = {}
    for (name, node), n in host.pinned.items():
        _take(free[node], by_name[name].node_demand, n)
        if any(v < 0 for v in free[node].values()):
            raise _too_many(host, host_type, f"more {name!r} on node {node} than it holds", f".{name}.{node}")
        counts[(name, node)] = n
    vcpus = host_type.host_capacity.get("vcpu_count", float("inf"))
    for name, n in [*((g, n) for (g, _), n in host.pinned.items()), *host.guests.items()]:
        vcpus -= n * by_name[name].host_demand.get("vcpu_count", 0)
        if vcpus < -FLOAT_SLACK:
            raise _too_many(host, host_type, f"more {name!r} than its vCPUs hold (cpus x vcpu_ratio)", "")
    for name in sorted(host.guests, key=lambda g: -by_name[g].node_demand.get("memory_kib", 0)):
        kind = by_name[name]
        for _ in range(host.guests[name]):
            found = next((k for k, cap in free.items() if _fits(cap, kind.node_demand)), None)
            if found is None:
                raise _too_many(host, host_type, f"more {name!r} than its nodes hold", "")
            _take(free[found], kind.node_demand, 1)
            counts[(name, found)] = counts.get((name, found), 0) + 1
    return ExistingHost(host.name, host_type.name, counts, host.fixed)


def _take(capacity: dict[str, int], demand: Mapping[str, int], n: int) -> None:
    """Take ``n`` guests' ``demand`` from a node's ``capacity`` (in place)."""
    for r, d in demand.items():
        capacity[r] = capacity.get(r, 0) - n * d


def _too_many(host: FleetExisting, host_type: HostType, found: str, where: str) -> InputError:
    return InputError(
        f"expected guests that fit a {host_type.name} host; found {found}",
        file=host.origin.file,
        line=host.origin.line,
        field=f"existing.{host.name}.guests{where}",
    )


def _fits(capacity: Mapping[str, float], demand: Mapping[str, int]) -> bool:
    return all(capacity.get(r, 0) >= d for r, d in demand.items() if d)


__all__ = ["fleet", "fleet_of_file", "fleet_problem"]
