"""``planner fleet`` as text: the plan, headroom, failure scenarios and consolidation."""

from __future__ import annotations

import math
from collections.abc import Mapping

from planner.report.text import count_text
from planner.results.fleet import FailoverReport, FleetPlan, FleetResult
from planner.units import format_kib


def _num(value: float) -> str:
    if math.isinf(value):
        return "none found"
    return f"{value:g}"


def bounds_label(plan: FleetPlan) -> str:
    """The plan's proven lower bound and, named for what it is, its LP relaxation's value: the
    cost of placing the inventory with hosts bought in fractions, before any N+r spare hosts."""
    lp = "inf" if math.isinf(plan.lp_value) else f"{plan.lp_value:.4g}"
    before = " before spares" if plan.failures_tolerated else ""
    lp_of = f"fractional hosts for the inventory{before}"
    return f"lower bound {_num(plan.lower_bound)}; LP relaxation {lp}, {lp_of}"


def amounts_label(amounts: Mapping[str, float]) -> str:
    """Resource amounts for a reader: sizes (``*_kib``) in binary units, vCPUs as a count; zeros left out."""
    shown = []
    for name, value in sorted(amounts.items()):
        if not value:
            continue
        if name.endswith("_kib"):
            shown.append(f"{name.removesuffix('_kib')} {format_kib(value)}")
        elif name == "vcpu_count":
            shown.append(f"{value:,.0f} vCPUs")
        else:
            shown.append(f"{name} {value:,g}")
    return ", ".join(shown) or "nothing"


def _plan_lines(plan: FleetPlan) -> list[str]:
    types = ", ".join(f"{n} x {t}" for t, n in sorted(plan.hosts_per_type.items())) or "no new hosts"
    lines = [
        f"Plan: {plan.status}, cost {_num(plan.objective)} ({bounds_label(plan)}); new hosts: {types}",
        f"  first fit decreasing{' (the inventory, before spares)' if plan.failures_tolerated else ''}: "
        f"cost {_num(plan.ffd_objective)}, {count_text(plan.ffd_hosts, 'new host')}; "
        f"solved in {plan.solve_s:.2f} s",
    ]
    if plan.failures_tolerated:
        spares = ", ".join(plan.spare_hosts) or "none"
        lines.append(f"  survives any {plan.failures_tolerated} failed hosts; spare hosts added: {spares}")
    if plan.binding:
        binds = ", ".join(f"{k} on {n} hosts" for k, n in sorted(plan.binding.items()))
        lines.append(f"  what binds: {binds}")
    lines.append(f"  {'host':<24} {'type':<14} guests  fill (per node: memory)")
    for h in plan.hosts:
        fill = " ".join(f"n{k}:{f.get('memory_kib', 0.0):.0%}" for k, f in sorted(h.node_fill.items()))
        lines.append(f"  {h.name:<24} {h.host_type:<14} {h.guest_count:>6}  {fill}")
    return lines


def _failover_lines(rep: FailoverReport) -> list[str]:
    verdict = {True: "survives", False: "does NOT survive", None: "not proven"}[rep.survives]
    lines = [
        f"N+{rep.failures}: the existing fleet {verdict} ({rep.host_sets_checked:,} of {rep.host_sets:,} "
        f"sets of failed hosts checked in {len(rep.scenarios)} scenarios, {rep.classes} classes)",
    ]
    if rep.spare_hosts_needed:
        lines.append(f"  spare hosts needed: {rep.spare_hosts_needed} x {rep.spare_host_type}")
    lines.append(f"  held back (largest displaced demand): {amounts_label(rep.held_back)}")
    lines.append(f"  {'failed hosts':<36} {'verdict':<9} by      displaced")
    for s in rep.worst:
        shown = ", ".join(f"{n} {p}" for p, n in sorted(s.displaced.items()))
        lines.append(f"  {', '.join(s.failed):<36} {s.verdict:<9} {s.decided_by:<7} {shown}")
    return lines


def fleet_text(result: FleetResult) -> str:
    """The fleet answers as a few readable tables."""
    lines = [
        f"Fleet {result.fleet_file}: {result.existing_hosts} existing hosts; inventory "
        + ", ".join(f"{n} {p}" for p, n in result.inventory.items())
    ]
    if result.plan is not None:
        lines += _plan_lines(result.plan)
    if result.headroom is not None:
        more = ", ".join(f"{n:,} {p}" for p, n in result.headroom.total.items())
        lines.append(f"Headroom on the existing hosts (each profile alone): {more}")
    if result.failover is not None:
        lines += _failover_lines(result.failover)
    if result.consolidation is not None:
        c = result.consolidation
        emptied = ", ".join(c.emptied) or "none"
        lines.append(
            f"Consolidation ({c.status}): hosts that can be emptied: {emptied} "
            f"({len(c.moves)} moves; at most {_num(c.upper_bound)})"
        )
    return "\n".join(lines)
