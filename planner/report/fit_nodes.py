"""The ``planner fit`` report's per-node section: where each NUMA node's memory goes (host
kernel, reserves, the guests placed there, their overhead, what is left)."""

from __future__ import annotations

from collections.abc import Mapping

from planner.report import charts
from planner.report.charts import Bar, BarPanel, Segment, Style
from planner.report.common import (
    FILL_STYLES_NODE,
    mib_text,
)
from planner.report.context import (
    Block,
    Chart,
    Column,
    Section,
    Table,
    Value,
)
from planner.results import FitResult, NodeResult, PerGuest, PlanResult
from planner.units import format_kib


def _node_styles(profiles: list[str]) -> dict[str, Style]:
    styles = dict(FILL_STYLES_NODE)
    for i, name in enumerate(profiles):
        styles[f"guest:{name}"] = Style(
            f"{name} guests",
            charts.PROFILE_COLOURS[i % len(charts.PROFILE_COLOURS)],
            charts.PROFILE_HATCHES[i % len(charts.PROFILE_HATCHES)],
        )
    # keep "overhead" and "free" after the guests in the legend
    for key in ("hugepages_used", "overhead", "free"):
        styles[key] = styles.pop(key)
    return styles


def _node_bar(node: NodeResult, plan: PlanResult, per_guest: Mapping[str, PerGuest]) -> Bar:
    segments = [
        Segment("host_kernel", node.host_kernel_kib),
        Segment("hypervisor_reserve", node.hypervisor_reserve_kib),
        Segment("operator_reserve", node.operator_reserve_kib),
        Segment("scenario_reserve", node.scenario_reserve_kib),
        Segment("hugepages_unused", node.hugepages_kib - node.hugepages_used_kib),
    ]
    for name, count in node.guests.items():
        if count and not per_guest[name].hugepages:
            segments.append(Segment(f"guest:{name}", count * plan.resident_kib[name], f"{count:,} guests"))
    in_huge = sum(n for name, n in node.guests.items() if per_guest[name].hugepages)
    segments += [
        Segment("hugepages_used", node.hugepages_used_kib, f"{in_huge:,} guests" if in_huge else None),
        Segment("overhead", node.guest_overhead_kib),
        Segment("free", max(node.free_kib, 0)),
    ]
    over = plan.memory_ratio != 1.0
    return Bar(
        f"node {node.node_id}", tuple(segments), node.memory_kib if over else None, "RAM" if over else ""
    )


def _node_table(plan: PlanResult, slug_name: str, title: str, ram_label: str = "RAM") -> Table:
    nodes = plan.nodes
    columns = [Column("quantity", "")]
    columns += [Column(f"node_{n.node_id}_kib", f"node {n.node_id}", "kib_as_mib", "MiB") for n in nodes]
    columns.append(Column("host_kib", "host", "kib_as_mib", "MiB"))
    rows: list[tuple[Value, ...]] = []
    styles: list[str] = []

    def row(label: str, values: list[int], style: str = "", total: bool = True) -> None:
        rows.append((label, *values, sum(values) if total else None))
        styles.append(style)

    row(ram_label, [n.memory_kib for n in nodes], "total")
    row("− host kernel", [n.host_kernel_kib for n in nodes])
    row("− hypervisor reserve", [n.hypervisor_reserve_kib for n in nodes])
    row("− operator reserve", [n.operator_reserve_kib for n in nodes])
    if any(n.hugepages_kib for n in nodes):
        row("− hugepage pool", [n.hugepages_kib for n in nodes])
    if any(n.scenario_reserve_kib for n in nodes):
        row("− one KSM copy", [n.scenario_reserve_kib for n in nodes])
    label = "= capacity" + (f" (× {plan.memory_ratio:g})" if plan.memory_ratio != 1.0 else "")
    row(label, [n.capacity_kib for n in nodes], "total")
    row("guest RAM", [n.guest_memory_kib for n in nodes])
    row("per-guest overhead", [n.guest_overhead_kib for n in nodes])
    if any(n.hugepages_kib for n in nodes):
        row("guest RAM in hugepages", [n.hugepages_used_kib for n in nodes])
    row("free", [n.free_kib for n in nodes])
    return Table(
        slug_name,
        title,
        tuple(columns),
        tuple(rows),
        caption="MiB. Capacity = RAM − host kernel − reserves; guest RAM + overhead + free = capacity.",
        row_styles=tuple(styles),
    )


def nodes_section(result: FitResult) -> Section:
    """Where each NUMA node's memory goes: a chart, and a table per plan."""
    plan = result.guaranteed
    scenario = result.scenario
    styles = _node_styles(list(result.per_guest))
    panels = [BarPanel("guaranteed", tuple(_node_bar(n, plan, result.per_guest) for n in plan.nodes))]
    if scenario is not None:
        panels.append(
            BarPanel(
                f"overcommitted: {scenario.name}",
                tuple(_node_bar(n, scenario, result.per_guest) for n in scenario.nodes),
            )
        )
    chart = Chart(
        "node-memory",
        "Where each NUMA node's memory goes",
        charts.stacked_bars(panels, styles, salt="node-memory"),
        caption="Per NUMA node: the host kernel's own use (memmap, hash tables, reserves), the hypervisor's "
        "and the operator's reserves, the guests placed there (labelled with their count), their "
        "per-guest overhead, and what is left. MiB.",
        description="; ".join(
            f"node {n.node_id}: {format_kib(n.memory_kib)} RAM, host kernel {mib_text(n.host_kernel_kib)}, "
            f"{sum(n.guests.values()):,} guests, {mib_text(n.free_kib)} free"
            for n in plan.nodes
        ),
    )
    ram = "capacity given" if result.capacity_only else "RAM"
    blocks: list[Block] = [chart, _node_table(plan, "node-memory", "Guaranteed: where each MiB goes", ram)]
    if scenario is not None:
        blocks.append(_node_table(scenario, "scenario-node-memory", f"Overcommitted ({scenario.name})", ram))
    lead = (
        "A guest lives on one NUMA node, so each node is packed on its own. The host kernel's share grows "
        "with RAM (its struct page array alone is 1/64 of it), and the reserves come off before any guest."
    )
    if result.capacity_only:
        lead = (
            "A capacity-only host: each node's memory is the capacity the host file gives its guests "
            "(a cgroup's or a node's allocatable memory), so no host kernel comes off it, and of the "
            "hypervisor reserve only what is charged inside it (qemu's shared file pages, once); each "
            "guest's hypervisor overhead still does."
        )
    return Section("nodes", "Per NUMA node: the host's memory", lead, tuple(blocks))
