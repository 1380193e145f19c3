"""The packing solver: known-optimum instances and properties (overhead-formulas-and-peers.md §3)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.capacity.binding import binding_text, natural_key
from planner.capacity.solver import (
    GuestKind,
    NodeCapacity,
    PackingProblem,
    max_count_one_kind,
    min_bins,
    solve,
)
from planner.errors import PlannerError


def test_vector_bin_packing_known_optimum_33() -> None:
    # fdabrandao/vpsolver examples/vpsolver/example_vbp.py: W=(5180, 9), `assert obj == 33`
    sizes = [(1120, 1), (1250, 1), (520, 1), (1066, 1), (1000, 1), (1150, 1)]
    demands = [9, 5, 91, 18, 11, 64]
    plan = min_bins(sizes, demands, (5180, 9))
    assert plan.status == "optimal"
    assert plan.bin_count == 33
    # every bin within capacity, every item placed
    for counts in plan.counts:
        assert sum(c * s[0] for c, s in zip(counts, sizes, strict=True)) <= 5180
        assert sum(counts) <= 9
    assert [sum(b[t] for b in plan.counts) for t in range(len(sizes))] == demands


def test_one_dimensional_bin_packing_known_optimum_5() -> None:
    # rtonoue/pulp2mat test_binpack: sizes [7,3,3,1,6,8,4,9,5,2], capacity 10 -> 5 bins
    counter = Counter([7, 3, 3, 1, 6, 8, 4, 9, 5, 2])
    sizes = sorted(counter)
    plan = min_bins([(s,) for s in sizes], [counter[s] for s in sizes], (10,))
    assert plan.status == "optimal"
    assert plan.bin_count == 5


def test_packing_counts_formulation_on_the_2d_instance() -> None:
    # The same 2-D instance as a host packing: 33 identical nodes (5180 MiB, 9 guest slots)
    # hold all 198 items, and 32 nodes cannot (the known optimum above).
    sizes = [1120, 1250, 520, 1066, 1000, 1150]
    demands = [9, 5, 91, 18, 11, 64]

    def fits(node_count: int) -> bool:
        kinds = tuple(
            GuestKind(f"t{t}", {"memory_mib": s, "slots": 1}, min_count=d, max_count=d)
            for t, (s, d) in enumerate(zip(sizes, demands, strict=True))
        )
        nodes = tuple(NodeCapacity(k, {"memory_mib": 5180, "slots": 9}) for k in range(node_count))
        return solve(PackingProblem(kinds, nodes, time_limit_s=60)).status == "optimal"

    assert fits(33)
    assert not fits(32)


def test_min_counts_that_do_not_fit_are_infeasible() -> None:
    kinds = (GuestKind("big", {"memory_kib": 600}, min_count=2),)
    nodes = (NodeCapacity(0, {"memory_kib": 1000}), NodeCapacity(1, {"memory_kib": 500}))
    plan = solve(PackingProblem(kinds, nodes))
    assert plan.status == "infeasible"
    assert plan.total_guests == 0
    # 1200 in total fits 1500 in total, but no node holds a second one
    assert plan.binding == ("nodes (the minimum counts do not split across the nodes)",)


def test_binding_names_max_vcpu_and_memory() -> None:
    kinds = (
        GuestKind("web", {"memory_kib": 100}, {"vcpu_count": 1}, max_count=3),
        GuestKind("db", {"memory_kib": 300}, {"vcpu_count": 2}),
    )
    nodes = (NodeCapacity(0, {"memory_kib": 1000}),)
    plan = solve(PackingProblem(kinds, nodes, host_capacity={"vcpu_count": 100}))
    assert plan.status == "optimal"
    assert plan.count("web") == 3 and plan.count("db") == 2  # 3*100 + 2*300 = 900 <= 1000
    assert plan.blocked_by["web"] == ("web.max",)
    assert plan.blocked_by["db"] == ("node0.memory_kib",)
    tight = solve(PackingProblem(kinds, nodes, host_capacity={"vcpu_count": 4}))
    assert tight.total_guests == 3  # 4 vCPUs: 3 web (1 each), and db needs 2 more
    assert tight.blocked_by["db"] == ("host.vcpu_count",)


def test_max_weight_prefers_weight() -> None:
    kinds = (
        GuestKind("small", {"memory_kib": 100}, weight=1),
        GuestKind("large", {"memory_kib": 250}, weight=5),
    )
    nodes = (NodeCapacity(0, {"memory_kib": 1000}),)
    by_count = solve(PackingProblem(kinds, nodes, objective="max_guests"))
    by_weight = solve(PackingProblem(kinds, nodes, objective="max_weight"))
    assert by_count.count("small") == 10
    assert by_weight.count("large") == 4 and by_weight.objective_value == 20


kind_st = st.tuples(
    st.integers(1, 5000), st.integers(1, 8), st.integers(0, 3), st.one_of(st.none(), st.integers(3, 40))
)


def _problem(
    kinds_data: list[tuple[int, int, int, int | None]], caps: list[int], vcpus: int
) -> PackingProblem:
    kinds = tuple(
        GuestKind(f"p{i}", {"memory_kib": m}, {"vcpu_count": v}, min_count=lo, max_count=hi)
        for i, (m, v, lo, hi) in enumerate(kinds_data)
    )
    nodes = tuple(NodeCapacity(k, {"memory_kib": c}) for k, c in enumerate(caps))
    return PackingProblem(kinds, nodes, host_capacity={"vcpu_count": vcpus})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(kind_st, min_size=1, max_size=4),
    st.lists(st.integers(0, 60000), min_size=1, max_size=4),
    st.integers(1, 200),
)
def test_never_over_commits_a_node(
    kinds_data: list[tuple[int, int, int, int | None]], caps: list[int], vcpus: int
) -> None:
    problem = _problem(kinds_data, caps, vcpus)
    plan = solve(problem)
    for node in problem.nodes:
        assert plan.node_used[node.node_id]["memory_kib"] <= node.capacity["memory_kib"]
    assert plan.host_used["vcpu_count"] <= vcpus
    if plan.status != "infeasible":
        for kind in problem.kinds:
            n = plan.count(kind.name)
            assert n >= kind.min_count
            assert kind.max_count is None or n <= kind.max_count


@settings(max_examples=40, deadline=None)
@given(
    st.lists(kind_st, min_size=1, max_size=4),
    st.lists(st.integers(0, 60000), min_size=1, max_size=4),
    st.integers(0, 3),
    st.integers(1, 20000),
)
def test_more_memory_never_fits_fewer_guests(
    kinds_data: list[tuple[int, int, int, int | None]], caps: list[int], node: int, extra_kib: int
) -> None:
    kinds_data = [(m, v, 0, hi) for m, v, _, hi in kinds_data]  # no minimums: always feasible
    before = solve(_problem(kinds_data, caps, 10_000))
    bigger = list(caps)
    bigger[node % len(caps)] += extra_kib
    after = solve(_problem(kinds_data, bigger, 10_000))
    assert before.status == after.status == "optimal"
    assert after.total_guests >= before.total_guests


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10**7), st.integers(1, 10**9), st.integers(1, 16), st.integers(1, 10**4))
def test_one_profile_one_node_matches_the_closed_form(
    demand_kib: int, capacity_kib: int, vcpu_count: int, vcpu_capacity: int
) -> None:
    kinds = (GuestKind("only", {"memory_kib": demand_kib}, {"vcpu_count": vcpu_count}),)
    nodes = (NodeCapacity(0, {"memory_kib": capacity_kib}),)
    plan = solve(PackingProblem(kinds, nodes, host_capacity={"vcpu_count": vcpu_capacity}))
    expected = max_count_one_kind([capacity_kib, vcpu_capacity], [demand_kib, vcpu_count])
    assert plan.total_guests == expected


def test_max_guests_is_exact_on_a_host_of_more_than_10000_guests() -> None:
    # A relative gap of 1e-4 stopped this instance one guest short of the optimum while
    # calling it optimal (33,290 of 33,291); a whole-guest objective must be proven exact.
    kinds = (
        GuestKind("a", {"memory_kib": 188303}, {"vcpu_count": 1}, max_count=200),
        GuestKind("b", {"memory_kib": 2330848}, {"vcpu_count": 1}, max_count=200),
        GuestKind("c", {"memory_kib": 968483}, {"vcpu_count": 7}, min_count=5),
    )
    caps = (4613734400, 11744051200, 7549747200, 8178892800)
    nodes = tuple(NodeCapacity(k, {"memory_kib": c}) for k, c in enumerate(caps))
    plan = solve(PackingProblem(kinds, nodes, host_capacity={"vcpu_count": 579765}))
    assert plan.status == "optimal"
    assert plan.total_guests > 10_000
    assert plan.gap * plan.objective_value < 1  # proven to within less than one guest


def test_a_time_limit_with_no_plan_is_not_called_infeasible() -> None:
    # The 2-D instance above needs a search; with no time for one HiGHS has no plan, which
    # says nothing about whether the minimum counts fit.
    sizes = [1120, 1250, 520, 1066, 1000, 1150]
    demands = [9, 5, 91, 18, 11, 64]
    kinds = tuple(
        GuestKind(f"t{t}", {"memory_mib": s, "slots": 1}, min_count=d, max_count=d)
        for t, (s, d) in enumerate(zip(sizes, demands, strict=True))
    )
    nodes = tuple(NodeCapacity(k, {"memory_mib": 5180, "slots": 9}) for k in range(33))
    with pytest.raises(
        PlannerError, match=r"^the solver \(HiGHS\) found no plan within its 1e-06 s time limit"
    ):
        solve(PackingProblem(kinds, nodes, time_limit_s=1e-6))


def test_binding_lists_nodes_in_numeric_order_and_in_words() -> None:
    kinds = (GuestKind("g", {"memory_kib": 100}),)
    nodes = tuple(NodeCapacity(k, {"memory_kib": 150}) for k in range(12))
    plan = solve(PackingProblem(kinds, nodes))
    assert plan.binding == tuple(f"node{k}.memory_kib" for k in range(12))  # node2 before node10
    assert [binding_text(b) for b in plan.binding[-3:]] == [
        "node 9 memory",
        "node 10 memory",
        "node 11 memory",
    ]
    assert binding_text("nodes.memory_kib") == "memory of all nodes together"
    assert binding_text("host.vcpu_count") == "host vCPUs"
    assert sorted(["node10", "node9", "node1"], key=natural_key) == ["node1", "node9", "node10"]
