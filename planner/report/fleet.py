"""The ``planner fleet`` report: hosts per type, per-host fill, failure scenarios, what binds."""

from __future__ import annotations

import shlex

from planner.report import charts
from planner.report.charts import Bar, BarPanel, Segment, Style
from planner.report.common import inputs_table, now_utc, sources_table, versions_table
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
from planner.report.fleet_text import amounts_label, bounds_label
from planner.results.fleet import FailoverReport, FleetPlan, FleetResult, PlannedHost

#: most hosts drawn in the fill chart (the table lists every host)
CHART_HOSTS = 40
#: the fill chart's bars are in percent of a node's memory; stacked_bars draws KiB as MiB, so a
#: percent is given as 1024 "KiB" and the axis reads 0-100
_PERCENT = 1024
_STYLES = {"used": Style("guests (memory)", "#4477aa"), "free": Style("free", "#dddddd")}


def fleet_page(result: FleetResult) -> ReportPage:
    """The report of one ``planner fleet`` result."""
    sections: list[Section] = []
    if result.plan is not None:
        sections += [_types_section(result.plan), _fill_section(result.plan.hosts, "plan")]
    if result.failover is not None:
        sections.append(_failover_section(result.failover, "existing hosts"))
    if result.plan is not None and result.plan.failover is not None:
        sections.append(_failover_section(result.plan.failover, "planned fleet"))
    if result.headroom is not None:
        sections.append(_headroom_section(result))
    if result.consolidation is not None:
        c = result.consolidation
        rows: list[tuple[Value, ...]] = [
            (m.profile, m.from_host, m.from_node, m.to_host, m.to_node, m.count) for m in c.moves
        ]
        table = Table(
            "consolidation-moves",
            "Moves that empty hosts",
            (
                Column("profile", "profile"),
                Column("from_host", "from"),
                Column("from_node", "node", "count"),
                Column("to_host", "to"),
                Column("to_node", "node", "count"),
                Column("guests", "guests", "count"),
            ),
            tuple(rows),
            caption=f"Hosts that can be emptied: {', '.join(c.emptied) or 'none'} ({c.status}; at most "
            f"{c.upper_bound:g}).",
        )
        sections.append(
            Section("consolidation", "Consolidation", "Existing hosts whose guests fit the others.", (table,))
        )
    return ReportPage(
        kind="fleet",
        title=f"Fleet plan: {result.fleet_file}",
        subtitle=f"{result.existing_hosts} existing hosts; N+{result.failures}",
        figures=tuple(_figures(result)),
        notices=tuple(_notices(result)),
        sections=tuple(sections),
        provenance=Provenance(
            command=shlex.join(["planner", "fleet", result.fleet_file, "--failures", str(result.failures)])
            + " --html REPORT.html",
            generated_utc=now_utc(),
            inputs=inputs_table((), [("fleet file", result.fleet_file)]),
            sources=sources_table([]),
            versions=versions_table(),
        ),
    )


def _figures(result: FleetResult) -> list[KeyFigure]:
    out = []
    if result.plan is not None:
        p = result.plan
        out.append(KeyFigure("new hosts", f"{p.new_host_count:,}", f"cost {p.objective:g}", ""))
        out.append(
            KeyFigure(
                "status",
                p.status,
                bounds_label(p),
                "" if p.status == "optimal" else "warn",
            )
        )
    if result.failover is not None:
        f = result.failover
        verdict = {True: "survives", False: "fails", None: "not proven"}[f.survives]
        out.append(
            KeyFigure(
                f"N+{f.failures}",
                verdict,
                f"{f.host_sets:,} sets of failed hosts",
                "" if f.survives else "warn",
            )
        )
    if result.consolidation is not None:
        out.append(KeyFigure("can be emptied", str(len(result.consolidation.emptied)), "existing hosts", ""))
    return out


def _notices(result: FleetResult) -> list[ItemList]:
    p = result.plan
    if p is not None and p.status != "optimal":
        return [
            ItemList(
                "Notes",
                (
                    f"The plan is {p.status}: its cost {p.objective:g} is not proven "
                    f"optimal (lower bound {p.lower_bound:g}).",
                ),
                "warn",
            )
        ]
    return []


def _types_section(plan: FleetPlan) -> Section:
    rows: list[tuple[Value, ...]] = [(t, n) for t, n in sorted(plan.hosts_per_type.items())]
    types = Table(
        "hosts-per-type",
        "New hosts per type",
        (Column("host_type", "host type"), Column("hosts", "hosts", "count")),
        tuple(rows),
        caption=f"First fit decreasing would cost {plan.ffd_objective:g} ({plan.ffd_hosts} hosts).",
    )
    binds: list[tuple[Value, ...]] = [(k, n) for k, n in sorted(plan.binding.items())]
    binding = Table(
        "what-binds",
        "What binds",
        (Column("constraint", "constraint", "code"), Column("hosts", "hosts", "count")),
        tuple(binds),
        caption="On how many hosts each constraint stops one more guest of a profile.",
    )
    lead = f"{plan.status}: cost {plan.objective:g}, proven lower bound {plan.lower_bound:g}."
    return Section("plan", "Hosts needed", lead, (types, binding))


