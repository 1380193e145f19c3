"""The ``planner predict`` report: a :class:`~planner.results.PredictResult` as a :class:`ReportPage`.

The size sweep and the input file come with the result; nothing is modelled again here.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from planner import data_dir
from planner.kernel.calibration import Calibration
from planner.kernel.model import Prediction
from planner.report import charts
from planner.report.charts import Bar, BarPanel, Mark, Segment, Series
from planner.report.common import (
    WORKLOAD_STYLES,
    calibration_section,
    guest_styles,
    inputs_table,
    kernel_segments,
    kib_and_mib,
    mib_text,
    now_utc,
    sources_table,
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
from planner.report.render import slug
from planner.results import PredictResult
from planner.units import KIB_PER_MIB, format_kib, size_label_kib


def predict_page(result: PredictResult) -> ReportPage:
    """The report of one ``planner predict`` result."""
    p = result.prediction
    cal = result.calibration
    spec = p.spec
    share = p.kernel_kib / p.memory_kib
    figures = (
        KeyFigure(
            "MemAvailable",
            f"{p.mem_available_kib:,} KiB",
            f"{mib_text(p.mem_available_kib)}, {100 * (1 - share):.1f} % of the guest: "
            "what user space can use",
            "good",
        ),
        KeyFigure("the kernel keeps", kib_and_mib(p.kernel_kib), f"{100 * share:.1f} % of the guest's RAM"),
        KeyFigure("MemTotal", f"{p.mem_total_kib:,} KiB", f"MemFree {p.mem_free_kib:,} KiB after boot"),
        KeyFigure(
            "min_free_kbytes",
            f"{p.min_free_kbytes:,}",
            "transparent huge pages " + ("on: raised watermarks" if p.thp_active else "off"),
        ),
    )
    notices = []
    if p.notes:
        # the model's notes say when the guest lies outside the calibrated range
        notices.append(
            ItemList(
                "Warnings" if not p.in_range else "Notes",
                tuple(p.notes),
                "warn" if not p.in_range else "note",
            )
        )
    elif not p.in_range:
        notices.append(ItemList("Warnings", (f"outside the range {cal.name} was calibrated on",), "warn"))
    sections = (
        _breakdown(result),
        _sizing(result),
        calibration_section(cal, slug_prefix=f"cal-{slug(cal.name)}", used_for="this prediction"),
    )
    return ReportPage(
        kind="predict",
        title=f"Guest memory: {cal.name} with {format_kib(p.memory_kib)}",
        subtitle=(
            f"kernel {cal.kernel_release} ({cal.arch}), {spec.vcpu_count} vCPU"
            + ("s" if spec.vcpu_count > 1 else "")
            + (f" ({spec.possible_cpu_count} possible)" if spec.possible_cpu_count else "")
            + (f", machine {spec.machine}" if spec.machine else "")
            + (f", cmdline {spec.cmdline!r}" if spec.cmdline else "")
        ),
        figures=figures,
        notices=tuple(notices),
        sections=sections,
        provenance=_provenance(result),
    )


def _breakdown_chart(p: Prediction) -> Chart:
    segments = (*kernel_segments(p.breakdown_kib), Segment("available", p.mem_available_kib))
    styles = guest_styles()
    styles["available"] = WORKLOAD_STYLES["available"]
    return Chart(
        "breakdown-chart",
        "Where the guest's memory goes",
        charts.stacked_bars(
            [
                BarPanel("the whole guest", (Bar(f"{format_kib(p.memory_kib)} guest", segments),)),
                BarPanel(
                    "what the kernel keeps, on its own scale",
                    (Bar(f"{mib_text(p.kernel_kib)} kernel", kernel_segments(p.breakdown_kib)),),
                ),
            ],
            styles,
            salt="breakdown-chart",
            label_share=0.03,
        ),
        caption="Top: the guest's RAM, from left to right: what its kernel keeps (grouped model terms, "
        "MiB) and MemAvailable, what user space can use. Bottom: the kernel's part alone, enlarged.",
        description=", ".join(f"{term_label(t)} {v:,} KiB" for t, v in p.breakdown_kib.items())
        + f"; MemAvailable {p.mem_available_kib:,} KiB.",
    )


def _breakdown_table(p: Prediction) -> Table:
    rows: list[tuple[Value, ...]] = [
        (term_label(t), kib, kib / KIB_PER_MIB, kib / p.memory_kib) for t, kib in p.breakdown_kib.items()
    ]
    rows.append(
        (
            "available to user space (MemAvailable)",
            p.mem_available_kib,
            p.mem_available_kib / KIB_PER_MIB,
            p.mem_available_kib / p.memory_kib,
        )
    )
    rows.append(("guest RAM", p.memory_kib, p.memory_kib / KIB_PER_MIB, 1.0))
    return Table(
        "breakdown",
        "Where every KiB goes",
        (
            Column("term", "term"),
            Column("kib", "", "kib", "KiB"),
            Column("mib", "", "mib", "MiB"),
            Column("share_of_ram", "of RAM", "percent"),
        ),
        tuple(rows),
        caption="Kernel model terms (planner.kernel.model): they and MemAvailable add up to the guest's RAM. "
        "In the CSV, share_of_ram is a fraction of the guest's RAM (0.25 = 25 %).",
        row_styles=("",) * len(p.breakdown_kib) + ("", "total"),
    )


def _hash_table(p: Prediction) -> Table:
    return Table(
        "hash-tables",
        "Hash tables sized from RAM",
        (
            Column("name", "table"),
            Column("entries", "entries", "count"),
            Column("size_bytes", "size", "count", "bytes"),
            Column("allocated", "allocated"),
        ),
        tuple(
            (
                t.name,
                t.entries,
                t.size_bytes,
                ("early (memblock)" if t.early else "late") + (", vmalloc" if t.vmalloc else ""),
            )
            for t in p.hash_tables
        ),
        caption="alloc_large_system_hash() (mm/page_alloc.c @ v6.1) sizes each from the RAM at boot; "
        "early tables lie outside MemTotal, late ones inside it.",
    )


def _breakdown(result: PredictResult) -> Section:
    p = result.prediction
    lead = (
        f"Of {format_kib(p.memory_kib)}, the kernel keeps {kib_and_mib(p.kernel_kib)} "
        f"({100 * p.kernel_kib / p.memory_kib:.1f} %) and leaves MemAvailable = {p.mem_available_kib:,} KiB "
        f"to user space. MemTotal = {p.mem_total_kib:,} KiB: what lies outside it (firmware, kernel image, "
        "memmap, early hash tables, per-CPU areas, swiotlb, crashkernel) never shows in /proc/meminfo."
    )
    blocks = (_breakdown_chart(p), _breakdown_table(p), _hash_table(p))
    return Section("breakdown", "Where the memory goes", lead, blocks)


def _available_chart(result: PredictResult) -> Chart:
    p = result.prediction
    cal = result.calibration
    rng = cal.calibrated_range
    low = min(rng.min_memory_kib, p.memory_kib)
    high = max(rng.max_memory_kib, p.memory_kib)
    points = result.sweep
    mark = Mark(
        p.memory_kib / KIB_PER_MIB,
        p.mem_available_kib / KIB_PER_MIB,
        f"{format_kib(p.memory_kib)}: {mib_text(p.mem_available_kib)}",
    )
    series = Series(
        "MemAvailable",
        tuple(pt.memory_kib / KIB_PER_MIB for pt in points),
        tuple(max(pt.mem_available_kib, 1) / KIB_PER_MIB for pt in points),
        (mark,),
    )
    return Chart(
        "available-vs-size",
        "MemAvailable against guest size",
        charts.line_chart(
            [series],
            salt="available-vs-size",
            xlabel="guest RAM, MiB (log scale)",
            ylabel="MemAvailable, MiB",
            identity_label="the whole guest",
        ),
        caption=f"The kernel model for {cal.name} at {p.spec.vcpu_count} vCPU(s) from "
        f"{format_kib(low)} to {format_kib(high)}; the large marker is this prediction.",
        description=f"At {format_kib(p.memory_kib)}: MemAvailable {p.mem_available_kib:,} KiB.",
    )


def _share_chart(result: PredictResult) -> Chart:
    p = result.prediction
    points = result.sweep
    share = 100 * p.kernel_kib / p.memory_kib
    series = Series(
        "kernel keeps, % of RAM",
        tuple(pt.memory_kib / KIB_PER_MIB for pt in points),
        tuple(100 * pt.kernel_kib / pt.memory_kib for pt in points),
        (Mark(p.memory_kib / KIB_PER_MIB, share, f"{share:.1f} %"),),
    )
    return Chart(
        "kernel-share-vs-size",
        "The kernel's share of the guest against guest size",
        charts.line_chart(
            [series],
            salt="kernel-share-vs-size",
            xlabel="guest RAM, MiB (log scale)",
            ylabel="the kernel keeps, % of RAM",
            logy=False,
            height_in=3.4,
        ),
        caption="RAM − MemAvailable as a share of RAM: the fixed part of the kernel weighs most on "
        "small guests.",
        description=f"At {format_kib(p.memory_kib)} the kernel keeps {share:.1f} %.",
    )


def _sweep_table(result: PredictResult) -> Table:
    return Table(
        "size-sweep",
        "Size sweep",
        (
            Column("memory_kib", "guest RAM", "kib_as_mib", "MiB"),
            Column("mem_available_kib", "MemAvailable", "kib", "KiB"),
            Column("kernel_kib", "kernel keeps", "kib", "KiB"),
            Column("in_calibrated_range", "calibrated range"),
        ),
        tuple(
            (
                pt.memory_kib,
                pt.mem_available_kib,
                pt.kernel_kib,
                "yes" if result.calibration.calibrated_range.covers_memory(pt.memory_kib) else "no",
            )
            for pt in result.sweep
        ),
        caption="The points of both charts.",
        collapsed=True,
    )


def _sizing(result: PredictResult) -> Section:
    lead = "The same kernel at other sizes: how much is left for user space, and the kernel's share."
    return Section(
        "sizing", "Guest size", lead, (_available_chart(result), _share_chart(result), _sweep_table(result))
    )


def _kernel_argument(cal: Calibration) -> str:
    shipped = data_dir("profiles") / "kernels" / f"{cal.name}.yaml"
    if cal.path is None or (shipped.is_file() and shipped.resolve() == Path(cal.path).resolve()):
        return str(cal.name)
    return str(cal.path)


def _provenance(result: PredictResult) -> Provenance:
    p = result.prediction
    cal = result.calibration
    spec = p.spec
    args = ["planner", "predict", "--kernel", _kernel_argument(cal), "--memory", size_label_kib(p.memory_kib)]
    args += ["--vcpus", str(spec.vcpu_count)]
    if spec.possible_cpu_count:
        args += ["--possible-cpus", str(spec.possible_cpu_count)]
    if spec.cmdline:
        args += ["--cmdline", spec.cmdline]
    if spec.machine:
        args += ["--machine", spec.machine]
    given: list[tuple[str, str, str, Value, str, str]] = [
        ("option", "predict", "--memory", size_label_kib(p.memory_kib), "", "command line"),
        ("option", "predict", "--vcpus", spec.vcpu_count, "", "command line"),
        (
            "option",
            "predict",
            "--possible-cpus",
            spec.possible_cpu_count or spec.vcpu_count,
            "",
            "command line (default: --vcpus)",
        ),
        ("option", "predict", "--cmdline", spec.cmdline, "", "command line"),
        (
            "option",
            "predict",
            "--machine",
            spec.machine or cal.machine,
            "",
            "command line (default: the calibration's)",
        ),
    ]
    return Provenance(
        command=shlex.join(args) + " --html REPORT.html",
        generated_utc=now_utc(),
        inputs=inputs_table(result.input_files),
        sources=sources_table(
            given,
            title="Options",
            caption="What this prediction was asked for; defaults as the planner applied them.",
        ),
        versions=versions_table([(f"kernel {cal.name}", cal.kernel_release)]),
    )
