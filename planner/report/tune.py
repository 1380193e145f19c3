"""The ``planner tune`` report: a :class:`~planner.results.tune.TuneReport` as a :class:`ReportPage`.

Sections: guests per host (each packing: now, each kernel tuned alone, all at once), one per
kernel (the savings waterfall from the baseline to the recommendation, term by term; the
candidates; the recommendation; what was not proposed), what each option costs, the boots of
``--verify`` when there are any, and the calibrations. Everything comes with the result;
nothing is read, modelled or packed again.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from planner.kernel.calibration import Calibration
from planner.report.charts import Segment
from planner.report.charts_tune import CountBar, WaterfallStep, count_bars, savings_waterfall
from planner.report.common import (
    GUEST_SEGMENTS,
    calibration_section,
    inputs_table,
    kib_and_mib,
    now_utc,
    shown_path,
    sources_table,
    term_label,
    versions_table,
)
from planner.report.context import (
    Block,
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
from planner.results.tune import HOST_COST_RULE, GuestVerification, KernelTuning, TuneReport
from planner.units import KIB_PER_MIB, format_kib


def tune_page(result: TuneReport) -> ReportPage:
    """The report of one ``planner tune`` result."""
    prefixes = unique(f"k-{slug(k.name)}" for k in result.kernels)
    sections = [_hosts_section(result)]
    sections += [_kernel_section(k, p) for k, p in zip(result.kernels, prefixes, strict=True)]
    sections.append(_options_section(result))
    sections += [_verification_section(v, f"v-{slug(v.name)}") for v in result.verification]
    calibrations: dict[str, tuple[Calibration, list[str]]] = {}
    for k in result.kernels:
        calibrations.setdefault(k.calibration.name, (k.calibration, []))[1].append(k.name)
    cal_prefixes = unique(f"cal-{slug(name)}" for name in calibrations)
    for prefix, (cal, users) in zip(cal_prefixes, calibrations.values(), strict=True):
        sections.append(
            calibration_section(cal, slug_prefix=prefix, used_for="the predictions of " + ", ".join(users))
        )
    notices = []
    if result.host_kernel_skipped:
        notices.append(ItemList("Host kernel not tuned", (result.host_kernel_skipped,), "note"))
    if result.notes:
        notices.append(ItemList("Notes", result.notes, "note"))
    if not result.verified:
        notices.append(ItemList("Warnings", ("a verified change disagrees with its prediction",), "warn"))
    return ReportPage(
        kind="tune",
        title=f"Kernel command-line tuning: {result.target}",
        subtitle=_subtitle(result),
        figures=_figures(result),
        notices=tuple(notices),
        sections=tuple(sections),
        provenance=_provenance(result),
    )


def _subtitle(result: TuneReport) -> str:
    h = result.host
    return (
        f"{result.target_kind}; on {h.description}: {format_kib(h.memory_kib)}, "
        f"{len(h.node_memory_kib)} NUMA node(s), {h.cpu_count} CPUs, {h.hypervisor}"
    )


def _figures(result: TuneReport) -> tuple[KeyFigure, ...]:
    before, after = result.baseline.total_guests, result.combined.total_guests
    figures = [
        KeyFigure(
            "guests per host",
            f"{before:,} → {after:,}",
            f"{after - before:+,} with every recommendation (planner fit, guaranteed)",
            "good" if after > before else "",
        )
    ]
    for k in result.kernels:
        rec = k.tuning.recommendation
        if k.role == "guest":
            g0, g1 = k.before.guest(k.name), k.after.guest(k.name)
            detail = f"{rec.saving_kib:,} KiB saved per guest; RAM {g0.memory_kib // KIB_PER_MIB:,} → "
            detail += f"{g1.memory_kib // KIB_PER_MIB:,} MiB for the same usable memory"
        else:
            freed = sum(k.after.node_capacity_kib) - sum(k.before.node_capacity_kib)
            detail = f"{rec.saving_kib:,} KiB saved; {format_kib(freed)} more for guests"
        figures.append(KeyFigure(k.name, f"{k.guests_added:+,} guests", detail))
    return tuple(figures)


# --- guests per host ------------------------------------------------------------------------------
def _hosts_section(result: TuneReport) -> Section:
    packings = [result.baseline, *(k.after for k in result.kernels)]
    if len(result.kernels) > 1:
        packings.append(result.combined)
    chart = Chart(
        "guests-per-host-chart",
        "Guests per host, now and tuned",
        count_bars([CountBar(p.label, p.total_guests) for p in packings], salt="guests-per-host-chart"),
        caption="planner fit's guaranteed plan of the host with each kernel's recommendation alone and, "
        "for a host file, all of them at once; the dashed line is the count now.",
        description="; ".join(f"{p.label}: {p.total_guests:,} guests" for p in packings) + ".",
    )
    rows: list[tuple[Value, ...]] = [
        (
            p.label,
            p.total_guests,
            p.total_guests - result.baseline.total_guests,
            sum(p.node_capacity_kib),
            p.host_cmdline,
            ", ".join(p.plan.binding),
        )
        for p in packings
    ]
    table = Table(
        "packings",
        "Packings",
        (
            Column("packing", "packing"),
            Column("guests_per_host", "guests per host", "count"),
            Column("guests_added", "added", "count"),
            Column("capacity_kib", "capacity for guests", "kib_as_mib", "MiB"),
            Column("host_cmdline", "host kernel command line", "code"),
            Column("binding", "binds", "code"),
        ),
        tuple(rows),
        caption="Capacity: the nodes' RAM less the host kernel and reserves, as planner fit computes it.",
    )
    lead = f"On {result.host.description}. " + HOST_COST_RULE
    return Section("guests-per-host", "Guests per host", lead, (chart, table, _guests_table(result)))


def _guests_table(result: TuneReport) -> Table:
    rows: list[tuple[Value, ...]] = []
    for g in result.baseline.guests:
        t = result.combined.guest(g.name)
        rows.append(
            (
                g.name,
                g.memory_kib,
                t.memory_kib,
                g.usable_kib,
                t.usable_kib,
                g.host_cost_kib,
                t.host_cost_kib,
                g.count,
                t.count,
            )
        )
    return Table(
        "guests",
        "Each guest, now and with every recommendation",
        (
            Column("guest", "guest"),
            Column("now_memory_kib", "RAM now", "kib_as_mib", "MiB"),
            Column("tuned_memory_kib", "RAM tuned", "kib_as_mib", "MiB"),
            Column("now_usable_kib", "usable now", "kib_as_mib", "MiB"),
            Column("tuned_usable_kib", "usable tuned", "kib_as_mib", "MiB"),
            Column("now_host_cost_kib", "host cost now", "kib_as_mib", "MiB"),
            Column("tuned_host_cost_kib", "host cost tuned", "kib_as_mib", "MiB"),
            Column("now_count", "guests now", "count"),
            Column("tuned_count", "guests tuned", "count"),
        ),
        tuple(rows),
        caption="Usable: MemAvailable less what the workload makes the kernel spend; host cost: guest RAM "
        "plus the hypervisor's per-guest overhead.",
    )


# --- one kernel ----------------------------------------------------------------------------------
def _segment_of(term: str) -> str:
    for key, (_, terms) in GUEST_SEGMENTS.items():
        if term in terms:
            return key
    return "hash_tables" if term.startswith("hash_tables") else "other_kernel"


def _grouped(terms: Mapping[str, int]) -> tuple[Segment, ...]:
    out: dict[str, int] = {}
    for term, kib in terms.items():
        out[_segment_of(term)] = out.get(_segment_of(term), 0) + kib
    return tuple(Segment(k, v) for k, v in out.items() if v)


def _waterfall(k: KernelTuning, prefix: str) -> Chart:
    rec = k.tuning.recommendation
    steps = [WaterfallStep(s.option, _grouped(s.terms_kib)) for s in k.steps]
    styles = {key: style for key, (style, _) in GUEST_SEGMENTS.items()}
    return Chart(
        f"{prefix}-waterfall",
        f"{k.name}: what each change saves, from the command line now to the recommendation",
        savings_waterfall(steps, styles, salt=f"{prefix}-waterfall"),
        caption=f"The recommendation applied change by change (each bar: what the change saves once the "
        f"ones left of it are in), stacked by model term; the last bar is the whole line. The kernel keeps "
        f"{rec.before.kernel_kib:,} KiB now and {rec.after.kernel_kib:,} KiB tuned.",
        description="; ".join(f"{s.option}: {s.saving_kib:+,} KiB" for s in k.steps)
        + f"; recommended: {rec.saving_kib:,} KiB.",
    )


def _candidates_table(k: KernelTuning, prefix: str) -> Table:
    before = k.before.total_guests
    rows: list[tuple[Value, ...]] = []
    for c, g in zip(k.tuning.candidates, k.gains, strict=True):
        d = c.totals_delta_kib
        terms = ", ".join(
            f"{term_label(t)} {v:,}" for t, v in sorted(c.terms_kib.items(), key=lambda kv: -abs(kv[1]))
        )
        size: Value = g.guest_memory_kib if k.role == "guest" else sum(g.node_capacity_kib)
        rows.append(
            (
                c.change.label,
                c.saving_kib,
                d.get("mem_total_kib"),
                d.get("mem_available_kib"),
                terms,
                size,
                g.total_guests,
                g.total_guests - before,
            )
        )
    size_column = (
        Column("guest_memory_kib", "guest RAM, same usable", "kib_as_mib", "MiB")
        if k.role == "guest"
        else Column("capacity_kib", "capacity for guests", "kib_as_mib", "MiB")
    )
    return Table(
        f"{prefix}-candidates",
        f"{k.name}: candidates, each alone",
        (
            Column("option", "change", "code"),
            Column("saving_kib", "saves", "kib", "KiB"),
            Column("mem_total_delta_kib", "MemTotal", "kib", "KiB"),
            Column("mem_available_delta_kib", "MemAvailable", "kib", "KiB"),
            Column("terms_kib", "per term (KiB)", "prose"),
            size_column,
            Column("guests_per_host", "guests per host", "count"),
            Column("guests_added", "added", "count"),
        ),
        tuple(rows),
        caption="Savings from two predictions of the kernel model, with and without the change; guests "
        f"per host from planner fit with the change alone (now: {before:,})."
        + (" A dash: a host kernel's MemTotal is not modelled." if k.role == "host" else ""),
    )


def _recommendation_table(k: KernelTuning, prefix: str) -> Table:
    rec = k.tuning.recommendation
    rows: list[tuple[Value, ...]] = [("the kernel keeps (KiB)", rec.before.kernel_kib, rec.after.kernel_kib)]
    if k.role == "guest":
        b, a = rec.before.totals_kib, rec.after.totals_kib
        rows += [("MemTotal (KiB)", b["mem_total_kib"], a["mem_total_kib"])]
        rows += [("MemAvailable (KiB)", b["mem_available_kib"], a["mem_available_kib"])]
        g0, g1 = k.before.guest(k.name), k.after.guest(k.name)
        rows += [
            ("guest RAM (KiB)", g0.memory_kib, g1.memory_kib),
            ("usable (KiB)", g0.usable_kib, g1.usable_kib),
            ("host cost (KiB)", g0.host_cost_kib, g1.host_cost_kib),
        ]
    else:
        nodes = zip(k.before.node_capacity_kib, k.after.node_capacity_kib, strict=True)
        rows += [(f"node {i} capacity (KiB)", c0, c1) for i, (c0, c1) in enumerate(nodes)]
    rows.append(("guests per host", k.before.total_guests, k.after.total_guests))
    return Table(
        f"{prefix}-recommendation",
        f"{k.name}: the recommendation, now and tuned",
        (
            Column("quantity", "quantity"),
            Column("now", "now", "count"),
            Column("tuned", "tuned", "count"),
            Column("change", "change", "count"),
        ),
        tuple((*r, int(r[2] or 0) - int(r[1] or 0)) for r in rows),
        caption=f"Command line to paste: {rec.cmdline or '(unchanged)'}. The kernel figures are at the same "
        "RAM; guest RAM, usable memory and host cost are the guest as packed.",
    )


def _skipped_table(k: KernelTuning, prefix: str) -> Table:
    return Table(
        f"{prefix}-not-proposed",
        f"{k.name}: not proposed",
        (Column("option", "change", "code"), Column("reason", "why not", "prose")),
        tuple((s.option, s.reason) for s in k.tuning.skipped),
        caption="Changes considered for this kernel build and size that save nothing here.",
        collapsed=True,
    )


def _kernel_section(k: KernelTuning, prefix: str) -> Section:
    t = k.tuning
    rec = t.recommendation
    what = "host kernel" if k.role == "host" else "guest"
    lead = (
        f"{what.capitalize()} {k.name}: {k.calibration.name} ({t.kernel_release}), {format_kib(k.memory_kib)}"
        + (" (memory: auto)" if k.memory_auto else "")
        + f", command line {t.baseline.cmdline or '(none)'}. "
        + (
            f"Recommended: {rec.cmdline} — saves {kib_and_mib(rec.saving_kib)} and adds "
            f"{k.guests_added:+,} guests per host."
            if rec.changes
            else "No change saves memory for this kernel at this size."
        )
    )
    blocks: tuple[Block, ...] = (
        _candidates_table(k, prefix),
        _recommendation_table(k, prefix),
        _skipped_table(k, prefix),
    )
    if k.steps:
        blocks = (_waterfall(k, prefix), *blocks)
    return Section(prefix, f"{what.capitalize()} {k.name}", lead, blocks)


# --- options, boots, provenance -------------------------------------------------------------------
def _options_section(result: TuneReport) -> Section:
    facts = {c.facts.key: c.facts for k in result.kernels for c in k.tuning.candidates}
    table = Table(
        "options",
        "What each change costs, and the kernels that have it",
        (
            Column("option", "option", "code"),
            Column("risk", "what the kernel loses", "prose"),
            Column("versions", "Linux versions", "prose"),
            Column("source", "parsed by", "code"),
        ),
        tuple((f"{f.key}=", f.risk, f.versions, f.source) for f in facts.values()),
        caption="planner.kernel.tuning_facts: each version says whether the commit was read (verified).",
    )
    return Section("options", "Risks and kernel versions", "One line per option proposed above.", (table,))


def _verification_section(v: GuestVerification, prefix: str) -> Section:
    rows: list[tuple[Value, ...]] = []
    styles = []
    for label, check in v.checks:
        for d in check.deltas:
            rows.append((label, d.quantity, d.measured_kib, d.predicted_kib, d.error_kib, d.tolerance_kib,
                         "-" if d.agrees is None else "yes" if d.agrees else "no"))  # fmt: skip
            styles.append("warn" if d.agrees is False else "")
    table = Table(
        f"{prefix}-checks",
        f"{v.name}: measured against predicted",
        (
            Column("variant", "change", "code"),
            Column("quantity", "quantity", "code"),
            Column("measured_kib", "measured", "kib", "KiB"),
            Column("predicted_kib", "predicted", "kib", "KiB"),
            Column("error_kib", "error", "kib", "KiB"),
            Column("tolerance_kib", "tolerance", "kib", "KiB"),
            Column("agrees", "agrees"),
        ),
        tuple(rows),
        caption="Changed boot − baseline boot; MemAvailable is reported, not judged (it moves by a few "
        "hundred KiB between identical boots).",
        row_styles=tuple(styles),
    )
    lead = f"{len(v.boots)} boots under qemu ({v.accel}); logs in {v.out_dir}. " + (
        "Every change agrees."
        if v.agrees
        else "A change disagrees or a boot failed: " + "; ".join(f"{a}: {b}" for a, b in v.failed)
    )
    return Section(prefix, f"Verified on real boots: {v.name}", lead, (table,))


def _provenance(result: TuneReport) -> Provenance:
    args = ["planner", "tune", result.target]
    if result.host.source == "--host" and result.host.path:
        args += ["--host", shown_path(result.host.path)]
    rows = [
        ("kernel option", f.key, f"{f.key}=", f.versions, "read", f.source)
        for f in {c.facts.key: c.facts for k in result.kernels for c in k.tuning.candidates}.values()
    ]
    kernels = {k.calibration.name: k.calibration.kernel_release for k in result.kernels}
    return Provenance(
        command=shlex.join(args) + " --html REPORT.html",
        generated_utc=now_utc(),
        inputs=inputs_table(result.input_files),
        sources=sources_table(
            rows, title="Option sources", caption="Where each option is parsed, and since when."
        ),
        versions=versions_table([(f"kernel {name}", release) for name, release in kernels.items()]),
    )
