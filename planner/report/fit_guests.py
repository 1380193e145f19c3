"""The ``planner fit`` report's per-guest section: where each guest's memory goes, inside the
guest (kernel model terms, workload, what is left) and on the host (its RAM and overhead)."""

from __future__ import annotations

from planner.report import charts
from planner.report.charts import Bar, BarPanel, Segment
from planner.report.common import (
    guest_styles,
    kernel_segments,
    mib_text,
    term_label,
)
from planner.report.context import (
    Chart,
    Column,
    Section,
    Table,
    Value,
)
from planner.report.render import slug, unique
from planner.results import FitResult, PerGuest, PlanResult
from planner.units import format_kib


def _guest_bars(pg: PerGuest, plan: PlanResult, scenario: PlanResult | None) -> tuple[Bar, ...]:
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


def _chart(result: FitResult) -> Chart:
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
    return Chart(
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


def _per_guest_table(result: FitResult) -> Table:
    return Table(
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


def _profiles_table(result: FitResult) -> Table:
    return Table(
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


def _breakdown_table(result: FitResult) -> Table:
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
    return Table(
        "guest-breakdown",
        "Kernel model terms per guest",
        (Column("term", "term"), *(Column(k, n, "kib", "KiB") for k, n in zip(keys, names, strict=True))),
        tuple(brows),
        caption="KiB, from the kernel model at each profile's size: the terms plus MemAvailable add up to "
        "the guest's RAM.",
        row_styles=("",) * len(terms) + ("", "total"),
        collapsed=True,
    )


def guests_section(result: FitResult) -> Section:
    """Where each guest's memory goes (chart), per guest, the profiles as planned, the terms."""
    lead = (
        "A small guest's own kernel keeps a large share of it: the kernel image, the struct page array "
        "(memmap), hash tables sized from RAM, slab, stacks and the watermark reserves. What is left is "
        "what the application can use; the host pays the guest's RAM plus the hypervisor's overhead."
    )
    blocks = (_chart(result), _per_guest_table(result), _profiles_table(result), _breakdown_table(result))
    return Section("guests", "Per guest: where the memory goes", lead, blocks)
