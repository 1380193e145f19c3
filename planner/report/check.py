"""The ``planner check`` report: a :class:`~planner.results.CheckResult` as a :class:`ReportPage`.

Per host: how full each NUMA node is (planned: the host kernel, reserves and what the
domains commit, against its capacity; and what the host says is in use now), the domains
(configured, current, really used, overhead predicted and measured), warnings and the
headroom per profile. Everything comes with the :class:`~planner.results.CheckResult`
(the profiles and calibrations used, the input files with their sha256): nothing is read again.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from planner.capacity.binding import binding_text, natural_key
from planner.hypervisors import HypervisorProfile
from planner.report import charts
from planner.report.charts import Bar, BarPanel, Segment, Style
from planner.report.common import (
    FILL_STYLES_NODE,
    SourceRow,
    hypervisor_source_rows,
    inputs_table,
    mib_text,
    now_utc,
    profile_source_rows,
    sources_table,
    versions_table,
)
from planner.report.context import (
    Block,
    Chart,
    Column,
    ItemList,
    KeyFigure,
    Paragraph,
    Provenance,
    ReportPage,
    Section,
    Table,
    Value,
)
from planner.results import CheckResult, HostCheck
from planner.units import format_kib

#: Segments of a node's fill (the host's own parts drawn as in the fit report).
NODE_FILL_STYLES: dict[str, Style] = {
    **{k: FILL_STYLES_NODE[k] for k in ("host_kernel", "hypervisor_reserve", "operator_reserve")},
    "committed": Style("committed by domains (full size + overhead)", "#77AADD", "//"),
    "over": Style("over-committed (beyond capacity)", "#CC3311", "xx"),
    "left": Style("capacity left", "#FFFFFF", ""),
    "used": Style("in use now (host's figure)", "#AAAA00", "+"),
    "free": Style("free now", "#F2F2F2", "|"),
}


def check_page(result: CheckResult) -> ReportPage:
    """The report of one ``planner check`` result."""
    hosts = result.hosts
    many = len(hosts) > 1
    ok = [h for h in hosts if h.ok]
    failed = [h for h in hosts if not h.ok]
    over = [h for h in ok if h.over_committed]
    problems = [f"{_host_label(h, i, many)}: {h.error}" for i, h in enumerate(hosts) if not h.ok]
    problems += [
        (f"{_host_label(h, i, many)}: " if many else "") + w
        for i, h in enumerate(hosts)
        if h.ok
        for w in h.warnings
    ]
    notices = [ItemList("Warnings", tuple(problems), "warn")] if problems else []
    sections = [_host_section(h, i, many) for i, h in enumerate(hosts)]
    title = f"Live check: {_host_name(hosts[0])}" if not many else f"Live check: {len(hosts)} hosts"
    subtitle = (
        f"{len(ok)} checked, {len(failed)} failed, {len(over)} over-committed; "
        "read-only (libvirt openReadOnly: nothing was changed)"
    )
    return ReportPage(
        kind="check",
        title=title,
        subtitle=subtitle,
        figures=tuple(_figures(result)),
        notices=tuple(notices),
        sections=tuple(sections),
        provenance=_provenance(result),
    )


def _figures(result: CheckResult) -> list[KeyFigure]:
    hosts = result.hosts
    ok = [h for h in hosts if h.ok]
    failed = [h for h in hosts if not h.ok]
    over_nodes = sum(1 for h in ok for n in h.nodes if n.over_committed)
    warnings_count = sum(len(h.warnings) for h in ok)
    figures = [
        KeyFigure(
            "hosts checked",
            f"{len(ok)} of {len(hosts)}",
            f"{len(failed)} could not be read" if failed else "every host answered",
            "warn" if failed else "good",
        ),
        KeyFigure(
            "over-committed nodes",
            str(over_nodes),
            "domains can take more than the node has for guests"
            if over_nodes
            else "every node holds its domains",
            "warn" if over_nodes else "good",
        ),
        KeyFigure(
            "committed",
            format_kib(sum(h.committed_kib for h in ok)),
            f"of {format_kib(sum(h.capacity_kib for h in ok))} capacity for guests "
            f"({format_kib(sum(h.memory_kib for h in ok))} RAM)",
        ),
    ]
    for profile in result.profiles:
        counts = [h.headroom[profile] for h in ok if profile in h.headroom]
        binds = sorted({b for h in ok for b in h.headroom_binding.get(profile, ())}, key=natural_key)
        figures.append(
            KeyFigure(
                f"headroom: {profile}",
                f"{sum(counts):,} more" if counts else "–",
                ("stopped by " + ", ".join(binding_text(b) for b in binds))
                if binds
                else "alone on each host",
            )
        )
    figures.append(
        KeyFigure(
            "warnings",
            str(warnings_count),
            "listed below and per host" if warnings_count else "none",
            "warn" if warnings_count else "",
        )
    )
    return figures


def _host_name(host: HostCheck) -> str:
    return str(host.hostname or host.uri) if host.ok else str(host.uri)


def _host_label(host: HostCheck, index: int, many: bool) -> str:
    """``vm`` for a single host; ``host 2 (vm)`` among several (hostnames can repeat)."""
    return f"host {index + 1} ({_host_name(host)})" if many else _host_name(host)


def _host_section(host: HostCheck, index: int, many: bool) -> Section:
    anchor = f"host-{index + 1}"
    prefix = f"host-{index + 1}-" if many else ""
    title = f"Host {index + 1}: {_host_name(host)}" if many else f"Host {_host_name(host)}"
    if not host.ok:
        return Section(
            anchor,
            title,
            f"{host.uri} could not be checked.",
            (ItemList("Error", (str(host.error),), "warn"),),
        )
    lead = (
        f"{host.uri}: {host.driver} driver, libvirt {host.libvirt_version}, {format_kib(host.memory_kib)} in "
        f"{len(host.nodes)} NUMA node(s); hypervisor profile {host.hypervisor}; host kernel model "
        f"{host.host_kernel or 'none'}"
        + (f"; guest kernel model {host.guest_kernel}" if host.guest_kernel else "")
        + f"; read in {host.elapsed_s:.2f} s. Committed = each active domain's "
        "full size (a balloon can grow back to it) plus the hypervisor's predicted per-guest overhead."
    )
    blocks: list[Block] = [
        _fill_chart(host, prefix),
        _nodes_table(host, prefix),
        _domains_table(host, prefix),
    ]
    if host.headroom:
        blocks.append(_headroom_table(host, prefix))
    else:
        blocks.append(Paragraph("No profile was given (--profile or --host), so no headroom was computed."))
    if host.notes:
        blocks.append(ItemList("Notes", tuple(host.notes), "note"))
    return Section(anchor, title, lead, tuple(blocks))


def _fill_chart(host: HostCheck, prefix: str) -> Chart:
    bars = []
    for n in host.nodes:
        left = n.left_kib
        planned = (
            Segment("host_kernel", n.host_kernel_kib),
            Segment("hypervisor_reserve", n.hypervisor_reserve_kib),
            Segment("operator_reserve", n.operator_reserve_kib),
            Segment(
                "committed",
                min(n.committed_kib, max(n.capacity_kib, 0)),
                f"{len(n.domains)} domain" + ("" if len(n.domains) == 1 else "s"),
            ),
            Segment("over", max(-left, 0)),
            Segment("left", max(left, 0)),
        )
        over = left < 0
        bars.append(Bar(f"node {n.node_id}, planned", planned, n.memory_kib if over else None, "RAM"))
        if n.used_kib is not None and n.free_kib is not None:
            bars.append(
                Bar(f"node {n.node_id}, now", (Segment("used", n.used_kib), Segment("free", n.free_kib)))
            )
    anchor = f"{prefix}node-fill"
    return Chart(
        anchor,
        "How full each NUMA node is",
        charts.stacked_bars([BarPanel("", tuple(bars))], NODE_FILL_STYLES, salt=anchor),
        caption="Planned: the host kernel's own use, the reserves, what the active domains commit and what "
        "is left of the capacity for guests; a red hatched segment is commitment beyond capacity. "
        "Now (when the host reports it): memory in use and free. MiB.",
        description="; ".join(
            f"node {n.node_id}: capacity {mib_text(n.capacity_kib)}, committed {mib_text(n.committed_kib)}"
            + (" (over-committed)" if n.over_committed else "")
            + (f", in use now {mib_text(n.used_kib)}" if n.used_kib is not None else "")
            for n in host.nodes
        ),
    )


def _nodes_table(host: HostCheck, prefix: str) -> Table:
    rows: list[tuple[Value, ...]] = []
    for n in host.nodes:
        rows.append(
            (
                n.node_id,
                n.memory_kib,
                n.host_kernel_kib,
                n.hypervisor_reserve_kib + n.operator_reserve_kib,
                n.capacity_kib,
                n.committed_kib,
                n.left_kib,
                n.committed_kib / n.capacity_kib if n.capacity_kib > 0 else None,
                n.used_kib,
                n.free_kib,
                n.hugepages_kib,
                n.hugepages_committed_kib,
                len(n.domains),
            )
        )
    return Table(
        f"{prefix}nodes",
        "Per node",
        (
            Column("node", "node", "count"),
            Column("memory_kib", "memory", "kib_as_mib", "MiB"),
            Column("host_kernel_kib", "host kernel", "kib_as_mib", "MiB"),
            Column("reserves_kib", "reserves", "kib_as_mib", "MiB"),
            Column("capacity_kib", "capacity", "kib_as_mib", "MiB"),
            Column("committed_kib", "committed", "kib_as_mib", "MiB"),
            Column("left_kib", "left", "kib_as_mib", "MiB"),
            Column("fill", "fill", "percent"),
            Column("used_kib", "in use now", "kib_as_mib", "MiB"),
            Column("free_kib", "free now", "kib_as_mib", "MiB"),
            Column("hugepages_kib", "hugepage pool", "kib_as_mib", "MiB"),
            Column("hugepages_committed_kib", "in hugepages", "kib_as_mib", "MiB"),
            Column("domains", "domains", "count"),
        ),
        tuple(rows),
        caption="Capacity = memory − host kernel − hypervisor and operator reserves; fill = committed / "
        "capacity; in use / free now: the host's own figures, when it reports them.",
        row_styles=tuple("warn" if n.over_committed else "" for n in host.nodes),
    )


def _domains_table(host: HostCheck, prefix: str) -> Table:
    """One row per domain; the hypervisor profile column only when the domains differ in it
    (why a measurement is missing is among the host's notes)."""
    mixed = len({d.hypervisor for d in host.domains}) > 1
    rows: list[tuple[Value, ...]] = []
    styles: list[str] = []
    for d in host.domains:
        m = d.measured
        ballooned_below = d.kernel_need_kib is not None and d.current_memory_kib < d.kernel_need_kib
        rows.append(
            (
                d.name,
                d.state,
                d.vcpus,
                d.max_memory_kib,
                d.current_memory_kib,
                m.guest_ram_rss_kib if m else None,
                d.used_in_guest_kib,
                d.kernel_need_kib,
                d.predicted_overhead_kib if d.active else None,
                m.host_overhead_kib if m else None,
                d.committed_kib,
                ",".join(str(k) for k in sorted(d.node_kib)) or None,
                *((d.hypervisor,) if mixed else ()),
            )
        )
        styles.append("warn" if ballooned_below else "")
    return Table(
        f"{prefix}domains",
        "Domains",
        (
            Column("name", "domain", "code"),
            Column("state", "state"),
            Column("vcpu_count", "vCPUs", "count"),
            Column("max_memory_kib", "configured", "kib_as_mib", "MiB"),
            Column("current_memory_kib", "current", "kib_as_mib", "MiB"),
            Column("resident_kib", "resident on host", "kib_as_mib", "MiB"),
            Column("used_in_guest_kib", "used in guest", "kib_as_mib", "MiB"),
            Column("kernel_need_kib", "its kernel keeps", "kib_as_mib", "MiB"),
            Column("overhead_predicted_kib", "overhead predicted", "kib_as_mib", "MiB"),
            Column("overhead_measured_kib", "overhead measured", "kib_as_mib", "MiB"),
            Column("committed_kib", "committed", "kib_as_mib", "MiB"),
            Column("nodes", "nodes"),
            *((Column("hypervisor", "hypervisor profile"),) if mixed else ()),
        ),
        tuple(rows),
        caption="Configured = <memory> (the balloon's ceiling); current = the balloon now; resident on "
        "host = guest RAM pages the qemu process holds (/proc/PID/smaps); used in guest = its MemTotal − "
        "MemAvailable from the balloon driver; its kernel keeps = the kernel model at the configured size; "
        "overhead measured = qemu RSS beyond guest RAM + page tables. Marked rows are ballooned below "
        f"what their kernel keeps. Overhead predicted by the {host.hypervisor} profile"
        + (" or the domain's own." if mixed else "."),
        row_styles=tuple(styles),
    )


def _headroom_table(host: HostCheck, prefix: str) -> Table:
    rows = tuple(
        (name, count, ", ".join(binding_text(b) for b in host.headroom_binding.get(name, ())) or None)
        for name, count in host.headroom.items()
    )
    return Table(
        f"{prefix}headroom",
        "Headroom now",
        (
            Column("profile", "profile"),
            Column("more_guests", "more guests that fit", "count"),
            Column("binding", "stopped by", "prose"),
        ),
        rows,
        caption="How many more guests of each profile fit, each profile alone, on what the active domains "
        "leave (the same integer program as planner fit, existing guests fixed).",
    )


# --- provenance -----------------------------------------------------------------------------------
def _provenance(result: CheckResult) -> Provenance:
    rows: list[SourceRow] = []
    for name, profile in result.guest_profiles.items():
        rows += profile_source_rows(name, profile)
    hypervisors: dict[str, HypervisorProfile] = {}
    for h in result.hosts:
        for hv in h.hypervisor_profiles:
            hypervisors.setdefault(hv.name, hv)
    for hv in hypervisors.values():
        rows += hypervisor_source_rows(hv)
    uris: Sequence[tuple[str, str]] = [("libvirt URI", h.uri) for h in result.hosts]
    args = ["planner", "check", *(h.uri for h in result.hosts)]
    if result.host_file is not None:
        args += ["--host", result.host_file]
    for p in result.requested_profiles:
        args += ["--profile", p]
    return Provenance(
        command=shlex.join(args) + " --html REPORT.html",
        generated_utc=now_utc(),
        inputs=inputs_table(result.input_files, uris),
        sources=sources_table(rows),
        versions=versions_table(
            [(f"libvirt on {_host_name(h)}", str(h.libvirt_version)) for h in result.hosts if h.ok]
        ),
    )
