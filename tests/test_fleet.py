"""Fleet sizing on instances with published optima (tests/data/binpacking/README.md)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from planner.capacity.fleet import headroom, plan_fleet
from planner.capacity.fleet.model import ExistingHost, FleetProblem, HostType
from planner.capacity.fleet.results import FleetPlan
from planner.capacity.solver import GuestKind, NodeCapacity, PackingProblem, solve
from planner.errors import InfeasibleError

DATA = Path(__file__).parent / "data" / "binpacking"


def _read_instance(name: str) -> tuple[int, list[int], int | None]:
    """(capacity, item sizes, known best) of a GGA-CGT (``//`` comments, decimals) or BPPLIB file.

    GGA-CGT's triplet sizes have one decimal (``36.60``): they are scaled by 10 to integers.
    """
    lines = [ln.strip() for ln in (DATA / name).read_text().splitlines() if ln.strip()]
    if lines[0].startswith("//"):
        values = [ln for ln in lines if not ln.startswith("//")]
        count, capacity, best = int(values[0]), Decimal(values[1]), int(values[2])
        items = [int(Decimal(v) * 10) for v in values[3:]]
        assert len(items) == count
        return int(capacity * 10), items, best
    count, capacity = int(lines[0]), int(lines[1])
    items = [int(v) for v in lines[2:]]
    assert len(items) == count
    return capacity, items, None


def _one_dimensional(capacity: int, items: list[int]) -> FleetProblem:
    sizes = Counter(items)
    profiles = tuple(GuestKind(f"s{s}", {"size": s}) for s in sorted(sizes))
    host = HostType("bin", (NodeCapacity(0, {"size": capacity}),))
    return FleetProblem(profiles, (host,), {f"s{s}": n for s, n in sizes.items()}, time_limit_s=120)


def _check_plan(problem: FleetProblem, plan: FleetPlan) -> None:
    """Independent of the solver: every guest placed once, no node or host over its capacity."""
    kinds = {p.name: p for p in problem.profiles}
    types = {t.name: t for t in problem.host_types}
    placed: Counter[str] = Counter()
    for host in plan.hosts:
        t = types[host.host_type]
        for node in t.nodes:
            for r, cap in node.capacity.items():
                used = sum(
                    n * kinds[p].node_demand.get(r, 0)
                    for (p, k), n in host.counts.items()
                    if k == node.node_id
                )
                assert used <= cap, (host.name, node.node_id, r)
        for s, cap in t.host_capacity.items():
            assert sum(n * kinds[p].host_demand.get(s, 0) for (p, _), n in host.counts.items()) <= cap + 1e-9
        for (p, _), n in host.counts.items():
            placed[p] += n
    existing: Counter[str] = Counter()
    for h in problem.existing:
        for (p, _), n in h.counts.items():
            existing[p] += n
    assert {p: n for p, n in placed.items() if n} == {
        p: problem.inventory.get(p, 0) + existing[p]
        for p in kinds
        if problem.inventory.get(p, 0) + existing[p]
    }


@pytest.mark.parametrize(
    ("name", "optimum"),
    [
        ("t60_00.txt", 20),  # Falkenauer triplets: optimum n/3 by construction (OR-Library binpack5)
        ("t120_00.txt", 40),  # OR-Library binpack6
        ("Falkenauer_u120_00.txt", 48),  # BPPLIB: lb = ub = 48 (BPPLib.jl test/runtests.jl)
    ],
)
def test_one_dimensional_instances_reach_their_published_optimum(name: str, optimum: int) -> None:
    capacity, items, best = _read_instance(name)
    assert best in (None, optimum)  # the file's own "Known Best Solution"
    problem = _one_dimensional(capacity, items)
    plan = plan_fleet(problem)
    assert plan.status == "optimal"
    assert plan.objective == plan.lower_bound == optimum
    assert plan.new_host_count == optimum
    assert plan.ffd_hosts >= optimum
    _check_plan(problem, plan)


def test_vpsolver_two_dimensional_example_needs_33_bins() -> None:
    # fdabrandao/vpsolver examples/vpsolver/example_vbp.py: W=(5180, 9), `assert obj == 33`
    sizes = [1120, 1250, 520, 1066, 1000, 1150]
    demands = [9, 5, 91, 18, 11, 64]
    profiles = tuple(GuestKind(f"t{i}", {"memory_mib": s, "slots": 1}) for i, s in enumerate(sizes))
    host = HostType("bin", (NodeCapacity(0, {"memory_mib": 5180, "slots": 9}),))
    problem = FleetProblem(profiles, (host,), {f"t{i}": d for i, d in enumerate(demands)})
    plan = plan_fleet(problem)
    assert (plan.status, plan.objective, plan.lower_bound) == ("optimal", 33, 33)
    _check_plan(problem, plan)


def _two_node_types() -> tuple[HostType, ...]:
    small = HostType(
        "small",
        (NodeCapacity(0, {"memory_kib": 1000}), NodeCapacity(1, {"memory_kib": 1000})),
        {"vcpu_count": 8},
        3,
    )
    big = HostType(
        "big",
        (NodeCapacity(0, {"memory_kib": 2000}), NodeCapacity(1, {"memory_kib": 2000})),
        {"vcpu_count": 16},
        5,
        2,
    )
    return small, big


def test_least_cost_mixes_types_and_respects_availability() -> None:
    profiles = (
        GuestKind("a", {"memory_kib": 700}, {"vcpu_count": 1}),
        GuestKind("b", {"memory_kib": 300}, {"vcpu_count": 2}),
    )
    problem = FleetProblem(profiles, _two_node_types(), {"a": 9, "b": 9})
    plan = plan_fleet(problem)
    _check_plan(problem, plan)
    # A node holds at most one a + one b (700 + 300 = 1000 KiB) on a small host, two of each on
    # a big one, so a pair costs 1.5 on small hosts and 1.25 on big ones (of which there are
    # 2, for 8 pairs): the optimum is 2 big + 1 small = 13. The linear bound is 8 x 1.25 +
    # 1.5 = 11.5 -> 12: the plan is optimal but cannot be proven so, and says so.
    assert plan.hosts_per_type == {"big": 2, "small": 1}
    assert (plan.objective, plan.lower_bound, plan.status) == (13, 12, "feasible")
    assert plan.gap == pytest.approx(1 / 13)


def test_existing_free_capacity_is_used_before_new_hosts() -> None:
    small, big = _two_node_types()
    profiles = (GuestKind("a", {"memory_kib": 400}, {"vcpu_count": 1}),)
    existing = (ExistingHost("old-1", "small", {("a", 0): 1}),)
    problem = FleetProblem(profiles, (small, big), {"a": 3}, existing)
    plan = plan_fleet(problem)
    assert plan.new_host_count == 0 and plan.objective == 0 and plan.status == "optimal"
    assert plan.hosts[0].name == "old-1" and plan.hosts[0].guest_count == 4
    _check_plan(problem, plan)
    bigger = dataclasses.replace(problem, inventory={"a": 5})  # 1 + 5 = 6 > 4 per small host
    plan = plan_fleet(bigger)
    assert plan.new_host_count == 1 and plan.hosts_per_type == {"small": 1}
    _check_plan(bigger, plan)


def test_too_few_hosts_is_proven_infeasible() -> None:
    small, big = _two_node_types()
    limited = (dataclasses.replace(small, available=1), big)
    profiles = (GuestKind("a", {"memory_kib": 1000}),)
    plan = plan_fleet(FleetProblem(profiles, limited, {"a": 11}))  # 2 + 2 x 4 = 10 fit
    assert plan.status == "infeasible"
    assert plan_fleet(FleetProblem(profiles, limited, {"a": 10})).status == "optimal"


def test_a_profile_that_fits_no_host_type_is_bad_input() -> None:
    profiles = (GuestKind("huge", {"memory_kib": 5000}),)
    with pytest.raises(
        InfeasibleError, match=r"^inventory.huge: expected a host type with a node that holds one guest"
    ):
        plan_fleet(FleetProblem(profiles, _two_node_types(), {"huge": 1}))


def test_json_names_status_bound_and_hosts() -> None:
    profiles = (GuestKind("a", {"memory_kib": 500}, {"vcpu_count": 1}),)
    out = plan_fleet(FleetProblem(profiles, _two_node_types(), {"a": 8})).to_json()  # one big host
    assert out["status"] == "optimal" and out["gap"] == 0
    assert out["objective"] == out["lower_bound"]
    assert out["hosts_per_type"] == {"big": 1} and out["objective"] == 5
    assert sum(h["guest_count"] for h in out["hosts"]) == 8
    assert set(out["binding"]) <= {"node0.memory_kib", "node1.memory_kib", "host.vcpu_count"}


def test_headroom_matches_the_single_host_solver() -> None:
    small, big = _two_node_types()
    profiles = (
        GuestKind("a", {"memory_kib": 300}, {"vcpu_count": 3}),
        GuestKind("b", {"memory_kib": 120}, {"vcpu_count": 1}),
    )
    existing = (
        ExistingHost("h1", "small", {("a", 0): 1, ("b", 1): 3}),
        ExistingHost("h2", "big", {("b", 0): 10}),
        ExistingHost("h3", "small"),
    )
    room = headroom(FleetProblem(profiles, (small, big), existing=existing))
    types = {"small": small, "big": big}
    for host, spec in zip(room.hosts, existing, strict=True):
        t = types[spec.host_type]
        for p in profiles:
            nodes = tuple(
                NodeCapacity(
                    n.node_id,
                    {
                        "memory_kib": n.capacity["memory_kib"]
                        - sum(
                            c * q.node_demand["memory_kib"]
                            for (name, k), c in spec.counts.items()
                            for q in profiles
                            if q.name == name and k == n.node_id
                        )
                    },
                )
                for n in t.nodes
            )
            vcpus = t.host_capacity["vcpu_count"] - sum(
                c * q.host_demand["vcpu_count"]
                for (name, _), c in spec.counts.items()
                for q in profiles
                if q.name == name
            )
            expected = solve(PackingProblem((p,), nodes, {"vcpu_count": vcpus})).total_guests
            assert host.per_profile[p.name] == expected, (host.name, p.name)
    assert room.total == {p.name: sum(h.per_profile[p.name] for h in room.hosts) for p in profiles}
    assert room.hosts[0].blocked_by["a"]  # something always stops the next guest


def test_a_host_type_without_a_vcpu_limit_plans_and_checks_failover() -> None:
    """A host resource a type does not name is unlimited there (it overflowed integer counts)."""
    from planner.capacity.fleet import check_failover

    kinds = (GuestKind("a", {"memory_kib": 300}, {"vcpu_count": 2}),)
    open_type = HostType("open", (NodeCapacity(0, {"memory_kib": 1000}),), {}, 1.0)
    problem = FleetProblem(kinds, (open_type,), {"a": 7})
    plan = plan_fleet(problem)
    assert plan.status == "optimal" and plan.objective == 3  # 3 per host by memory, vCPUs unlimited
    rep = check_failover(dataclasses.replace(problem, existing=plan.as_existing(), inventory={}), 1)
    assert rep.survives is False  # a failed host's 3 guests do not fit the others' 2 free slots
