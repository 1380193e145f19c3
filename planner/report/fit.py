"""The ``planner fit`` report: a :class:`~planner.results.FitResult` as a :class:`ReportPage`.

The result carries everything drawn here: the plan, the host file as read (profiles,
calibrations, hypervisor profiles: :attr:`FitResult.spec`), each guest's size sweep and the
input files with their sha256; nothing is read, modelled or solved again. The sections:
summary (here), :mod:`.fit_guests`, :mod:`.fit_nodes`, :mod:`.fit_sizing`, then one per
calibration (:func:`.common.calibration_section`).
"""

from __future__ import annotations

import math

from planner.capacity.binding import binding_kind, binding_text
from planner.hypervisors import HypervisorProfile
from planner.inputs.specs import Scenario
from planner.kernel.calibration import Calibration
from planner.report.common import (
    SourceRow,
    calibration_section,
    hypervisor_source_rows,
    inputs_table,
    now_utc,
    profile_source_rows,
    profile_value,
    sources_table,
    versions_table,
)
from planner.report.context import (
    Block,
    Column,
    ItemList,
    KeyFigure,
    Provenance,
    ReportPage,
    Section,
    Table,
    Value,
)
from planner.report.fit_guests import guests_section
from planner.report.fit_nodes import nodes_section
from planner.report.fit_sizing import sizing_section
from planner.report.render import slug, unique
from planner.report.text import FOOTPRINT_SOURCE_WORDS
from planner.results import FitResult, PlanResult
from planner.units import format_kib


def fit_page(result: FitResult) -> ReportPage:
    """The report of one ``planner fit`` result."""
    sections = [_summary(result), guests_section(result), nodes_section(result), sizing_section(result)]
    calibrations = _calibrations(result)
    prefixes = unique(f"cal-{slug(name)}" for name in calibrations)
    for prefix, (cal, users) in zip(prefixes, calibrations.values(), strict=True):
        sections.append(calibration_section(cal, slug_prefix=prefix, used_for=", ".join(users)))
    requests = {g.name: g for g in result.spec.guests}
    warnings = []
    for name, pg in result.per_guest.items():
        rng = requests[name].calibration.calibrated_range
        if not rng.covers_memory(pg.guest_memory_kib):
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
        figures=_figures(result),
        notices=tuple(notices),
        sections=tuple(sections),
        provenance=_provenance(result),
    )


def _calibrations(result: FitResult) -> dict[str, tuple[Calibration, list[str]]]:
    """Each calibration used, with what it is used for (the guests' names, "the host")."""
    calibrations: dict[str, tuple[Calibration, list[str]]] = {}
    for request in result.spec.guests:
        calibrations.setdefault(request.calibration.name, (request.calibration, []))[1].append(request.name)
    kernel = result.spec.host.kernel
    if kernel is not None:
        calibrations.setdefault(kernel.name, (kernel, []))[1].append("the host")
    return calibrations


def _figures(result: FitResult) -> tuple[KeyFigure, ...]:
    plan = result.guaranteed
    scenario = result.scenario
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
    if scenario is not None and result.spec.scenario is not None:
        figures.append(
            KeyFigure(
                f"overcommitted: {scenario.name}",
                f"{scenario.total_guests:,}",
                "not guaranteed: " + _scenario_words(result.spec.scenario),
                "muted",
            )
        )
    binds = (
        ", ".join(binding_text(b) for b in plan.binding) if plan.binding else "every profile reached its max"
    )
    return (
        *figures,
        KeyFigure(
            "what binds",
            " and ".join(dict.fromkeys(binding_kind(b) for b in plan.binding)) or "nothing",
            binds,
        ),
        KeyFigure(
            "memory for guests",
            format_kib(sum(n.capacity_kib for n in plan.nodes)),
            f"of {format_kib(result.host_memory_kib)} capacity given, after the reserves"
            if result.capacity_only
            else f"of {format_kib(result.host_memory_kib)} RAM, after the host kernel and reserves",
        ),
        KeyFigure(
            "vCPUs",
            f"{plan.vcpu_used:,} of {plan.vcpu_capacity:,.0f}",
            f"{result.cpu_count} CPUs × {result.vcpu_ratio:g} vCPUs each",
        ),
    )


