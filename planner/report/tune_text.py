"""The readable text of ``planner tune``: per kernel its candidates (KiB saved per guest, term by
term; guests per host), what each costs the guest, the recommendation to paste, and guests per
host before and after; then, with ``--verify``, measured against predicted.

Reads a :class:`~planner.results.tune.TuneReport` and nothing else. Sizes of guests and hosts in
MiB, as ``planner fit`` prints them; savings per term in KiB.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

from planner.report.text import _table, count_text
from planner.results.tune import HOST_COST_RULE, GuestVerification, KernelTuning, TuneReport
from planner.units import KIB_PER_MIB, format_kib


def _kib(kib: int) -> str:
    return f"{kib:,}"


def _signed(kib: int) -> str:
    return f"{kib:+,}"


def _mib(kib: float) -> str:
    return f"{kib / KIB_PER_MIB:,.1f}"


def _added(after: int, before: int) -> str:
    return f"{after:,} ({after - before:+,})"


def _terms(terms: Mapping[str, int]) -> str:
    """``hash tables early 120, slab -4``: biggest first."""
    ordered = sorted(terms.items(), key=lambda kv: -abs(kv[1]))
    return ", ".join(f"{t.replace('_', ' ')} {v:,}" for t, v in ordered) or "-"


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent=indent, subsequent_indent=indent)


def _host_line(result: TuneReport) -> str:
    h = result.host
    kernel = h.host_kernel or "none"
    if h.host_kernel and not h.host_kernel_applied:
        kernel += " (not subtracted)"
    return (
        f"host: {h.description}: {format_kib(h.memory_kib)} in "
        f"{count_text(len(h.node_memory_kib), 'NUMA node')}, "
        f"{h.cpu_count} CPUs x {h.vcpu_ratio:g} vCPUs, {h.hypervisor}, host kernel {kernel}, "
        f"operator reserve {format_kib(h.operator_reserve_kib)}"
    )


def _kernel_title(k: KernelTuning) -> str:
    t = k.tuning
    line = repr(t.baseline.cmdline) if t.baseline.cmdline else "(none)"
    if k.role == "host":
        return (
            f"host kernel {k.calibration.name} ({t.kernel_release}): {format_kib(k.memory_kib)}, "
            f"{k.vcpu_count} CPUs, command line {line}"
        )
    profile = "" if k.profile == k.name else f" (profile {k.profile})"
    size = format_kib(k.memory_kib) + (" (memory: auto)" if k.memory_auto else "")
    return (
        f"guest {k.name}{profile}: {k.calibration.name} ({t.kernel_release}), {size}, "
        f"{count_text(k.vcpu_count, 'vCPU')}, command line {line}"
    )


def _candidates(k: KernelTuning) -> list[str]:
    cands = k.tuning.candidates
    if not cands:
        return ["  no change saves memory for this kernel at this size"]
    before = k.before.total_guests
    if k.role == "guest":
        rows = [["change", "saves KiB", "MemTotal KiB", "MemAvailable KiB", "guest MiB", "guests/host"]]
        for c, g in zip(cands, k.gains, strict=True):
            d = c.totals_delta_kib
            rows.append(
                [
                    c.change.label,
                    _kib(c.saving_kib),
                    _signed(d.get("mem_total_kib", 0)),
                    _signed(d.get("mem_available_kib", 0)),
                    _mib(g.guest_memory_kib or 0),
                    _added(g.total_guests, before),
                ]
            )
    else:
        nodes = k.before.node_capacity_kib
        rows = [["change", "saves KiB", *[f"node {i} MiB" for i in range(len(nodes))], "guests/host"]]
        for c, g in zip(cands, k.gains, strict=True):
            freed = [
                f"{(a - b) / KIB_PER_MIB:+,.1f}" for a, b in zip(g.node_capacity_kib, nodes, strict=True)
            ]
            rows.append([c.change.label, _kib(c.saving_kib), *freed, _added(g.total_guests, before)])
    lines = _table(rows)
    lines += ["", "  saving per term (KiB; negative: the term grows)"]
    width = max(len(c.change.label) for c in cands)
    lines += [f"    {c.change.label.ljust(width)}  {_terms(c.terms_kib)}" for c in cands]
    return lines


def _risks(result: TuneReport) -> list[str]:
    """What each proposed option costs and where it exists, once per option."""
    facts = {c.facts.key: c.facts for k in result.kernels for c in k.tuning.candidates}
    if not facts:
        return []
    lines = ["what each change costs, and the kernels that have it"]
    for f in facts.values():
        lines.append(f"  {f.key}=")
        lines += _wrap(f"risk: {f.risk}", "    ")
        lines += _wrap(f"Linux: {f.versions}; parsed by {f.source}", "    ")
    return [*lines, ""]


def _skipped(k: KernelTuning) -> list[str]:
    skipped = k.tuning.skipped
    if not skipped:
        return []
    width = max(len(s.option) for s in skipped)
    return ["", "  not proposed", *[f"    {s.option.ljust(width)}  {s.reason}" for s in skipped]]


def _recommendation(k: KernelTuning) -> list[str]:
    rec = k.tuning.recommendation
    if not rec.changes:
        return ["", "  recommendation: keep the command line as it is"]
    where = "the guest's" if k.role == "guest" else "the host's"
    lines = ["", f"  recommendation: paste on {where} kernel command line", f"    {rec.cmdline}", ""]
    b, a = rec.before.totals_kib, rec.after.totals_kib
    rows = [["", "now", "tuned", "change"]]

    def kib_row(label: str, before: int, after: int) -> None:
        rows.append([label, _kib(before), _kib(after), _signed(after - before)])

    def mib_row(label: str, before: int, after: int) -> None:
        rows.append([label, _mib(before), _mib(after), f"{(after - before) / KIB_PER_MIB:+,.1f}"])

    kib_row("the kernel keeps (KiB)", rec.before.kernel_kib, rec.after.kernel_kib)
    if k.role == "guest":
        kib_row("MemTotal (KiB)", b["mem_total_kib"], a["mem_total_kib"])
        kib_row("MemAvailable (KiB)", b["mem_available_kib"], a["mem_available_kib"])
        g0, g1 = k.before.guest(k.name), k.after.guest(k.name)
        mib_row("guest RAM (MiB)", g0.memory_kib, g1.memory_kib)
        mib_row("usable (MiB)", g0.usable_kib, g1.usable_kib)
        mib_row("host cost (MiB)", g0.host_cost_kib, g1.host_cost_kib)
    else:
        nodes = zip(k.before.node_capacity_kib, k.after.node_capacity_kib, strict=True)
        for i, (c0, c1) in enumerate(nodes):
            mib_row(f"node {i} capacity (MiB)", c0, c1)
    rows.append(
        ["guests per host", _kib(k.before.total_guests), _kib(k.after.total_guests), _signed(k.guests_added)]
    )
    lines += _table(rows)
    if rec.dropped or rec.combined_only:
        lines.append("")
    if rec.dropped:
        lines.append(
            "  left out (the whole line saves more without): " + ", ".join(c.label for c in rec.dropped)
        )
    if rec.combined_only:
        lines.append("  added (saves only with the others): " + ", ".join(c.label for c in rec.combined_only))
    return lines


def _kernel_text(k: KernelTuning) -> list[str]:
    lines = [_kernel_title(k), ""]
    lines += _candidates(k)
    lines += _skipped(k)
    lines += _recommendation(k)
    lines += [f"  note: {n}" for n in k.tuning.notes]
    return lines


def _combined(result: TuneReport) -> list[str]:
    before, after = result.baseline, result.combined
    rows = [["guest", "now MiB", "count", "tuned MiB", "count"]]
    for g in before.guests:
        t = after.guest(g.name)
        rows.append([g.name, _mib(g.memory_kib), _kib(g.count), _mib(t.memory_kib), _kib(t.count)])
    rows.append(["total", "", _kib(before.total_guests), "", _added(after.total_guests, before.total_guests)])
    lines = ["every recommendation at once (" + ", ".join(k.name for k in result.kernels) + ")", ""]
    return [*lines, *_table(rows)]


def verification_text(v: GuestVerification) -> list[str]:
    """Measured against predicted per change (KiB, changed boot - baseline boot)."""
    lines = [
        f"verified on real boots: {v.name} (qemu {v.accel}, {len(v.boots)} boots, logs in {v.out_dir})",
        "",
    ]
    rows = [
        [
            "change",
            "MemTotal meas/pred",
            "reserved meas/pred",
            "MemAvailable meas/pred",
            "hash tables",
            "agrees",
        ]
    ]
    for label, check in v.checks:
        total, reserved, avail = (
            check.delta(q) for q in ("mem_total_kib", "reserved_kib", "mem_available_kib")
        )
        tables = [d for d in check.deltas if d.quantity.startswith("hash:")]
        off = sum(d.agrees is False for d in tables)
        rows.append(
            [
                label,
                f"{total.measured_kib:+,}/{total.predicted_kib:+,}",
                f"{reserved.measured_kib:+,}/{reserved.predicted_kib:+,}",
                f"{avail.measured_kib:+,}/{avail.predicted_kib:+,}",
                f"{len(tables) - off} of {len(tables)} exact" if tables else "-",
                "yes" if check.agrees else "NO",
            ]
        )
    lines += _table(rows, right={1, 2, 3})
    lines += [f"  not compared: {label}: {why}" for label, why in v.failed]
    lines.append(
        "  (KiB; MemTotal and reserved must agree within 64 KiB, hash tables exactly; MemAvailable is "
        "reported, not judged: it moves by a few hundred KiB between identical boots)"
    )
    return lines


def tune_text(result: TuneReport) -> str:
    """Each kernel's candidates and recommendation, guests per host before and after, the rule."""
    before, after = result.baseline.total_guests, result.combined.total_guests
    lines = [
        f"planner tune {result.target} ({result.target_kind})",
        _host_line(result),
        f"guests per host: {before:,} now, {after:,} with the recommendation"
        + ("s below" if len(result.kernels) > 1 else " below")
        + f" ({after - before:+,})",
        "",
    ]
    if result.host_kernel_skipped:
        lines += [f"host kernel not tuned: {result.host_kernel_skipped}", ""]
    for k in result.kernels:
        lines += [*_kernel_text(k), ""]
    if len(result.kernels) > 1:
        lines += [*_combined(result), ""]
    lines += _risks(result)
    for v in result.verification:
        lines += [*verification_text(v), ""]
    lines += ["how guests per host are counted:", *_wrap(HOST_COST_RULE)]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)
