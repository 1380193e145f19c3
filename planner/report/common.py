"""Parts shared by the fit, predict and check reports: guest memory segments, calibration
sections and provenance."""

from __future__ import annotations

import importlib.metadata
import math
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from planner import __version__
from planner.hypervisors import HypervisorProfile
from planner.inputs.specs import GuestProfile
from planner.kernel.calibration import Calibration
from planner.report import charts
from planner.report.charts import Segment, Style
from planner.report.context import Chart, Column, Section, Table, Value
from planner.results import InputFile
from planner.units import KIB_PER_MIB, format_kib

# --- guest memory: kernel model terms -> chart segments ----------------------------------------------
#: Chart segments of a guest's memory, in stacking order, and the kernel model terms
#: (``Prediction.breakdown_kib``, :mod:`planner.kernel.model`) each one sums. A term not
#: listed here (a term the model gains later) is drawn as ``other_kernel``.
GUEST_SEGMENTS: dict[str, tuple[Style, tuple[str, ...]]] = {
    "firmware": (Style("firmware holes, RAM above mem=", "#DDDDDD", ""), ("firmware", "mem_limit")),
    "kernel_image": (
        Style("kernel image, early page tables", "#77AADD", "///"),
        ("kernel_image", "direct_map"),
    ),
    "memmap": (Style("memmap (struct page)", "#EE8866", "\\\\\\"), ("memmap",)),
    "hash_tables": (Style("hash tables", "#EEDD88", "xxx"), ("hash_tables_early", "hash_tables_late")),
    "slab": (Style("slab", "#FFAABB", "---"), ("slab",)),
    "kernel_stacks": (Style("kernel stacks", "#99DDFF", "|||"), ("kernel_stacks",)),
    "buffers": (
        Style("swiotlb, crashkernel, log buffer", "#BBCC33", "/-"),
        ("swiotlb", "crashkernel", "log_buffer"),
    ),
    "other_kernel": (
        Style("per-CPU, vmalloc, other", "#44BB99", "+++"),
        ("percpu", "vmalloc", "runtime_other"),
    ),
    "reserves": (Style("watermark reserves", "#AAAA00", "\\|"), ("reserves",)),
}
#: Segments after the kernel's: what a workload makes the kernel spend, the workload, the rest.
WORKLOAD_STYLES: dict[str, Style] = {
    "workload_kernel": Style("workload's kernel use (stacks, page tables)", "#C2A5CF", "x-"),
    "workload": Style("workload (application memory)", "#F2F2F2", "/"),
    "available": Style("available to the application", "#FFFFFF", ""),
}
#: Host side of one guest.
HOST_COST_STYLES: dict[str, Style] = {
    "guest_ram": Style("guest RAM on the host", "#BFD3E6", ""),
    "overhead": Style("hypervisor overhead per guest", "#F1B6DA", "\\\\"),
}

#: A NUMA node of the host (guests get one style per profile besides these).
FILL_STYLES_NODE: dict[str, Style] = {
    "host_kernel": Style("host kernel", "#EE8866", "\\\\\\"),
    "hypervisor_reserve": Style("hypervisor reserve", "#EEDD88", "xxx"),
    "operator_reserve": Style("operator reserve", "#DDDDDD", "-"),
    "scenario_reserve": Style("one KSM copy of shared pages", "#BBCC33", "/-"),
    "hugepages_unused": Style("hugepage pool, unused", "#99DDFF", "|||"),
    "hugepages_used": Style("guest RAM in hugepages", "#4477AA", "|"),
    "overhead": Style("per-guest overhead", "#F1B6DA", "\\\\"),
    "free": Style("free", "#FFFFFF", ""),
}


def guest_styles() -> dict[str, Style]:
    """Every style a guest-memory chart uses, in legend order."""
    out = {key: style for key, (style, _) in GUEST_SEGMENTS.items()}
    return out | WORKLOAD_STYLES | HOST_COST_STYLES


def kernel_segments(breakdown_kib: Mapping[str, int]) -> tuple[Segment, ...]:
    """The kernel's terms grouped into chart segments (unknown terms into ``other_kernel``)."""
    known = {t for _, terms in GUEST_SEGMENTS.values() for t in terms}
    out = []
    for key, (_, terms) in GUEST_SEGMENTS.items():
        kib = sum(breakdown_kib.get(t, 0) for t in terms)
        if key == "other_kernel":
            kib += sum(v for t, v in breakdown_kib.items() if t not in known)
        out.append(Segment(key, kib))
    return tuple(out)


def term_label(term: str) -> str:
    """A kernel model term as a reader says it (``hash_tables_late`` -> ``hash tables late``)."""
    return term.replace("_", " ")


# --- names ----------------------------------------------------------------------------------------
def mib_text(kib: float) -> str:
    """``67,584 KiB`` -> ``66.0 MiB`` (one decimal, thousands separated)."""
    return f"{kib / KIB_PER_MIB:,.1f} MiB"


