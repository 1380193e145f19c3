"""The ``planner fit`` report: a :class:`planner.api.FitResult` as a :class:`ReportPage`.

The result is read by its attributes (this layer sits below :mod:`planner.api`). The host
file is read again through :func:`planner.config.load_host_file` for what the result does
not carry: the profile files (provenance), each profile's calibration (the size sweeps and
calibration sections) and hypervisor profile (host cost at other sizes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from planner.report import charts
from planner.report.charts import Bar, BarPanel, Mark, Segment, Series, Style
from planner.report.common import (
    FILL_STYLES_NODE,
    SourceRow,
    calibration_section,
    guest_styles,
    hypervisor_file,
    hypervisor_source_rows,
    inputs_table,
    kernel_segments,
    mib_text,
    now_utc,
    predict_sweep,
    profile_source_rows,
    profile_value,
    sources_table,
    sweep_sizes_kib,
    term_label,
    versions_table,
)
from planner.report.context import (
    Chart,
    Column,
    ItemList,
    KeyFigure,
    Provenance,
    ReportPage,
    Section,
    Table,
    Value,
)
from planner.report.render import slug, unique
from planner.solver import binding_kind, binding_text
from planner.units import KIB_PER_MIB, format_kib


def fit_page(result: Any) -> ReportPage:
    """The report of one ``planner fit`` result (a :class:`planner.api.FitResult`)."""
    from planner.inputs.hostfile import load_host_file

    host_file = load_host_file(result.host_file)
    requests = {g.name: g for g in host_file.guests}
    plan = result.guaranteed
    scenario = result.scenario
    sections = [
        _summary(result),
        _guests(result),
        _nodes(result),
        _sizing(result, requests, host_file),
    ]
    calibrations: dict[str, tuple[Any, list[str]]] = {}
    for name, request in requests.items():
        calibrations.setdefault(request.calibration.name, (request.calibration, []))[1].append(name)
    if host_file.host.kernel is not None:
        calibrations.setdefault(host_file.host.kernel.name, (host_file.host.kernel, []))[1].append("the host")
    prefixes = unique(f"cal-{slug(name)}" for name in calibrations)
    for prefix, (cal, users) in zip(prefixes, calibrations.values(), strict=True):
        sections.append(calibration_section(cal, slug_prefix=prefix, used_for=", ".join(users)))
    figures = [
        KeyFigure(
            "guaranteed guests",
            f"{plan.total_guests:,}",
            f"{plan.status}"
            + (f", gap {plan.gap:.2%}" if plan.gap and math.isfinite(plan.gap) else "")
            + "; every guest's full size resident",
            "good",
        )
    ]
    if result.objective == "max_weight":
        figures.append(
            KeyFigure(
                "total weight",
                f"{plan.total_weight:,.6g}",
                "the objective max_weight: the sum of each guest's weight",
            )
        )
    if scenario is not None:
        figures.append(
            KeyFigure(
                f"overcommitted: {scenario.name}",
                f"{scenario.total_guests:,}",
                "not guaranteed: " + _scenario_words(host_file.scenario),
                "muted",
            )
        )
    figures += [
        KeyFigure(
            "what binds",
            " and ".join(dict.fromkeys(binding_kind(b) for b in plan.binding)) or "nothing",
            ", ".join(binding_text(b) for b in plan.binding)
            if plan.binding
            else "every profile reached its max",
        ),
        KeyFigure(
            "memory for guests",
            format_kib(sum(n.capacity_kib for n in plan.nodes)),
            f"of {format_kib(result.host_memory_kib)} RAM, after the host kernel and reserves",
        ),
        KeyFigure(
            "vCPUs",
            f"{plan.vcpu_used:,} of {plan.vcpu_capacity:,.0f}",
            f"{result.cpu_count} CPUs × {result.vcpu_ratio:g} vCPUs each",
        ),
    ]
    warnings = []
    for name, pg in result.per_guest.items():
        rng = requests[name].calibration.calibrated_range
        if not rng.min_memory_kib <= pg.guest_memory_kib <= rng.max_memory_kib:
            warnings.append(
                f"{name}: {format_kib(pg.guest_memory_kib)} is outside the range {pg.kernel} was "
                f"calibrated on ({format_kib(rng.min_memory_kib)} to {format_kib(rng.max_memory_kib)}): "
                "its kernel figures are extrapolated"
            )
    notices = []
    if warnings:
        notices.append(ItemList("Warnings", tuple(warnings), "warn"))
    if result.notes:
        notices.append(ItemList("Notes", tuple(result.notes), "note"))
    return ReportPage(
        kind="fit",
        title=f"Capacity plan: {result.host_file}",
        subtitle=_subtitle(result),
        figures=tuple(figures),
        notices=tuple(notices),
        sections=tuple(sections),
        provenance=_provenance(result, host_file, requests),
    )


def _subtitle(result: Any) -> str:
    kernel = result.host_kernel or "none"
    if result.host_kernel and not result.host_kernel_applied:
        kernel += " (not subtracted)"
    return (
        f"{format_kib(result.host_memory_kib)} RAM in {len(result.guaranteed.nodes)} NUMA node(s), "
        f"{result.cpu_count} CPUs; hypervisor {result.hypervisor}; host kernel {kernel}; "
        f"objective {result.objective}"
    )


def _scenario_words(s: Any) -> str:
    parts = [
        "guest RAM counted as " + ("boot footprint + workload" if s.resident == "expected" else "full size")
    ]
    if s.ksm_shared_kib:
        parts.append(f"{format_kib(s.ksm_shared_kib)} per guest merged by KSM")
    if s.balloon_percent:
        parts.append(f"{s.balloon_percent:g} % ballooned")
    if s.memory_ratio != 1:
        parts.append(f"allocation ratio {s.memory_ratio:g}")
    return ", ".join(parts)


# --- summary --------------------------------------------------------------------------------------
def _counts_table(result: Any, plan: Any, slug_name: str, title: str) -> Table:
    nodes = plan.nodes
    columns = [Column("profile", "profile")]
    columns += [Column(f"node_{n.node_id}_guests", f"node {n.node_id}", "count") for n in nodes]
    columns.append(Column("total_guests", "total", "count"))
    rows: list[tuple[Value, ...]] = []
    for name in result.per_guest:
        rows.append((name, *(n.guests.get(name, 0) for n in nodes), plan.guests[name]))
    rows.append(("all profiles", *(sum(n.guests.values()) for n in nodes), plan.total_guests))
    return Table(
        slug_name,
        title,
        tuple(columns),
        tuple(rows),
        caption=f"Solver status {plan.status}; vCPUs {plan.vcpu_used:,} of {plan.vcpu_capacity:,.0f}.",
        row_styles=("",) * (len(rows) - 1) + ("total",),
    )


def _summary(result: Any) -> Section:
    plan = result.guaranteed
    scenario = result.scenario
    blocks: list[Any] = [
        _counts_table(result, plan, "guests-per-node", "Guaranteed: guests per profile and node")
    ]
    if scenario is not None:
        blocks.append(
            _counts_table(
                result,
                scenario,
                "scenario-guests-per-node",
                f"Overcommitted ({scenario.name}): guests per node",
            )
        )
        rows = tuple(
            (
                name,
                plan.guests[name],
                scenario.guests[name],
                plan.resident_kib[name],
                scenario.resident_kib[name],
            )
            for name in result.per_guest
        )
        blocks.append(
            Table(
                "guaranteed-vs-overcommitted",
                "Guaranteed against overcommitted",
                (
                    Column("profile", "profile"),
                    Column("guaranteed_guests", "guaranteed", "count"),
                    Column("scenario_guests", scenario.name, "count"),
                    Column("guaranteed_resident_kib", "resident per guest, guaranteed", "kib_as_mib", "MiB"),
                    Column(
                        "scenario_resident_kib", f"resident per guest, {scenario.name}", "kib_as_mib", "MiB"
                    ),
                ),
                rows,
                caption="Resident = guest RAM counted on the host per guest. The guaranteed plan counts "
                "each guest's full size; the scenario counts what it expects to be resident, and is not a "
                "promise.",
            )
        )
    reasons = []
    for name in result.per_guest:
        blocked = plan.blocked_by.get(name, ())
        words = ", ".join(binding_text(b) for b in blocked) or "nothing blocks it"
        reasons.append(f"{name}: {plan.guests[name]:,} guests; one more is stopped by {words}")
    blocks.append(ItemList("What binds", tuple(reasons)))
    lead = (
        f"{plan.total_guests:,} guests fit with every guest's full size resident on the host (guaranteed)"
        + (
            f"; {scenario.total_guests:,} under the overcommit scenario {scenario.name!r}, "
            "which is not guaranteed"
            if scenario is not None
            else ""
        )
        + ". Each guest lives on one NUMA node; the counts per node come from an integer program that "
        f"maximises {result.objective.replace('_', ' ')} under each node's memory and the host's vCPUs."
    )
    return Section("summary", "Summary", lead, tuple(blocks))


# --- per guest ------------------------------------------------------------------------------------
def _guest_bars(pg: Any, plan: Any, scenario: Any) -> tuple[Bar, ...]:
    workload = pg.workload_user_kib or 0
    inside = (
        *kernel_segments(pg.kernel_breakdown_kib),
        Segment("workload_kernel", pg.workload_kernel_kib),
        Segment("workload", workload),
        Segment("available", pg.user_available_kib - workload),
    )
    bars = [
        Bar("inside the guest", inside),
        Bar(
            "on the host, guaranteed",
            (Segment("guest_ram", plan.resident_kib[pg.name]), Segment("overhead", pg.host_overhead_kib)),
        ),
    ]
    if scenario is not None:
        bars.append(
            Bar(
                f"on the host, {scenario.name}",
                (
                    Segment("guest_ram", scenario.resident_kib[pg.name]),
                    Segment("overhead", pg.host_overhead_kib),
                ),
            )
        )
    return tuple(bars)


def _guests(result: Any) -> Section:
    plan = result.guaranteed
    scenario = result.scenario
    panels = [
        BarPanel(
            f"{name}: {format_kib(pg.guest_memory_kib)}, "
            f"{pg.vcpu_count} vCPU{'' if pg.vcpu_count == 1 else 's'}, {pg.kernel}, {pg.hypervisor}",
            _guest_bars(pg, plan, scenario),
        )
        for name, pg in result.per_guest.items()
    ]
    chart = Chart(
        "guest-memory",
        "Where each guest's memory goes",
        charts.stacked_bars(panels, guest_styles(), salt="guest-memory"),
        caption="Per profile: the guest's RAM split into what its kernel keeps (kernel model terms), what "
        "its workload takes, and what is left; then what one guest costs the host (its RAM as the plan "
        "counts it, plus the hypervisor's per-guest overhead). MiB; each row has its own scale.",
        description="; ".join(
            f"{name}: {format_kib(pg.guest_memory_kib)} guest, the kernel keeps "
            f"{mib_text(pg.guest_kernel_kib)}, {mib_text(pg.user_available_kib)} usable, "
            f"host cost {mib_text(pg.host_cost_kib)}"
            for name, pg in result.per_guest.items()
        ),
    )
    per_guest = Table(
        "per-guest",
        "Per guest",
        (
            Column("profile", "profile"),
            Column("guest_memory_kib", "size", "kib_as_mib", "MiB"),
            Column("guest_kernel_kib", "kernel keeps", "kib_as_mib", "MiB"),
            Column("mem_available_kib", "MemAvailable", "kib_as_mib", "MiB"),
            Column("workload_kernel_kib", "workload's kernel use", "kib_as_mib", "MiB"),
            Column("user_available_kib", "usable", "kib_as_mib", "MiB"),
            Column("workload_user_kib", "workload needs", "kib_as_mib", "MiB"),
            Column("host_overhead_kib", "hypervisor overhead", "kib_as_mib", "MiB"),
            Column("host_cost_kib", "host cost", "kib_as_mib", "MiB"),
        ),
        tuple(
            (
                name,
                pg.guest_memory_kib,
                pg.guest_kernel_kib,
                pg.mem_available_kib,
                pg.workload_kernel_kib,
                pg.user_available_kib,
                pg.workload_user_kib,
                pg.host_overhead_kib,
                pg.host_cost_kib,
            )
            for name, pg in result.per_guest.items()
        ),
        caption="Usable = MemAvailable − the workload's kernel use (16 KiB stack per thread, page tables). "
        "Host cost = size + hypervisor overhead.",
    )
    profiles = Table(
        "profiles",
        "Profiles as planned",
        (
            Column("profile", "profile"),
            Column("guest_profile", "guest profile"),
            Column("memory", "size from"),
            Column("vcpu_count", "vCPUs", "count"),
            Column("kernel", "kernel calibration"),
            Column("hypervisor", "hypervisor"),
            Column("hugepages", "hugepages"),
            Column("min_count", "min", "count"),
            Column("max_count", "max", "count"),
            Column("weight", "weight", "float"),
        ),
        tuple(
            (
                name,
                pg.profile,
                "auto (smallest that fits the workload)" if pg.memory_auto else "profile or host file",
                pg.vcpu_count,
                pg.kernel,
                pg.hypervisor,
                "yes" if pg.hugepages else "no",
                pg.min_count,
                pg.max_count,
                pg.weight,
            )
            for name, pg in result.per_guest.items()
        ),
    )
    terms: list[str] = []
    for pg in result.per_guest.values():
        terms += [t for t in pg.kernel_breakdown_kib if t not in terms]
    names = list(result.per_guest)
    keys = unique(f"{slug(n)}_kib" for n in names)
    brows: list[tuple[Value, ...]] = [
        (term_label(t), *(result.per_guest[n].kernel_breakdown_kib.get(t, 0) for n in names)) for t in terms
    ]
    brows.append(("MemAvailable", *(result.per_guest[n].mem_available_kib for n in names)))
    brows.append(("guest RAM", *(result.per_guest[n].guest_memory_kib for n in names)))
    breakdown = Table(
        "guest-breakdown",
        "Kernel model terms per guest",
        (Column("term", "term"), *(Column(k, n, "kib", "KiB") for k, n in zip(keys, names, strict=True))),
        tuple(brows),
        caption="KiB, from the kernel model at each profile's size: the terms plus MemAvailable add up to "
        "the guest's RAM.",
        row_styles=("",) * len(terms) + ("", "total"),
        collapsed=True,
    )
    lead = (
        "A small guest's own kernel keeps a large share of it: the kernel image, the struct page array "
        "(memmap), hash tables sized from RAM, slab, stacks and the watermark reserves. What is left is "
        "what the application can use; the host pays the guest's RAM plus the hypervisor's overhead."
    )
    return Section(
        "guests", "Per guest: where the memory goes", lead, (chart, per_guest, profiles, breakdown)
    )


# --- per node -------------------------------------------------------------------------------------
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


def _node_bar(node: Any, plan: Any, per_guest: Mapping[str, Any]) -> Bar:
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


def _node_table(plan: Any, slug_name: str, title: str) -> Table:
    nodes = plan.nodes
    columns = [Column("quantity", "")]
    columns += [Column(f"node_{n.node_id}_kib", f"node {n.node_id}", "kib_as_mib", "MiB") for n in nodes]
    columns.append(Column("host_kib", "host", "kib_as_mib", "MiB"))
    rows: list[tuple[Value, ...]] = []
    styles: list[str] = []

    def row(label: str, values: list[int], style: str = "", total: bool = True) -> None:
        rows.append((label, *values, sum(values) if total else None))
        styles.append(style)

    row("RAM", [n.memory_kib for n in nodes], "total")
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


def _nodes(result: Any) -> Section:
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
    blocks: list[Any] = [chart, _node_table(plan, "node-memory", "Guaranteed: where each MiB goes")]
    if scenario is not None:
        blocks.append(_node_table(scenario, "scenario-node-memory", f"Overcommitted ({scenario.name})"))
    lead = (
        "A guest lives on one NUMA node, so each node is packed on its own. The host kernel's share grows "
        "with RAM (its struct page array alone is 1/64 of it), and the reserves come off before any guest."
    )
    return Section("nodes", "Per NUMA node: the host's memory", lead, tuple(blocks))


# --- sizing ---------------------------------------------------------------------------------------
def _alone_count(size_kib: int, request: Any, plan: Any, host: Any) -> int:
    """Guests of one profile at ``size_kib`` on the plan's node capacities, alone on the host.

    For one profile the integer program separates by node: ``sum_k floor(capacity_k /
    demand)`` (:func:`planner.solver.max_count_one_kind`), capped by the host's vCPUs.
    """
    from planner.solver import max_count_one_kind

    overhead = request.hypervisor.host_overhead_kib(size_kib, request.vcpu_count)
    total = 0
    for node in plan.nodes:
        if request.hugepages and host.hugepages is not None:
            page = host.hugepages.page_kib
            huge = -(-size_kib // page) * page
            total += max_count_one_kind([node.capacity_kib, node.hugepages_kib], [overhead, huge])
        else:
            total += max_count_one_kind([node.capacity_kib], [size_kib + overhead])
    vcpu_limit: int = math.floor(plan.vcpu_capacity / request.vcpu_count)
    return min(total, vcpu_limit)


def _sizing(result: Any, requests: Mapping[str, Any], host_file: Any) -> Section:
    plan = result.guaranteed
    largest_node = max(n.memory_kib for n in plan.nodes)
    # profiles whose curves coincide share one line and carry one mark each
    usable_lines: dict[tuple[Any, ...], list[str]] = {}
    count_lines: dict[tuple[Any, ...], list[str]] = {}
    for name, pg in result.per_guest.items():
        r = requests[name]
        key = (pg.kernel, pg.vcpu_count, r.profile.cmdline, r.profile.machine, pg.workload_kernel_kib)
        usable_lines.setdefault(key, []).append(name)
        count_lines.setdefault((*key, pg.hypervisor, pg.hugepages), []).append(name)
    sweep_rows: list[tuple[Value, ...]] = []
    usable_series: list[Series] = []
    count_series: list[Series] = []
    sweeps: dict[str, list[tuple[int, int, int]]] = {}  # profile -> (size, usable, alone count)
    for names in usable_lines.values():
        first = result.per_guest[names[0]]
        r = requests[names[0]]
        rng = r.calibration.calibrated_range
        chosen = [result.per_guest[n].guest_memory_kib for n in names]
        sizes = sweep_sizes_kib(rng.min_memory_kib, min(rng.max_memory_kib, largest_node))
        sizes = sorted(set(sizes) | set(chosen))
        points = predict_sweep(
            r.calibration,
            sizes,
            vcpu_count=first.vcpu_count,
            cmdline=r.profile.cmdline,
            machine=r.profile.machine,
        )
        usable = [(p.memory_kib, p.mem_available_kib - first.workload_kernel_kib) for p in points]
        marks = []
        guides = []
        for n in names:
            pg = result.per_guest[n]
            marks.append(
                Mark(
                    pg.guest_memory_kib / KIB_PER_MIB,
                    max(pg.user_available_kib, 1) / KIB_PER_MIB,
                    f"{n}: {format_kib(pg.guest_memory_kib)} → {mib_text(pg.user_available_kib)} usable",
                )
            )
            if pg.workload_user_kib:
                guides.append(
                    (
                        pg.workload_user_kib / KIB_PER_MIB,
                        f"{n}: workload needs {format_kib(pg.workload_user_kib)}",
                    )
                )
        positive = [(s, u) for s, u in usable if u > 0]
        usable_series.append(
            Series(
                ", ".join(names),
                tuple(s / KIB_PER_MIB for s, _ in positive),
                tuple(u / KIB_PER_MIB for _, u in positive),
                tuple(marks),
                tuple(guides),
            )
        )
        for n in names:
            sweeps[n] = [(s, u, _alone_count(s, requests[n], plan, host_file.host)) for s, u in usable]
    for names in count_lines.values():
        data = sweeps[names[0]]
        marks = []
        for n in names:
            pg = result.per_guest[n]
            alone = _alone_count(pg.guest_memory_kib, requests[n], plan, host_file.host)
            marks.append(
                Mark(
                    pg.guest_memory_kib / KIB_PER_MIB,
                    max(alone, 1),
                    f"{n}: {format_kib(pg.guest_memory_kib)} → {alone:,} alone "
                    f"({result.guaranteed.guests[n]:,} in the plan)",
                )
            )
        positive = [(s, c) for s, _, c in data if c > 0]
        count_series.append(
            Series(
                ", ".join(names),
                tuple(s / KIB_PER_MIB for s, _ in positive),
                tuple(float(c) for _, c in positive),
                tuple(marks),
            )
        )
    for name, data in sweeps.items():
        pg = result.per_guest[name]
        for size, usable_kib, count in data:
            overhead = requests[name].hypervisor.host_overhead_kib(size, pg.vcpu_count)
            sweep_rows.append(
                (
                    name,
                    size,
                    usable_kib,
                    size + overhead,
                    count,
                    "chosen" if size == pg.guest_memory_kib else "",
                )
            )
    usable_chart = Chart(
        "usable-vs-size",
        "Usable memory per guest against guest size",
        charts.line_chart(
            usable_series,
            salt="usable-vs-size",
            xlabel="guest RAM, MiB (log scale)",
            ylabel="usable by the application, MiB",
            identity_label="the whole guest",
        ),
        caption="MemAvailable from the kernel model, minus what each workload makes its kernel spend, at "
        "sizes across each calibration's range; the large markers are the sizes in the plan; dotted "
        "lines are what a workload needs. The dashed grey line is the guest's whole RAM: the gap below "
        "it is what the guest kernel keeps.",
        description="; ".join(
            f"{n}: at {format_kib(pg.guest_memory_kib)}, {mib_text(pg.user_available_kib)} usable"
            for n, pg in result.per_guest.items()
        ),
    )
    count_chart = Chart(
        "guests-vs-size",
        "Guests per host against guest size",
        charts.line_chart(
            count_series,
            salt="guests-vs-size",
            xlabel="guest RAM, MiB (log scale)",
            ylabel="guests of this profile alone on the host",
        ),
        caption="How many guests of each profile would fit if it were the only profile on this host (the "
        "plan's node capacities, per-guest hypervisor overhead at each size, the vCPU limit). The "
        "large markers are the plan's sizes; the plan itself mixes profiles.",
        description="; ".join(
            f"{n}: {_alone_count(pg.guest_memory_kib, requests[n], plan, host_file.host):,} alone at "
            f"{format_kib(pg.guest_memory_kib)}"
            for n, pg in result.per_guest.items()
        ),
    )
    table = Table(
        "size-sweep",
        "Size sweep",
        (
            Column("profile", "profile"),
            Column("guest_memory_kib", "guest RAM", "kib_as_mib", "MiB"),
            Column("user_available_kib", "usable", "kib_as_mib", "MiB"),
            Column("host_cost_kib", "host cost", "kib_as_mib", "MiB"),
            Column("guests_alone", "guests alone on the host", "count"),
            Column("chosen", ""),
        ),
        tuple(sweep_rows),
        caption="The points of both charts.",
        collapsed=True,
    )
    lead = (
        "Bigger guests give the kernel's fixed part less weight but fit fewer per host; smaller ones "
        "waste more of each guest on its kernel and more of the host on per-guest overhead."
    )
    return Section("sizing", "Guest size", lead, (usable_chart, count_chart, table))


# --- provenance -----------------------------------------------------------------------------------
def _provenance(result: Any, host_file: Any, requests: Mapping[str, Any]) -> Provenance:
    files: list[tuple[str, Any]] = [("host file", result.host_file)]
    hypervisors = {host_file.host.hypervisor.name: host_file.host.hypervisor}
    for r in requests.values():
        files.append((f"guest profile {r.profile.name}", r.profile.origin.file))
        hypervisors.setdefault(r.hypervisor.name, r.hypervisor)
    for hv in hypervisors:
        files.append((f"hypervisor profile {hv}", hypervisor_file(hv)))
    cals = [r.calibration for r in requests.values()]
    if host_file.host.kernel is not None:
        cals.append(host_file.host.kernel)
    for cal in cals:
        files.append((f"kernel calibration {cal.name}", cal.path))
    files = list(dict.fromkeys(files))  # a profile or calibration used twice: listed once
    rows: list[SourceRow] = []
    for hv in hypervisors.values():
        rows += hypervisor_source_rows(hv)
    for name, r in requests.items():
        rows += profile_source_rows(name, r.profile)
        if r.workload is not None and r.workload.source:
            rows.append(
                (
                    "guest profile",
                    name,
                    "workload",
                    profile_value(r.profile, "workload"),
                    "",
                    r.workload.source,
                )
            )
    return Provenance(
        command=f"planner fit {result.host_file} --html REPORT.html",
        generated_utc=now_utc(),
        inputs=inputs_table(files),
        sources=sources_table(rows),
        versions=versions_table(
            [(f"kernel {c.name}", c.kernel_release) for c in {c.name: c for c in cals}.values()]
        ),
    )