def _subtitle(result: FitResult) -> str:
    kernel = result.host_kernel or "none"
    if result.host_kernel and not result.host_kernel_applied:
        kernel += " (not subtracted)"
    if result.capacity_only:
        kernel = "none (capacity-only host)"
    memory = "for guests (capacity-only)" if result.capacity_only else "RAM"
    return (
        f"{format_kib(result.host_memory_kib)} {memory} in {len(result.guaranteed.nodes)} NUMA node(s), "
        f"{result.cpu_count} CPUs; hypervisor {result.hypervisor}; host kernel {kernel}; "
        f"objective {result.objective}"
    )


def _scenario_words(s: Scenario) -> str:
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
def _counts_table(result: FitResult, plan: PlanResult, slug_name: str, title: str) -> Table:
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


def _comparison_table(result: FitResult, plan: PlanResult, scenario: PlanResult) -> Table:
    rows = tuple(
        (
            name,
            plan.guests[name],
            scenario.guests[name],
            plan.resident_kib[name],
            scenario.resident_kib[name],
            result.per_guest[name].boot_footprint_kib,
            FOOTPRINT_SOURCE_WORDS[result.per_guest[name].boot_footprint_source],
        )
        for name in result.per_guest
    )
    return Table(
        "guaranteed-vs-overcommitted",
        "Guaranteed against overcommitted",
        (
            Column("profile", "profile"),
            Column("guaranteed_guests", "guaranteed", "count"),
            Column("scenario_guests", scenario.name, "count"),
            Column("guaranteed_resident_kib", "resident per guest, guaranteed", "kib_as_mib", "MiB"),
            Column("scenario_resident_kib", f"resident per guest, {scenario.name}", "kib_as_mib", "MiB"),
            Column("boot_footprint_kib", "boot footprint", "kib_as_mib", "MiB"),
            Column("boot_footprint_source", "boot footprint from"),
        ),
        rows,
        caption="Resident = guest RAM counted on the host per guest. The guaranteed plan counts "
        "each guest's full size; the scenario counts what it expects to be resident, and is not a "
        "promise. With resident: expected that is the boot footprint (measured in the guest's "
        "profile, else the kernel calibration's footprint model, else the full size) plus the "
        "workload.",
    )


def _summary(result: FitResult) -> Section:
    plan = result.guaranteed
    scenario = result.scenario
    blocks: list[Block] = [
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
        blocks.append(_comparison_table(result, plan, scenario))
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


# --- provenance -----------------------------------------------------------------------------------
def _provenance(result: FitResult) -> Provenance:
    host = result.spec.host
    hypervisors: dict[str, HypervisorProfile] = {host.hypervisor.name: host.hypervisor}
    for r in result.spec.guests:
        hypervisors.setdefault(r.hypervisor.name, r.hypervisor)
    rows: list[SourceRow] = []
    for hv in hypervisors.values():
        rows += hypervisor_source_rows(hv)
    for r in result.spec.guests:
        rows += profile_source_rows(r.name, r.profile)
        if r.workload is not None and r.workload.source:
            rows.append(
                (
                    "guest profile",
                    r.name,
                    "workload",
                    profile_value(r.profile, "workload"),
                    "",
                    r.workload.source,
                )
            )
    cals = [r.calibration for r in result.spec.guests] + ([host.kernel] if host.kernel is not None else [])
    return Provenance(
        command=f"planner fit {result.host_file} --html REPORT.html",
        generated_utc=now_utc(),
        inputs=inputs_table(result.input_files),
        sources=sources_table(rows),
        versions=versions_table(
            [(f"kernel {c.name}", c.kernel_release) for c in {c.name: c for c in cals}.values()]
        ),
    )
