"""The ``planner fit`` report's guest-size section: usable memory and guests per host against
guest size, drawn from the size sweeps the result carries (:attr:`FitResult.sweeps`)."""

from __future__ import annotations

from planner.report import charts
from planner.report.charts import Mark, Series
from planner.report.common import mib_text
from planner.report.context import Chart, Column, Section, Table, Value
from planner.results import FitResult
from planner.units import KIB_PER_MIB, format_kib

#: what groups profiles onto one curve: kernel, vCPUs, command line, machine, workload cost
LineKey = tuple[str, int, str, str | None, int]


def _lines(result: FitResult) -> tuple[list[list[str]], list[list[str]]]:
    """Profiles whose curves coincide share one line and carry one mark each: (usable lines,
    count lines; the latter also split by hypervisor and hugepages)."""
    requests = {g.name: g for g in result.spec.guests}
    usable: dict[LineKey, list[str]] = {}
    count: dict[tuple[LineKey, str, bool], list[str]] = {}
    for name, pg in result.per_guest.items():
        profile = requests[name].profile
        key = (pg.kernel, pg.vcpu_count, profile.cmdline, profile.machine, pg.workload_kernel_kib)
        usable.setdefault(key, []).append(name)
        count.setdefault((key, pg.hypervisor, pg.hugepages), []).append(name)
    return list(usable.values()), list(count.values())


def _usable_series(result: FitResult, names: list[str]) -> Series:
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
    positive = [p for p in result.sweeps[names[0]] if p.user_available_kib > 0]
    return Series(
        ", ".join(names),
        tuple(p.memory_kib / KIB_PER_MIB for p in positive),
        tuple(p.user_available_kib / KIB_PER_MIB for p in positive),
        tuple(marks),
        tuple(guides),
    )


def _count_series(result: FitResult, names: list[str]) -> Series:
    marks = []
    for n in names:
        pg = result.per_guest[n]
        alone = result.alone_counts[n]
        marks.append(
            Mark(
                pg.guest_memory_kib / KIB_PER_MIB,
                max(alone, 1),
                f"{n}: {format_kib(pg.guest_memory_kib)} → {alone:,} alone "
                f"({result.guaranteed.guests[n]:,} in the plan)",
            )
        )
    positive = [p for p in result.sweeps[names[0]] if p.alone_count > 0]
    return Series(
        ", ".join(names),
        tuple(p.memory_kib / KIB_PER_MIB for p in positive),
        tuple(float(p.alone_count) for p in positive),
        tuple(marks),
    )


def _sweep_table(result: FitResult) -> Table:
    rows: list[tuple[Value, ...]] = [
        (
            name,
            p.memory_kib,
            p.user_available_kib,
            p.host_cost_kib,
            p.alone_count,
            "chosen" if p.memory_kib == result.per_guest[name].guest_memory_kib else "",
        )
        for name, points in result.sweeps.items()
        for p in points
    ]
    return Table(
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
        tuple(rows),
        caption="The points of both charts.",
        collapsed=True,
    )


def sizing_section(result: FitResult) -> Section:
    """Usable memory and guests per host against guest size, and the table of both."""
    usable_lines, count_lines = _lines(result)
    usable_chart = Chart(
        "usable-vs-size",
        "Usable memory per guest against guest size",
        charts.line_chart(
            [_usable_series(result, names) for names in usable_lines],
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
            [_count_series(result, names) for names in count_lines],
            salt="guests-vs-size",
            xlabel="guest RAM, MiB (log scale)",
            ylabel="guests of this profile alone on the host",
        ),
        caption="How many guests of each profile would fit if it were the only profile on this host (the "
        "plan's node capacities, per-guest hypervisor overhead at each size, the vCPU limit). The "
        "large markers are the plan's sizes; the plan itself mixes profiles.",
        description="; ".join(
            f"{n}: {result.alone_counts[n]:,} alone at {format_kib(pg.guest_memory_kib)}"
            for n, pg in result.per_guest.items()
        ),
    )
    lead = (
        "Bigger guests give the kernel's fixed part less weight but fit fewer per host; smaller ones "
        "waste more of each guest on its kernel and more of the host on per-guest overhead."
    )
    return Section("sizing", "Guest size", lead, (usable_chart, count_chart, _sweep_table(result)))