def _fill_section(hosts: tuple[PlannedHost, ...], slug: str) -> Section:
    bars = []
    for h in hosts[:CHART_HOSTS]:
        for k, fill in sorted(h.node_fill.items()):
            used = max(0.0, min(1.0, fill.get("memory_kib", 0.0)))
            bars.append(
                Bar(
                    f"{h.name} n{k}",
                    (
                        Segment("used", round(used * 100 * _PERCENT), f"{used:.0%}"),
                        Segment("free", round((1 - used) * 100 * _PERCENT), ""),
                    ),
                )
            )
    svg = charts.stacked_bars(
        [BarPanel("memory per node", tuple(bars))],
        _STYLES,
        salt=slug,
        xlabel="% of the node's memory for guests",
    )
    shown = min(len(hosts), CHART_HOSTS)
    chart = Chart(
        f"{slug}-fill",
        "Fill per host and node",
        svg,
        f"The first {shown} of {len(hosts)} hosts, per NUMA node.",
        "Stacked bars of node memory in use.",
    )
    rows: list[tuple[Value, ...]] = [
        (
            h.name,
            h.host_type,
            "yes" if h.existing else "no",
            h.guest_count,
            max((f.get("memory_kib", 0.0) for f in h.node_fill.values()), default=0.0),
            h.host_fill.get("vcpu_count"),
        )
        for h in hosts
    ]
    table = Table(
        f"{slug}-hosts",
        "Hosts",
        (
            Column("host", "host"),
            Column("host_type", "type"),
            Column("existing", "existing"),
            Column("guests", "guests", "count"),
            Column("memory_fill", "fullest node memory", "percent"),
            Column("vcpu_fill", "vCPUs", "percent"),
        ),
        tuple(rows),
        caption="Every host of the plan with its guests and fill.",
    )
    return Section("fill", "Per-host fill", "How full each host's nodes are.", (chart, table))


def _failover_section(rep: FailoverReport, what: str) -> Section:
    rows: list[tuple[Value, ...]] = [
        (
            ", ".join(s.failed),
            s.weight,
            s.verdict,
            s.decided_by,
            ", ".join(f"{n} {p}" for p, n in sorted(s.displaced.items())),
            s.displaced_share,
            s.spare_hosts_needed,
        )
        for s in sorted(rep.scenarios, key=lambda s: (s.verdict == "survives", -s.displaced_share))
    ]
    slug = "failover-" + ("plan" if what == "planned fleet" else "existing")
    table = Table(
        slug,
        f"Failure scenarios ({what})",
        (
            Column("failed", "failed hosts"),
            Column("host_sets", "host sets", "count"),
            Column("verdict", "verdict"),
            Column("decided_by", "decided by"),
            Column("displaced", "displaced guests", "prose"),
            Column("displaced_share", "of free", "percent"),
            Column("spares", "spares needed", "count"),
        ),
        tuple(rows),
        caption="One row per class of failed hosts (identical hosts are one class); 'of free' is the "
        "displaced demand over the survivors' free capacity.",
        collapsed=len(rows) > 50,
    )
    verdict = {True: "survives", False: "does not survive", None: "is not proven"}[rep.survives]
    lead = (
        f"N+{rep.failures}: the {what} {verdict} any {rep.failures} failed hosts "
        f"({rep.host_sets_checked:,} of {rep.host_sets:,} sets checked); spare hosts needed: "
        f"{rep.spare_hosts_needed} x {rep.spare_host_type}. Held back (the largest displaced demand, "
        f"what the survivors must keep free): {amounts_label(rep.held_back)}."
    )
    return Section(slug, f"Failover: {what}", lead, (table,))


def _headroom_section(result: FleetResult) -> Section:
    hr = result.headroom
    assert hr is not None
    profiles = list(hr.total)
    rows: list[tuple[Value, ...]] = [
        (h.name, h.host_type, *(h.per_profile.get(p, 0) for p in profiles)) for h in hr.hosts
    ]
    rows.append(("total", "", *(hr.total[p] for p in profiles)))
    table = Table(
        "headroom",
        "More guests of each profile (alone)",
        (Column("host", "host"), Column("host_type", "type"), *(Column(p, p, "count") for p in profiles)),
        tuple(rows),
        caption="Each profile alone on what each existing host has left.",
        row_styles=tuple([""] * len(hr.hosts) + ["total"]),
    )
    return Section("headroom", "Headroom", "How many more guests fit across the fleet.", (table,))
