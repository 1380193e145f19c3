"""``planner fleet --from-check URI...``: the running fleet read from live hosts, read-only.

Each host is read by ``planner check`` (:func:`planner.workflows.check.check`: libvirt opened
read-only, each NUMA node's capacity for guests after the host kernel and reserves, each
active domain's committed memory: its configured size plus the hypervisor's per-guest
overhead). Hosts with the same node capacities and vCPU capacity are one host type; active
domains with the same committed memory and vCPUs are one profile (``live-<MiB>mib-<n>vcpu``),
placed on the node that holds most of it. As in ``planner check``, a host may run as many
vCPUs as its CPUs (libvirt's count, or the ``--host`` file's ``cpus``) times the vCPU ratio
(the ``--host`` file's ``vcpu_ratio``, else 16), and each domain takes its vCPUs from that.
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
    types: dict[tuple[tuple[int, ...], float], HostType] = {}
    existing = []
    names = [h.hostname or h.uri for h in hosts]
    for h, shown in zip(hosts, names, strict=True):
        _within_capacity(h)
        caps = (tuple(n.capacity_kib for n in h.nodes), h.vcpu_capacity)
        if caps not in types:
            nodes = tuple(NodeCapacity(n.node_id, {"memory_kib": n.capacity_kib}) for n in h.nodes)
            types[caps] = HostType(f"live-{len(types) + 1}", nodes, {"vcpu_count": h.vcpu_capacity}, 1.0, 0)
        counts: dict[tuple[str, int], int] = {}
        for d in _running(h):
            name = _profile(d)
            kinds.setdefault(name, GuestKind(name, {"memory_kib": d.committed_kib}, {"vcpu_count": d.vcpus}))
            node = max(d.node_kib, key=lambda k: d.node_kib[k]) if d.node_kib else h.nodes[0].node_id
            counts[(name, node)] = counts.get((name, node), 0) + 1
        existing.append(ExistingHost(shown if names.count(shown) == 1 else h.uri, types[caps].name, counts))
    return FleetProblem(tuple(kinds.values()), tuple(types.values()), {}, tuple(existing), time_limit_s)


def _running(h: HostCheck) -> list[CheckDomain]:
    """The domains that take capacity: the active ones that commit memory."""
    return [d for d in h.domains if d.active and d.committed_kib > 0]


def _within_capacity(h: HostCheck) -> None:
    """Refuse a host whose running domains take more than it has (a node's memory, or its vCPUs)."""
    over = [n for n in h.nodes if n.committed_kib > n.capacity_kib]
    if over:
        raise PlannerError(
            f"{h.uri}: node {over[0].node_id} is over-committed ({format_kib(over[0].committed_kib)} "
            f"committed, capacity {format_kib(over[0].capacity_kib)}); the fleet questions need hosts "
            f"within capacity (see planner check {h.uri})"
        )
    vcpus = sum(d.vcpus for d in _running(h))
    if vcpus > h.vcpu_capacity:
        raise PlannerError(
            f"{h.uri}: its running domains have {vcpus:,} vCPUs, more than the {h.vcpu_capacity:,g} it "
            f"allows ({h.cpu_count:,} CPUs x vCPU ratio {h.vcpu_capacity / max(1, h.cpu_count):g}); the "
            "fleet questions need hosts within capacity (a --host file's host.vcpu_ratio sets the ratio)"
        )
