"""The readable text of every result: what ``planner fit``, ``check``, ``predict``,
``calibrate`` and ``profiles`` print without ``--json``.

Each renderer reads a typed result (:mod:`planner.results`) and nothing else.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from planner.capacity.binding import binding_text
from planner.results import (
    CalibrateResult,
    CheckResult,
    FitResult,
    HostCheck,
    PlanResult,
    PredictResult,
    ProfileListing,
)
from planner.units import KIB_PER_MIB, format_kib

if TYPE_CHECKING:  # the boot lab is loaded only by planner bootlab
    from planner.results.bootlab import BootlabResult
    from planner.results.calibrate_host import HostCalibrationResult


# --- helpers --------------------------------------------------------------------------------------
def count_text(n: int, noun: str) -> str:
    """``1 thread``, ``2 threads``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _mib(kib: float) -> str:
    return f"{kib / KIB_PER_MIB:,.1f}"


def _table(rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right if right is not None else set(range(1, len(rows[0])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  " + "  ".join(cells).rstrip())
        if n == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


# --- fit ----------------------------------------------------------------------------------------
def _plan_text(result: FitResult, plan: PlanResult) -> list[str]:
    nodes = plan.nodes
    weight = f", total weight {plan.total_weight:g}" if result.objective == "max_weight" else ""
    lines = [
        f"{plan.name}: {count_text(plan.total_guests, 'guest')}{weight} ({plan.status}"
        + (f", gap {plan.gap:.2%}" if plan.gap and math.isfinite(plan.gap) else "")
        + f"); vCPUs {plan.vcpu_used} of {plan.vcpu_capacity:g}",
    ]
    rows = [["profile", *[f"node {n.node_id}" for n in nodes], "total"]]
    for name in result.per_guest:
        rows.append([name, *[str(n.guests.get(name, 0)) for n in nodes], str(plan.guests[name])])
    lines += _table(rows)
    lines.append("")
    lines.append("  where each MiB goes (MiB)")
    rows = [["", *[f"node {n.node_id}" for n in nodes], "host"]]

    def row(label: str, values: list[int]) -> None:
        rows.append([label, *[_mib(v) for v in values], _mib(sum(values))])

    row("capacity given" if result.capacity_only else "RAM", [n.memory_kib for n in nodes])
    row("- host kernel", [n.host_kernel_kib for n in nodes])
    row("- hypervisor reserve", [n.hypervisor_reserve_kib for n in nodes])
    row("- operator reserve", [n.operator_reserve_kib for n in nodes])
    if any(n.hugepages_kib for n in nodes):
        row("- hugepage pool", [n.hugepages_kib for n in nodes])
    if any(n.scenario_reserve_kib for n in nodes):
        row("- one KSM copy", [n.scenario_reserve_kib for n in nodes])
    row(
        "= capacity" + (f" (x{plan.memory_ratio:g})" if plan.memory_ratio != 1.0 else ""),
        [n.capacity_kib for n in nodes],
    )
    row("  guest RAM", [n.guest_memory_kib for n in nodes])
    row("  per-guest overhead", [n.guest_overhead_kib for n in nodes])
    if any(n.hugepages_kib for n in nodes):
        row("  guest RAM in hugepages", [n.hugepages_used_kib for n in nodes])
    row("  free", [n.free_kib for n in nodes])
    lines += _table(rows)
    lines.append("")
    lines.append(
        "  binds: "
        + (", ".join(binding_text(b) for b in plan.binding) or "nothing (every profile reached its max)")
    )
    return lines


def fit_text(result: FitResult) -> str:
    """Guests per profile and node, where each MiB goes, what binds; the scenario beside."""
    kernel = result.host_kernel or "none"
    if result.host_kernel and not result.host_kernel_applied:
        kernel += " (not subtracted)"
    if result.capacity_only:
        kernel = "none (capacity-only host)"
    lines = [
        f"{result.host_file}: {format_kib(result.host_memory_kib)}"
        + (" for guests (capacity-only)" if result.capacity_only else "")
        + ", "
        f"{len(result.guaranteed.nodes)} NUMA node(s), "
        f"{result.cpu_count} CPUs x {result.vcpu_ratio:g} vCPUs; "
        f"hypervisor {result.hypervisor}; "
        f"host kernel {kernel}; objective {result.objective}",
        "",
        "per guest (MiB)",
    ]
    rows = [["profile", "size", "vCPUs", "kernel keeps", "usable", "workload", "overhead", "host cost"]]
    for pg in result.per_guest.values():
        rows.append(
            [
                pg.name if pg.name == pg.profile else f"{pg.name} ({pg.profile})",
                _mib(pg.guest_memory_kib) + (" auto" if pg.memory_auto else ""),
                str(pg.vcpu_count),
                _mib(pg.guest_kernel_kib),
                _mib(pg.user_available_kib),
                _mib(pg.workload_user_kib) if pg.workload_user_kib is not None else "-",
                _mib(pg.host_overhead_kib),
                _mib(pg.host_cost_kib),
            ]
        )
    lines += _table(rows)
    lines.append("")
    lines += _plan_text(result, result.guaranteed)
    if result.scenario is not None:
        s = result.scenario
        lines.append("")
        lines.append(f"guaranteed beside scenario {s.name!r}:")
        rows = [["profile", "guaranteed", s.name]]
        for name in result.per_guest:
            rows.append([name, str(result.guaranteed.guests[name]), str(s.guests[name])])
        rows.append(["total", str(result.guaranteed.total_guests), str(s.total_guests)])
        lines += _table(rows)
        lines.append("")
        lines.append(
            f"scenario {result.scenario.name!r} (overcommitted, not guaranteed): "
            "guest RAM counted as resident "
            + ", ".join(f"{p} {_mib(v)} MiB" for p, v in result.scenario.resident_kib.items())
        )
        if result.spec.scenario is not None and result.spec.scenario.resident == "expected":
            lines.append("boot footprint (expected resident = footprint + workload): " + _footprints(result))
        lines += _plan_text(result, result.scenario)
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


#: how the text and the report name a boot footprint's source (:data:`planner.results.FootprintSource`)
FOOTPRINT_SOURCE_WORDS = {
    "profile": "measured, in its profile",
    "model": "kernel model",
    None: "none: full size counted",
}


def _footprints(result: FitResult) -> str:
    return ", ".join(
        f"{pg.name} "
        + (f"{_mib(pg.boot_footprint_kib)} MiB " if pg.boot_footprint_kib is not None else "")
        + f"({FOOTPRINT_SOURCE_WORDS[pg.boot_footprint_source]})"
        for pg in result.per_guest.values()
    )


# --- check ----------------------------------------------------------------------------------------
def printable(text: str) -> str:
    """A domain name safe to print on a terminal (control characters escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _opt_mib(kib: int | None) -> str:
    return "-" if kib is None else _mib(kib)


def _check_host_text(h: HostCheck) -> list[str]:
    if not h.ok:
        return [f"{h.uri}: FAILED: {h.error}"]
    lines = [
        f"{h.uri}: {h.driver}, libvirt {h.libvirt_version}, host {printable(h.hostname or '?')}; "
        f"{format_kib(h.memory_kib)} in {len(h.nodes)} NUMA node(s); hypervisor {h.hypervisor}; "
        f"host kernel {h.host_kernel or 'not modelled'}"
        + (f"; guest kernel {h.guest_kernel}" if h.guest_kernel else "")
        + ("; OVER-COMMITTED" if h.over_committed else ""),
        "",
    ]
    rows = [
        ["node", "memory", "host kernel", "reserves", "capacity", "committed", "left", "used now", "free now"]
    ]
    for n in h.nodes:
        rows.append(
            [
                str(n.node_id),
                _mib(n.memory_kib),
                _mib(n.host_kernel_kib),
                _mib(n.hypervisor_reserve_kib + n.operator_reserve_kib),
                _mib(n.capacity_kib),
                _mib(n.committed_kib),
                _mib(n.left_kib),
                _opt_mib(n.used_kib),
                _opt_mib(n.free_kib),
            ]
        )
    lines += _table(rows)
    lines.append("  (MiB; committed = full guest size + predicted hypervisor overhead)")
    lines.append("")
    lines += _domains_text(h)
    if h.headroom:
        lines.append("")
        lines.append("  headroom now (more guests of each profile alone):")
        for name, count in h.headroom.items():
            binds = ", ".join(binding_text(b) for b in h.headroom_binding.get(name, ())) or "-"
            lines.append(f"    {name}: {count} (binds: {binds})")
    for w in h.warnings:
        lines.append(f"  warning: {printable(w)}")
    for note in h.notes:
        lines.append(f"  note: {printable(note)}")
    return lines


def _domains_text(h: HostCheck) -> list[str]:
    rows = [
        ["domain", "state", "max", "current", "vCPUs", "nodes", "committed", "overhead", "measured", "usable"]
    ]
    for d in h.domains:
        m = d.measured
        rows.append(
            [
                printable(d.name),
                d.state,
                _mib(d.max_memory_kib),
                _mib(d.current_memory_kib),
                str(d.vcpus),
                ",".join(str(k) for k in sorted(d.node_kib)) or "-",
                _mib(d.committed_kib),
                _mib(d.predicted_overhead_kib) if d.active else "-",
                _mib(m.host_overhead_kib) if m is not None else "-",
                _opt_mib(d.balloon.usable_kib if d.balloon is not None else None),
            ]
        )
    return [
        *_table(rows, right={2, 3, 4, 6, 7, 8, 9}),
        "  (MiB; overhead = hypervisor profile's prediction, measured = qemu RSS - resident guest RAM "
        "+ page tables; usable = guest MemAvailable from the balloon)",
    ]


def check_text(result: CheckResult) -> str:
    """One block per host: nodes, domains, headroom, warnings; a summary line last."""
    lines: list[str] = []
    for h in result.hosts:
        lines += _check_host_text(h)
        lines.append("")
    failed = sum(not h.ok for h in result.hosts)
    over = sum(h.over_committed for h in result.hosts)
    checked = len(result.hosts) - failed
    lines.append(f"{len(result.hosts)} host(s): {checked} checked, {failed} failed, {over} over-committed")
    return "\n".join(lines)


# --- kernel, catalog ------------------------------------------------------------------------------
def predict_text(result: PredictResult) -> str:
    """Where every KiB of the guest goes, MemTotal and MemAvailable, the model's notes."""
    p = result.prediction
    cal = result.calibration
    lines = [
        f"{cal.name} ({cal.kernel_release}, {cal.arch}) with {format_kib(p.memory_kib)} RAM, "
        f"{p.spec.vcpu_count} vCPU" + ("s" if p.spec.vcpu_count > 1 else ""),
        "",
    ]
    rows = [["where the memory goes", "KiB", "MiB", "% of RAM"]]
    for term, kib in p.breakdown_kib.items():
        if term == "mem_limit" and not kib:
            continue  # only with mem= on the command line
        rows.append(
            [
                term.replace("_", " "),
                str(kib),
                f"{kib / KIB_PER_MIB:.1f}",
                f"{100 * kib / p.memory_kib:.1f}",
            ]
        )
    kib = p.mem_available_kib
    rows.append(
        [
            "available to user space",
            str(kib),
            f"{kib / KIB_PER_MIB:.1f}",
            f"{100 * kib / p.memory_kib:.1f}",
        ]
    )
    lines += _table(rows, right={1, 2, 3})
    lines += [
        "",
        f"MemTotal {p.mem_total_kib} KiB, MemFree {p.mem_free_kib} KiB, "
        f"MemAvailable {p.mem_available_kib} KiB (min_free_kbytes {p.min_free_kbytes}, "
        f"THP {'on' if p.thp_active else 'off'})",
        f"the kernel keeps {format_kib(p.kernel_kib)} "
        f"({100 * p.kernel_kib / p.memory_kib:.1f} %) of this guest",
    ]
    lines += [f"note: {note}" for note in p.notes if "outside the calibrated range" not in note]
    return "\n".join(lines)


def calibrate_text(result: CalibrateResult) -> str:
    """Measured against modelled MemTotal and MemAvailable per log; what was skipped, written."""
    cal = result.calibration
    lines = [f"calibration {cal.name}: {cal.description}"]
    rows = [["log", "RAM", "vCPU", "MemTotal", "model", "resid", "MemAvailable", "model", "resid"]]
    for log in cal.logs:
        m, p = log.measured, log.modelled
        row = [Path(log.source).name, format_kib(log.memory_kib), str(log.vcpu_count)]
        for key in ("mem_total_kib", "mem_available_kib"):
            if key in m and key in p:
                row += [str(m[key]), str(p[key]), f"{p[key] - m[key]:+d}"]
            else:
                row += ["-", "-", "-"]
        rows.append(row)
    lines += _table(rows, right=set(range(1, 9)))
    lines.append("(KiB; resid = model - measured)")
    for source, reason in result.skipped:
        lines.append(f"skipped {source}: {reason}")
    if result.output:
        lines.append(f"wrote {result.output}")
    return "\n".join(lines)


def calibrate_host_text(result: HostCalibrationResult) -> str:
    """The measured domains with their residuals, each parameter fitted or kept, the profile."""
    lines = [
        f"{', '.join(result.uris)}: hypervisor profile {result.name!r} fitted on "
        f"{count_text(len(result.domains), 'domain')} on {result.date} (base {result.base})",
        "",
    ]
    rows = [["domain", "type", "RAM MiB", "vCPUs", "measured MiB", "profile MiB", "residual KiB"]]
    for d in result.domains:
        rows.append(
            [
                printable(d.name),
                d.domain_type,
                _mib(d.memory_kib),
                str(d.vcpu_count),
                _mib(d.measured_kib),
                _mib(d.predicted_kib),
                f"{d.residual_kib:+,}",
            ]
        )
    lines += _table(rows)
    lines += [f"  rms residual {result.rms_residual_kib:,.0f} KiB", ""]
    rows = [["parameter", "value", f"{result.base}'s", "how"]]
    for key, p in result.parameters.items():
        how = "fitted" if p.fitted else f"kept: {result.kept.get(key, 'libvirtd, not the qemu process')}"
        rows.append([key, f"{p.value:,}", f"{result.base_parameters[key]:,}", how])
    lines += _table(rows, right={1, 2})
    for name, why in result.skipped:
        lines.append(f"not used: {printable(name)}: {why}")
    lines += [f"note: {n}" for n in result.notes]
    lines.append("")
    if result.output is not None:
        lines.append(f"wrote {result.output}: use it in a host file as hypervisor: {result.output}")
    else:
        lines.append("the profile (-o FILE writes it):")
        lines.append(result.profile_yaml.rstrip())
    return "\n".join(lines)


def profiles_text(listing: ProfileListing) -> str:
    """Kernels, hypervisors and guest profiles, one line each."""
    lines: list[str] = []
    for title, items in (
        ("kernels", listing.kernels),
        ("hypervisors", listing.hypervisors),
        ("guests", listing.guests),
    ):
        lines.append(f"{title}:")
        width = max((len(k) for k in items), default=0)
        lines += [f"  {name.ljust(width)}  {text}" for name, text in items.items()] or ["  (none)"]
        lines.append("")
    return "\n".join(lines).rstrip()


def bootlab_text(result: BootlabResult) -> str:
    """The boots (one line each), then the calibration made from them."""
    calibration = [calibrate_text(result.calibration)] if result.calibration else []
    return "\n".join([result.campaign.to_text(), *calibration])