def kib_and_mib(kib: int) -> str:
    """Exact KiB with the MiB beside: ``69,209 KiB (67.6 MiB)``."""
    return f"{kib:,} KiB ({kib / KIB_PER_MIB:,.1f} MiB)"


# --- calibrations ---------------------------------------------------------------------------------
#: Measured quantities of a calibration log, in table order, with their readable names.
LOG_QUANTITIES = {
    "reserved_kib": "dmesg reserved",
    "mem_total_kib": "MemTotal",
    "mem_free_kib": "MemFree",
    "mem_available_kib": "MemAvailable",
}


def _calibration_points(cal: Calibration) -> list[charts.CalibrationPoint]:
    """Per log: what the kernel keeps from user space, measured and modelled, and the residuals."""
    points = []
    for log in cal.logs:
        m, p = log.measured, log.modelled
        keep_m = log.memory_kib - m["mem_available_kib"] if "mem_available_kib" in m else None
        keep_p = log.memory_kib - p["mem_available_kib"] if "mem_available_kib" in p else None
        res = log.residual_kib
        points.append(
            charts.CalibrationPoint(
                log.memory_kib,
                log.vcpu_count,
                keep_m,
                keep_p,
                res.get("mem_total_kib"),
                res.get("mem_available_kib"),
            )
        )
    return points


def _logs_table(cal: Calibration, slug_prefix: str) -> Table:
    keys = [k for k in LOG_QUANTITIES if any(k in log.measured for log in cal.logs)]
    keys += sorted({k for log in cal.logs for k in log.measured} - set(keys))
    columns = [
        Column("log", "log"),
        Column("memory_kib", "guest RAM", "kib_as_mib", "MiB"),
        Column("vcpu_count", "vCPUs", "count"),
    ]
    for k in keys:
        name = LOG_QUANTITIES.get(k, term_label(k.removesuffix("_kib")))
        columns.append(Column(f"measured_{k}", name, "kib", "KiB"))
        columns.append(Column(f"residual_{k}", "Δ", "kib", "KiB"))
    rows: list[tuple[Value, ...]] = []
    for log in cal.logs:
        row: list[Value] = [Path(log.source).name, log.memory_kib, log.vcpu_count]
        for k in keys:
            row += [log.measured.get(k), log.residual_kib.get(k)]
        rows.append(tuple(row))
    return Table(
        f"{slug_prefix}-logs",
        "Boot logs: measured and model − measured",
        tuple(columns),
        tuple(rows),
        caption="Measured in each boot log, KiB; Δ = model − measured beside each; a dash means the log "
        "does not show that figure (a boot that stopped early).",
    )


def _log_files_table(cal: Calibration, slug_prefix: str) -> Table:
    return Table(
        f"{slug_prefix}-log-files",
        "Boot logs: files and checksums",
        (
            Column("source", "log file", "code"),
            Column("sha256", "sha256", "code"),
            Column("memory_kib", "guest RAM", "kib_as_mib", "MiB"),
            Column("vcpu_count", "vCPUs", "count"),
            Column("cmdline", "kernel command line", "code"),
        ),
        tuple((log.source, log.sha256, log.memory_kib, log.vcpu_count, log.cmdline) for log in cal.logs),
        caption="The sha256 of each log as recorded in the calibration file when it was made.",
        collapsed=True,
    )


def _parameters_table(cal: Calibration, slug_prefix: str) -> Table:
    values = {k: getattr(cal.parameters, k) for k in vars(cal.parameters)}
    return Table(
        f"{slug_prefix}-parameters",
        "Calibrated parameters",
        (
            Column("parameter", "parameter", "code"),
            Column("value", "value"),
            Column("how", "how it was found", "prose"),
        ),
        tuple((k, _param_value(v), cal.parameter_sources.get(k, "default")) for k, v in values.items()),
        caption="Values and methods as stored in the calibration file.",
        collapsed=True,
    )


