"""``planner fleet --from-check URI...``: the running fleet read from live hosts, read-only.

Each host is read by ``planner check`` (:func:`planner.workflows.check.check`: libvirt opened
read-only, each NUMA node's capacity for guests after the host kernel and reserves, each
active domain's committed memory: its configured size plus the hypervisor's per-guest
overhead). Hosts with the same node capacities are one host type; active domains with the
same committed memory and vCPUs are one profile (``live-<MiB>mib-<n>vcpu``), placed on the
node that holds most of it. libvirt reports no host CPU count here, so vCPUs are not a
limit of these hosts (said in the result's notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from planner.capacity.fleet import ExistingHost, FleetProblem, HostType
from planner.capacity.solver import GuestKind, NodeCapacity
from planner.errors import InputError, LiveQueryError, PlannerError
from planner.results.check import CheckDomain, HostCheck
from planner.results.fleet import FleetResult
from planner.units import KIB_PER_MIB, format_kib
from planner.workflows.check import check
from planner.workflows.fleet import answer


def fleet_from_check(
    uris: Sequence[str],
    *,
    host_path: str | Path | None = None,
    failures: int = 0,
    time_limit_s: float = 60.0,
) -> FleetResult:
    """Headroom, N+r and consolidation of the live hosts at ``uris`` (module docstring)."""
    result = check(uris, host_path)
    for h in result.hosts:
        if h.error is not None:
            if h.bad_input:
                raise InputError(h.error, field=h.uri)
            raise LiveQueryError(f"{h.uri}: {h.error}")
    problem = live_problem(result.hosts, time_limit_s)
    return answer(problem, name=" ".join(uris), failures=failures, plan=False)


def _profile(d: CheckDomain) -> str:
    return f"live-{-(-d.committed_kib // KIB_PER_MIB)}mib-{d.vcpus}vcpu"


def live_problem(hosts: Sequence[HostCheck], time_limit_s: float) -> FleetProblem:
    """The live hosts as existing hosts of their host types, their domains as profiles."""
    kinds: dict[str, GuestKind] = {}
    types: dict[tuple[int, ...], HostType] = {}
    existing = []
    names = [h.hostname or h.uri for h in hosts]
    for h, shown in zip(hosts, names, strict=True):
        over = [n for n in h.nodes if n.committed_kib > n.capacity_kib]
        if over:
            raise PlannerError(
                f"{h.uri}: node {over[0].node_id} is over-committed ({format_kib(over[0].committed_kib)} "
                f"committed, capacity {format_kib(over[0].capacity_kib)}); the fleet questions need hosts "
                f"within capacity (see planner check {h.uri})"
            )
        caps = tuple(n.capacity_kib for n in h.nodes)
        if caps not in types:
            nodes = tuple(NodeCapacity(n.node_id, {"memory_kib": n.capacity_kib}) for n in h.nodes)
            types[caps] = HostType(f"live-{len(types) + 1}", nodes, {}, 1.0, 0)
        counts: dict[tuple[str, int], int] = {}
        for d in h.domains:
            if not d.active or d.committed_kib <= 0:
                continue
            name = _profile(d)
            kinds.setdefault(name, GuestKind(name, {"memory_kib": d.committed_kib}, {}))
            node = max(d.node_kib, key=lambda k: d.node_kib[k]) if d.node_kib else h.nodes[0].node_id
            counts[(name, node)] = counts.get((name, node), 0) + 1
        existing.append(ExistingHost(shown if names.count(shown) == 1 else h.uri, types[caps].name, counts))
    return FleetProblem(tuple(kinds.values()), tuple(types.values()), {}, tuple(existing), time_limit_s)
