"""The text ``planner density`` prints without ``--json``: each guest booted, why the adding
stopped, booted against fit's guaranteed and expected counts, and where the per-guest cost
differs from fit's. Reads a :class:`~planner.results.density.DensityResult` and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner.report.text import _mib, _opt_mib, _table, count_text
from planner.units import KIB_PER_MIB, format_kib

if TYPE_CHECKING:  # the boot lab is loaded only by planner density
    from planner.results.density import DensityResult


def _guest_rows(result: DensityResult) -> list[str]:
    rows = [["guest", "boot s", "RSS", "guest RAM", "cgroup after", "marginal", "at the end"]]
    marginal = iter(result.marginal_costs_kib)
    for g in result.run.guests:
        if g.up_at_end:
            end = "up"
        elif g.ended_s is not None:
            how = "SIGKILL" if g.returncode == -9 else f"exit {g.returncode}"
            end = f"{how} at {g.ended_s:.0f} s"
        else:
            end = "running, never IDLE-READY"
        rows.append(
            [
                f"{g.index} again" if g.restart else str(g.index),
                "-" if g.boot_wall_s is None else f"{g.boot_wall_s:.1f}",
                _opt_mib(g.rss_kib),
                _opt_mib(g.guest_ram_resident_kib),
                _opt_mib(g.usage_after_kib),
                _mib(next(marginal)) if g.usage_after_kib is not None and not g.restart else "-",
                end + (" (tmpfs not written)" if g.tmpfs_failed else ""),
            ]
        )
    note = "  (MiB; RSS and guest RAM: qemu's, once settled after IDLE-READY"
    if result.run.restarts:
        note += "; again: started after the stop, in place of a guest the OOM killer took beyond one"
    note += ")"
    return [*_table(rows, right={1, 2, 3, 4, 5}), note]


def _disagreements(result: DensityResult) -> list[str]:
    """Where booted, guaranteed and expected differ, and what the measurements say about why."""
    fit, booted, m = result.fit, result.booted, result.measured
    limit = result.run.limit_kib
    lines = []
    guaranteed = fit.guaranteed_count
    if guaranteed <= booted:
        lines.append(f"guaranteed {guaranteed} <= booted {booted}: the guaranteed count held")
    else:
        lines.append(f"guaranteed {guaranteed} > booted {booted}: the guaranteed count did NOT hold")
    if fit.expected_count == booted:
        lines.append(f"expected {fit.expected_count} = booted {booted}")
    else:
        side = "<" if fit.expected_count < booted else ">"
        lines.append(f"expected {fit.expected_count} {side} booted {booted}")
    if m is None:
        return lines
    rows = [["per guest (MiB)", "measured", "fit expected", "difference"]]

    def row(label: str, measured: float, modelled: float) -> None:
        rows.append([label, _mib(measured), _mib(modelled), f"{(measured - modelled) / KIB_PER_MIB:+.1f}"])

    if m.guest_ram_kib is not None:
        row("guest RAM resident", m.guest_ram_kib, fit.expected_resident_kib)
        row("qemu beyond guest RAM", m.cgroup_kib - m.guest_ram_kib, fit.host_overhead_kib)
    row("cgroup cost", m.cgroup_kib, fit.expected_demand_kib)
    rows.append(["guests in the limit", str(int(limit // m.cgroup_kib)), str(fit.expected_count), ""])
    lines += ["", *_table(rows)]
    source = {
        "profile": "the profile's measured boot footprint",
        "model": "the kernel model's boot footprint",
    }
    lines.append(
        f"  guest RAM in fit: {source.get(fit.footprint_source or '', 'the full size')}"
        + (" and the workload" if fit.workload_kib else "")
        + f", at most the guest's RAM; overhead: the {fit.hypervisor} profile"
    )
    if m.rss_kib is not None and m.beyond_guest_ram_kib is not None:
        files = "" if m.file_rss_kib is None else f" (its file pages: {_mib(m.file_rss_kib)} MiB)"
        lines.append(
            f"  qemu's RSS beyond guest RAM is {_mib(m.beyond_guest_ram_kib)} MiB; the cgroup was charged "
            f"{_mib(m.rss_kib - m.cgroup_kib)} MiB less per guest{files}: file pages such as qemu's "
            f"shared libraries are charged once, to the cgroup that read them first; fit counts "
            f"{_mib(fit.shared_kib)} MiB of them once in the limit"
        )
    return lines


def density_text(result: DensityResult) -> str:
    """The guests booted (one row each), why the adding stopped, the three counts, and where
    and why they disagree."""
    run, lab, fit = result.run, result.lab, result.fit
    tmpfs = f", {format_kib(result.tmpfs_kib)} of tmpfs data" if result.tmpfs_kib else ""
    swap = ", swap kept out" if run.swap_limited else ""
    kernel = lab.kernel
    la0, la1 = run.load_average_start[0], run.load_average_end[0]
    n = run.stable_count
    before = (
        ""
        if run.stop_reason == "max-guests"
        else f", {count_text(n, 'guest')} up before guest {n + 1} started"
    )
    lines = [
        f"{result.profile}: {format_kib(result.memory_kib)} guests, {count_text(result.vcpu_count, 'vCPU')}"
        f"{tmpfs}, in a {format_kib(run.limit_kib)} memory cgroup (v{run.cgroup_version}{swap})",
        f"kernel {kernel.package or kernel.image.path} {kernel.version or ''}; {lab.qemu_version}; "
        f"-accel {lab.accel} ({lab.accel_reason}); load average {la0:.2f} -> {la1:.2f}",
        "",
        *_guest_rows(result),
        "",
        f"stopped after {count_text(len(run.guests), 'guest')}: {result.stop_reason_text}; "
        f"{count_text(run.oom_kills, 'OOM kill')}; held {run.hold_s:g} s; peak {_opt_mib(run.peak_kib)} MiB",
        f"booted {result.booted}, guaranteed {fit.guaranteed_count}, expected {fit.expected_count} "
        f"(booted: guests up after the hold{before}; fit's counts for {format_kib(run.limit_kib)})",
    ]
    cost = result.per_guest_cost_kib
    if cost is not None:
        lines.append(
            f"per-guest cost {_mib(cost)} MiB (cgroup {_opt_mib(run.stable_usage_kib)} MiB at "
            f"{count_text(run.stable_count, 'guest')}); fit: guaranteed {_mib(fit.guaranteed_demand_kib)} "
            f"MiB, expected {_mib(fit.expected_demand_kib)} MiB (each with {_mib(fit.host_overhead_kib)} "
            f"of {fit.hypervisor} overhead; {_mib(fit.shared_kib)} MiB once)"
        )
    lines += ["", *_disagreements(result), *(f"note: {note}" for note in fit.notes)]
    if result.logs_dir:
        lines.append(f"console logs: {result.logs_dir}")
    return "\n".join(lines)