def calibration_section(cal: Calibration, *, slug_prefix: str, used_for: str) -> Section:
    """A calibration: measured against modelled, residuals, the logs (with sha256) and the
    parameters with how each was found."""
    points = _calibration_points(cal)
    residuals = [
        abs(p.mem_available_residual_kib) for p in points if p.mem_available_residual_kib is not None
    ]
    worst = f"; MemAvailable is within {max(residuals):,} KiB of every log" if residuals else ""
    tables = (
        _logs_table(cal, slug_prefix),
        _log_files_table(cal, slug_prefix),
        _parameters_table(cal, slug_prefix),
    )
    rng = cal.calibrated_range
    lead = (
        f"{cal.description or cal.name}. Kernel {cal.kernel_release} ({cal.arch}"
        + (f", machine {cal.machine}" if cal.machine else "")
        + f"), calibrated from {format_kib(rng.min_memory_kib)} to {format_kib(rng.max_memory_kib)} and "
        f"{rng.min_vcpu_count}-{rng.max_vcpu_count} vCPUs on {len(cal.logs)} boot logs"
        + (" (partial: RAM-dependent constants not fitted)" if cal.partial else "")
        + f". Used for {used_for}."
    )
    if not points:
        return Section(f"calibration-{slug_prefix}", f"Calibration {cal.name}", lead, tables)
    chart = Chart(
        f"{slug_prefix}-chart",
        f"{cal.name}: measured against modelled",
        charts.calibration_chart(points, salt=f"{slug_prefix}-chart"),
        caption="Top: what the kernel keeps from user space (RAM − MemAvailable), measured in each boot "
        "log (open circles) and modelled (crosses). Bottom: residuals, model − measured, in KiB.",
        description=f"{len(cal.logs)} boot logs from {format_kib(min(p.memory_kib for p in points))} to "
        f"{format_kib(max(p.memory_kib for p in points))}{worst}.",
    )
    return Section(f"calibration-{slug_prefix}", f"Calibration {cal.name}", lead, (chart, *tables))


def _param_value(value: object) -> Value:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, int | str):
        return value
    return str(value)


# --- provenance -----------------------------------------------------------------------------------
def shown_path(path: str | Path) -> str:
    """A path relative to the working directory when it is under it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def inputs_table(files: Sequence[InputFile], extra: Sequence[tuple[str, str]] = ()) -> Table:
    """Input files (role, path, sha256), then inputs that are not files (role, text)."""
    rows: list[tuple[Value, ...]] = [(f.role, shown_path(f.path), f.sha256) for f in files]
    rows += [(role, text, None) for role, text in extra]
    return Table(
        "inputs",
        "Inputs",
        (Column("role", "role"), Column("path", "file or value", "code"), Column("sha256", "sha256", "code")),
        tuple(rows),
        caption="Every file this report was computed from, with the sha256 of its bytes at the time.",
    )


def sources_table(
    rows: Sequence[SourceRow],
    *,
    title: str = "Parameter sources",
    caption: str = "Profile and hypervisor parameters with the source each names (how: published, "
    "measured, derived, estimate or unknown).",
) -> Table:
    """Where each parameter's value comes from: (kind, name, parameter, value, how, source)."""
    return Table(
        "sources",
        title,
        (
            Column("kind", "kind"),
            Column("name", "profile"),
            Column("parameter", "parameter", "code"),
            Column("value", "value"),
            Column("how", "how"),
            Column("source", "source", "prose"),
        ),
        tuple(rows),
        caption=caption,
    )


#: One row of the parameter sources table: (kind, name, parameter, value, how, source).
SourceRow = tuple[str, str, str, Value, str, str]


def hypervisor_source_rows(hv: HypervisorProfile) -> list[SourceRow]:
    """A hypervisor profile's parameters, each with its value and the source it names."""
    rows: list[SourceRow] = []
    for param, src in hv.sources.items():
        value = getattr(hv.params, param, None)
        shown: Value = value if isinstance(value, int | float | str) else None
        rows.append(("hypervisor", hv.name, param, shown, src.kind, src.source))
    return rows


def profile_value(profile: GuestProfile, key: str) -> Value:
    """The value of a guest profile's sourced key, as a reader reads it (``128 MiB``)."""
    if key == "memory":
        return "auto" if profile.memory_kib == "auto" else format_kib(profile.memory_kib)
    if key == "vcpus":
        return int(profile.vcpu_count)
    if key == "boot_footprint" and profile.boot_footprint_kib is not None:
        return format_kib(profile.boot_footprint_kib)
    if key == "workload" and profile.workload is not None:
        threads = profile.workload.thread_count
        return (
            f"{format_kib(profile.workload.user_memory_kib)}, {threads} thread{'' if threads == 1 else 's'}"
        )
    value: Value = getattr(profile, key, None)
    return value if isinstance(value, str | int | float) else None


def profile_source_rows(name: str, profile: GuestProfile) -> list[SourceRow]:
    """A guest profile's ``sources:`` entries, each with the value it explains."""
    return [
        ("guest profile", name, key, profile_value(profile, key), "", text)
        for key, text in profile.sources.items()
    ]


#: Distributions whose versions a report lists (those that computed or drew it).
DISTRIBUTIONS = ("numpy", "scipy", "pydantic", "PyYAML", "Jinja2", "matplotlib", "typer", "libvirt-python")


def versions_table(extra: Sequence[tuple[str, str]] = ()) -> Table:
    """planner, Python, the libraries, and any extra (component, version) pairs."""
    rows: list[tuple[Value, ...]] = [
        ("planner", __version__),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
    ]
    for dist in DISTRIBUTIONS:
        try:
            rows.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            continue
    rows += list(extra)
    return Table(
        "versions",
        "Versions",
        (Column("component", "component"), Column("version", "version", "code")),
        tuple(rows),
    )


def now_utc() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
