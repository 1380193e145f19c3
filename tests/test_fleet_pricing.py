"""The fleet solver's pieces against brute force: node knapsacks, exact pricing, and the plan's bound."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from planner.capacity.fleet.exact import price_exactly
from planner.capacity.fleet.knapsack import fill, largest_bound, solution
from planner.capacity.fleet.model import FleetProblem, HostType, catalog_of, shape_of
from planner.capacity.fleet.plan import plan_fleet
from planner.capacity.solver import GuestKind, NodeCapacity


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7), st.integers(0, 3), st.floats(0.01, 1.0)), min_size=1, max_size=4),
    st.tuples(st.integers(0, 30), st.integers(0, 6)),
    st.booleans(),
    st.lists(st.integers(0, 9), min_size=4, max_size=4),
)
def test_node_table_optimum_and_trace_match_brute_force(
    items: list[tuple[int, int, float]], size_pair: tuple[int, int], unbounded: bool, caps: list[int]
) -> None:
    weights = np.array([[max(a, 1 if b == 0 else 0), b] for a, b, _ in items], dtype=np.int64)
    values = np.array([v for _, _, v in items])
    size = np.array(size_pair, dtype=np.int64)
    alone = largest_bound(weights, size)
    # items alone up to what fits take the one-pass (unbounded) update; the others binary pieces
    bounds = alone.copy() if unbounded else np.minimum(np.array(caps[: len(items)]), alone)
    table = fill(weights, values, bounds, size, trace=True)
    best = max(
        float(np.array(n) @ values)
        for n in itertools.product(*(range(int(b) + 1) for b in bounds))
        if (np.array(n) @ weights <= size).all()
    )
    assert abs(table.value - best) < 1e-9
    counts = solution(table, size)
    assert (counts <= bounds).all() and (counts @ weights <= size).all()
    assert abs(float(counts @ values) - best) < 1e-9


def _kinds(data: list[tuple[int, int]]) -> tuple[GuestKind, ...]:
    return tuple(GuestKind(f"p{i}", {"memory_kib": m}, {"vcpu_count": v}) for i, (m, v) in enumerate(data))


TWO_NODES = HostType(
    "s",
    (NodeCapacity(0, {"memory_kib": 1000}), NodeCapacity(1, {"memory_kib": 1000})),
    {"vcpu_count": 6},
    4.0,
)
ONE_NODE = HostType("m", (NodeCapacity(0, {"memory_kib": 1500}),), {"vcpu_count": 8}, 6.0)

profile_st = st.lists(st.tuples(st.integers(150, 900), st.integers(1, 3)), min_size=1, max_size=3)


@settings(max_examples=15, deadline=None)
@given(profile_st, st.lists(st.floats(0.1, 2.0), min_size=3, max_size=3))
def test_exact_pricing_finds_the_best_pattern(data: list[tuple[int, int]], duals: list[float]) -> None:
    catalog = catalog_of(_kinds(data), (TWO_NODES,))
    shape = shape_of(TWO_NODES, catalog)
    pi = np.array(duals[: catalog.size])
    caps = np.full(catalog.size, 5, dtype=np.int64)
    grid = np.indices((7,) * (catalog.size * 2)).reshape(catalog.size * 2, -1).T  # every count 0..6
    counts = grid.reshape(-1, catalog.size, 2)
    mem = np.einsum("hpk,p->hk", counts, catalog.node_demand[:, 0])
    totals = counts.sum(axis=2)
    ok = (mem <= 1000).all(axis=1) & (totals @ catalog.host_demand[:, 0] <= 6) & (totals <= caps).all(axis=1)
    best = float((totals[ok] @ pi).max())
    priced = price_exactly(catalog, shape, pi, caps, 5.0)
    assert priced.counts is not None
    assert abs(priced.value - best) <= 1e-5 * best + 1e-9
    assert priced.upper >= best - 1e-9


def _optimum(problem: FleetProblem, most: int) -> float:
    """Least cost by one compact integer program: up to ``most`` hosts of each type, a variable
    per host, profile and node (independent of the pattern formulation)."""
    kinds, types = problem.profiles, problem.host_types
    hosts = [t for t in types for _ in range(most)]
    x = [(h, p, k) for h, t in enumerate(hosts) for p in range(len(kinds)) for k in range(len(t.nodes))]
    n = len(hosts) + len(x)
    rows, lo, hi = [], [], []
    for h, t in enumerate(hosts):
        for k, node in enumerate(t.nodes):
            row = np.zeros(n)
            row[h] = -node.capacity["memory_kib"]
            for i, (hh, p, kk) in enumerate(x):
                if hh == h and kk == k:
                    row[len(hosts) + i] = kinds[p].node_demand["memory_kib"]
            rows.append(row), lo.append(-np.inf), hi.append(0.0)
        row = np.zeros(n)
        row[h] = -t.host_capacity["vcpu_count"]
        for i, (hh, p, _) in enumerate(x):
            if hh == h:
                row[len(hosts) + i] = kinds[p].host_demand["vcpu_count"]
        rows.append(row), lo.append(-np.inf), hi.append(0.0)
    for p, kind in enumerate(kinds):
        row = np.zeros(n)
        for i, (_, pp, _) in enumerate(x):
            if pp == p:
                row[len(hosts) + i] = 1
        need = float(problem.inventory.get(kind.name, 0))
        rows.append(row), lo.append(need), hi.append(need)
    cost = np.concatenate([[t.cost for t in hosts], np.zeros(len(x))])
    upper = np.concatenate([np.ones(len(hosts)), np.full(len(x), np.inf)])
    res = milp(
        cost,
        integrality=np.ones(n),
        bounds=Bounds(0, upper),
        constraints=[LinearConstraint(np.array(rows), lo, hi)],
        options={"mip_rel_gap": 0.0},
    )
    assert res.status == 0
    return float(res.fun)


@settings(max_examples=10, deadline=None)
@given(profile_st, st.lists(st.integers(0, 5), min_size=3, max_size=3))
@example([(150, 3), (150, 1)], [4, 2, 0])  # HiGHS's least cost 9.999999999999998 for a plan of 10
def test_the_bound_never_exceeds_the_least_cost_and_optimal_means_optimal(
    data: list[tuple[int, int]], counts: list[int]
) -> None:
    kinds = _kinds(data)
    inventory = {p.name: c for p, c in zip(kinds, counts, strict=False)}
    problem = FleetProblem(kinds, (TWO_NODES, ONE_NODE), inventory, time_limit_s=20)
    plan = plan_fleet(problem)
    best = _optimum(problem, most=max(1, sum(inventory.values())))
    assert plan.lower_bound <= best + 1e-9 <= plan.objective + 2e-9
    assert (plan.status == "optimal") == (plan.objective == plan.lower_bound)
    if plan.status == "optimal":
        assert plan.objective == pytest.approx(best)  # best: HiGHS's float (9.999999999999998 for 10)
