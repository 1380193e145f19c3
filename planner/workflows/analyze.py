"""One live host's snapshot, analysed: capacity, commitment, warnings and headroom.

Pure arithmetic over a :class:`planner.live.HostSnapshot` (no libvirt calls): node capacity
from the host kernel model and the hypervisor profile (:mod:`planner.capacity.nodes`), what
the domains commit on each node (:mod:`planner.capacity.placement`), warnings, and the
headroom the solver finds for each profile with the existing guests fixed (node capacities
reduced by what they commit; :mod:`planner.capacity.demand`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from planner.capacity.demand import guest_demand, headroom
from planner.capacity.nodes import NodeBudget, host_kernel_use, node_budget
from planner.capacity.placement import Messages, Placement, place_domains
from planner.capacity.solver import NodeCapacity
from planner.errors import InputError
from planner.hypervisors import HypervisorProfile
from planner.inputs.calibrations import load_calibration
from planner.inputs.profiles import guest_hypervisor, load_hypervisor_profile, wrong_hypervisor_message
from planner.inputs.specs import GuestProfile, HostSpec
from planner.kernel.calibration import Calibration
from planner.kernel.model import GuestSpec, predict
from planner.live.records import DomainSnapshot, HostSnapshot
from planner.results import CheckDomain, CheckNode, HostCheck
from planner.units import format_kib
from planner.workflows.sources import host_file_warnings, memory_source_warnings

#: hypervisor profile for a domain of this ``<domain type=>`` when no host file names one
CHECK_HYPERVISOR_BY_DOMAIN_TYPE = {"kvm": "kvm-qemu", "qemu": "qemu-tcg"}
CHECK_DEFAULT_HYPERVISOR = "kvm-qemu"
#: host and guest kernel calibrations assumed when no host file names one, by architecture
CHECK_DEFAULT_HOST_KERNEL = {"x86_64": "debian12-amd64", "s390x": "debian12-s390x"}
CHECK_DEFAULT_GUEST_KERNEL = {"x86_64": "debian12-cloud-amd64", "s390x": "debian12-s390x"}
#: a first ``getCapabilities()`` slower than this is explained in a note (recipes §4 gotcha 9) [s]
CHECK_SLOW_CAPABILITIES_S = 5.0
_SLOW_CAPABILITIES = (
    "getCapabilities took {s:.1f} s: the daemon probed its qemu binaries "
    "(once; cached afterwards in its capabilities cache)"
)
#: vCPUs per host CPU when no host file gives ``vcpu_ratio`` (the host-file default)
CHECK_DEFAULT_VCPU_RATIO = 16.0


@dataclass(frozen=True)
class CheckProfile:
    """A guest profile whose headroom is wanted, sized: what one more guest of it needs."""

    name: str
    memory_kib: int
    vcpu_count: int
    hypervisor: str | None  #: None: the live host's hypervisor profile
    hugepages: bool = False
    kernel: str | None = None  #: its kernel calibration (for the ballooning check)
    calibration: Calibration | None = None  #: that calibration, when already loaded
    profile: GuestProfile | None = None  #: a ``--profile``'s file, to match its hypervisors to the host's


@dataclass(frozen=True)
class CheckSettings:
    """What the analysis assumes about a host beyond what libvirt reports."""

    host: HostSpec | None = None  #: from ``--host host.yaml``
    profiles: tuple[CheckProfile, ...] = ()  #: headroom is computed for each


@dataclass(frozen=True)
class _Nodes:
    """The host's nodes as the analysis counts them."""

    ids: tuple[int, ...]
    memory_kib: tuple[int, ...]
    free_kib: tuple[int | None, ...]
    from_cells: bool  #: from libvirt's NUMA cells (their memory is each node's MemTotal)


@dataclass
class _Report:
    """What the analysis of one host says besides its figures."""

    warnings: list[str]
    notes: list[str]


def profile_hypervisor(profile: GuestProfile, host_hypervisor: HypervisorProfile) -> HypervisorProfile:
    """The hypervisor profile a ``--profile`` guest runs under on this host (``planner fit``'s rule:
    the host's, or one of the same model); an :class:`InputError` when it cannot run there."""
    under = guest_hypervisor(profile, host_hypervisor)
    if under is None:
        raise InputError(wrong_hypervisor_message(profile, host_hypervisor), field="--profile")
    return under


def analyze_host(snap: HostSnapshot, settings: CheckSettings = CheckSettings()) -> HostCheck:
    """Capacity, commitment, warnings and headroom of one host snapshot (no libvirt calls).

    Node capacity = node memory - host kernel - hypervisor reserve - operator reserve
    (DESIGN.md "Host side"). When the nodes come from the capabilities, their memory
    is the node's MemTotal, which already excludes what the kernel reserved at boot, so
    only the host kernel terms inside MemTotal are taken off (slab, stacks, vmalloc,
    runtime; the big hash tables when there are several nodes; the watermark reserves).
    Otherwise (host file, or the test driver's ``<memory>``) the whole predicted host
    kernel is taken off. Placement: :mod:`planner.capacity.placement`.
    """
    out = _Report([], list(snap.notes))
    if snap.capabilities_s > CHECK_SLOW_CAPABILITIES_S:
        out.notes.append(_SLOW_CAPABILITIES.format(s=snap.capabilities_s))
    host = settings.host
    hypervisor = host.hypervisor if host is not None else load_hypervisor_profile(_dominant_hypervisor(snap))
    wanted = tuple(
        replace(p, hypervisor=profile_hypervisor(p.profile, hypervisor).name)
        if p.profile is not None and p.hypervisor is None
        else p
        for p in settings.profiles
    )
    nodes = _host_nodes(snap, host, out)
    cpu_count, vcpu_capacity = _cpus(snap, host)
    host_cal, budget, reserves_kib = _budget(snap, host, hypervisor, nodes, cpu_count, out.notes)
    used_profiles = {hypervisor.name: hypervisor}
    placement = place_domains(
        snap.domains,
        nodes.ids,
        [budget.ordinary_kib(k) for k in range(len(nodes.ids))],
        budget.hugepages_kib,
        _overhead_of(hypervisor, host is not None, used_profiles),
        Messages(out.warnings, out.notes, bindings_matter=nodes.from_cells),
    )
    check_nodes = _check_nodes(nodes, budget, placement, out.warnings)
    free_kib = _free_against_reserve(snap, nodes, sum(reserves_kib) + sum(budget.operator_reserve_kib), out)
    guest_cal = _guest_calibration(snap, settings, out.notes)
    domains = _domains(snap, placement, hypervisor.name, guest_cal, out)
    vcpus_left = vcpu_capacity - sum(d.config.vcpu_count for d in snap.domains if d.active)
    page_kib = host.hugepages.page_kib if host is not None and host.hugepages is not None else 1
    counts, binding = _headroom(wanted, hypervisor, nodes.ids, placement, vcpus_left, page_kib)
    used = [n.used_kib for n in check_nodes if n.used_kib is not None]
    return HostCheck(
        uri=snap.uri,
        driver=snap.driver,
        hostname=snap.hostname,
        libvirt_version=snap.libvirt_version,
        memory_kib=sum(nodes.memory_kib),
        cpu_count=cpu_count,
        vcpu_capacity=vcpu_capacity,
        capacity_kib=sum(budget.capacity_kib(k) for k in range(len(nodes.ids))),
        committed_kib=sum(n.committed_kib for n in check_nodes),
        used_kib=sum(used) if len(used) == len(check_nodes) else None,
        free_kib=free_kib,
        nodes=check_nodes,
        domains=domains,
        headroom=counts,
        headroom_binding=binding,
        warnings=tuple(out.warnings),
        notes=tuple(out.notes),
        hypervisor=hypervisor.name,
        host_kernel=host_cal.name if host_cal is not None else None,
        guest_kernel=guest_cal.name if guest_cal is not None else None,
        elapsed_s=snap.elapsed_s,
        capabilities_s=snap.capabilities_s,
        hypervisor_profiles=tuple(
            used_profiles[n] for n in dict.fromkeys([hypervisor.name, *(d.hypervisor for d in domains)])
        ),
        calibrations=tuple(c for c in (host_cal, guest_cal) if c is not None),
    )


def _cpus(snap: HostSnapshot, host: HostSpec | None) -> tuple[int, float]:
    """The host's CPUs (the host file's, else libvirt's) and the vCPUs its domains may have: CPUs x
    the host file's ``vcpu_ratio``, else :data:`CHECK_DEFAULT_VCPU_RATIO`."""
    if host is None:
        return snap.cpu_count, snap.cpu_count * CHECK_DEFAULT_VCPU_RATIO
    return host.cpu_count, host.cpu_count * host.vcpu_ratio


# --- nodes ----------------------------------------------------------------------------------------
def _host_nodes(snap: HostSnapshot, host: HostSpec | None, out: _Report) -> _Nodes:
    """The nodes: libvirt's NUMA cells, else the host file's nodes, else one node of the host's
    memory; the memory sources cross-checked. A capacity-only host file's capacity stands in
    for the cells (what the guests may take, e.g. their cgroup's limit)."""
    capacity_only = host is not None and host.capacity_only
    if snap.nodes and not capacity_only:
        nodes = _Nodes(
            tuple(n.node_id for n in snap.nodes),
            tuple(n.memory_kib for n in snap.nodes),
            tuple(n.free_kib for n in snap.nodes),
            from_cells=True,
        )
    elif host is not None:
        count = len(host.node_memory_kib)
        nodes = _Nodes(tuple(range(count)), host.node_memory_kib, (None,) * count, from_cells=False)
        out.notes.append(
            f"capacity-only host file {host.origin.file}: {format_kib(host.memory_kib)} for guests in "
            "place of the host's memory; no host kernel subtracted"
            if capacity_only
            else f"{snap.driver} reports no NUMA cells: node memory from the host file {host.origin.file}"
        )
    else:
        nodes = _Nodes((0,), (snap.info_memory_kib,), (snap.free_kib,), from_cells=False)
        out.notes.append(
            f"{snap.driver} reports no NUMA cells: one node of {format_kib(snap.info_memory_kib)}"
        )
    out.warnings += memory_source_warnings(snap)
    if host is not None:
        out.warnings += host_file_warnings(snap, host)
    total = snap.stats_total_kib
    if nodes.from_cells and len(nodes.ids) == 1 and total and total > nodes.memory_kib[0]:
        # a single node holds all the host's memory, whatever the node meminfo says
        out.notes.append(
            f"node 0 memory taken from /proc/meminfo ({format_kib(total)}) "
            f"rather than the node meminfo ({format_kib(nodes.memory_kib[0])})"
        )
        nodes = replace(nodes, memory_kib=(total,), free_kib=(snap.stats_free_kib,))
    return nodes


def _host_calibration(snap: HostSnapshot, host: HostSpec | None, notes: list[str]) -> Calibration | None:
    """The host kernel's calibration: the host file's, else the default of the architecture."""
    if host is not None and host.kernel is not None:
        return host.kernel
    name = CHECK_DEFAULT_HOST_KERNEL.get(snap.arch)
    if name is None:
        notes.append(f"no host kernel calibration for {snap.arch}; the host kernel's use is not subtracted")
        return None
    try:
        cal = load_calibration(name)
    except InputError as err:
        notes.append(f"host kernel model unavailable ({err.message}); its own use is not subtracted")
        return None
    running = f" (the host runs {snap.kernel_release})" if snap.kernel_release else ""
    notes.append(f"host kernel model: {name}, assumed{running}; name yours with host.kernel in --host")
    return cal


def _budget(
    snap: HostSnapshot,
    host: HostSpec | None,
    hypervisor: HypervisorProfile,
    nodes: _Nodes,
    cpu_count: int,
    notes: list[str],
) -> tuple[Calibration | None, NodeBudget, tuple[int, ...]]:
    """(host kernel calibration, each node's budget, the host kernel's watermark reserves per node)."""
    zero = (0,) * len(nodes.ids)
    applied = hypervisor.host_kernel_scope == "node" and not (host is not None and host.capacity_only)
    if host is not None and host.kernel is not None:
        notes.append(
            f"host.kernel {host.kernel.name} from the host file applied: its predicted use is taken off "
            "each node"
            if applied
            else f"host.kernel {host.kernel.name} from the host file not applied: "
            f"{hypervisor.stack.host_kernel_note}"
        )
    cal = _host_calibration(snap, host, notes) if applied else None
    kernel_kib, reserves_kib = zero, zero
    if cal is not None:
        use = host_kernel_use(cal, nodes.memory_kib, cpu_count, host.cmdline if host is not None else "")
        kernel_kib = use.inside_memtotal_kib if nodes.from_cells else use.node_kib
        reserves_kib = use.reserves_kib
    if nodes.from_cells:  # the pools the host really has (pages of 2 MiB and more)
        pools = [
            sum(p.page_kib * p.total_pages for p in n.hugepages if p.page_kib >= 2048) for n in snap.nodes
        ]
    elif host is not None and host.hugepages is not None:
        pools = [host.hugepages.per_node_kib] * len(nodes.ids)
    else:
        pools = list(zero)
    budget = node_budget(
        nodes.memory_kib,
        kernel_kib,
        hypervisor,
        cpu_count,
        hypervisor_reserve_kib=host.hypervisor_reserve_kib if host is not None else None,
        operator_reserve_kib=host.operator_reserve_kib if host is not None else 0,
        hugepages_kib=pools,
        capacity_only=host is not None and host.capacity_only,
    )
    return cal, budget, reserves_kib


def _check_nodes(
    nodes: _Nodes, budget: NodeBudget, placement: Placement, warnings: list[str]
) -> tuple[CheckNode, ...]:
    out = []
    for k, nid in enumerate(nodes.ids):
        committed = sum(p.get(nid, 0) for p in placement.node_kib.values())
        pool = budget.hugepages_kib[k]
        huge_committed = pool - placement.hugepages_left_kib[k]
        free = nodes.free_kib[k]
        out.append(
            CheckNode(
                node_id=nid,
                memory_kib=nodes.memory_kib[k],
                capacity_kib=budget.capacity_kib(k),
                committed_kib=committed,
                used_kib=nodes.memory_kib[k] - free if free is not None else None,
                free_kib=free,
                host_kernel_kib=budget.host_kernel_kib[k],
                hypervisor_reserve_kib=budget.hypervisor_reserve_kib[k],
                operator_reserve_kib=budget.operator_reserve_kib[k],
                hugepages_kib=pool,
                hugepages_committed_kib=huge_committed,
                domains=tuple(sorted(name for name, p in placement.node_kib.items() if nid in p)),
            )
        )
        normal_committed, normal_capacity = committed - huge_committed, budget.ordinary_kib(k)
        if normal_committed > normal_capacity:
            besides = f" besides its {format_kib(pool)} huge-page pool" if pool else ""
            warnings.append(
                f"node {nid} over-committed: its domains can take {format_kib(normal_committed)}, "
                f"it has {format_kib(normal_capacity)} for guests{besides}"
            )
        if huge_committed > pool > 0:
            warnings.append(
                f"node {nid} over-committed: huge-page guests need {format_kib(huge_committed)}, "
                f"the pool holds {format_kib(pool)}"
            )
    return tuple(out)


def _free_against_reserve(snap: HostSnapshot, nodes: _Nodes, reserve_kib: int, out: _Report) -> int | None:
    """The host's free memory (the nodes', else getMemoryStats'), warned when below the reserve
    (host kernel watermarks + operator reserve)."""
    known = [f for f in nodes.free_kib if f is not None]
    free_kib = sum(known) if len(known) == len(nodes.free_kib) else snap.stats_free_kib
    if free_kib is not None and reserve_kib and free_kib < reserve_kib:
        out.warnings.append(
            f"host free memory {format_kib(free_kib)} is below the reserve {format_kib(reserve_kib)} "
            "(host kernel watermarks + operator reserve)"
        )
    return free_kib


# --- domains --------------------------------------------------------------------------------------
def _dominant_hypervisor(snap: HostSnapshot) -> str:
    """The hypervisor profile that fits most active domains (kvm -> kvm-qemu, qemu -> qemu-tcg)."""
    counts: dict[str, int] = {}
    for d in snap.domains:
        hv = CHECK_HYPERVISOR_BY_DOMAIN_TYPE.get(d.config.domain_type)
        if hv is not None:
            counts[hv] = counts.get(hv, 0) + 1
    if not counts:
        return CHECK_DEFAULT_HYPERVISOR
    return max(sorted(counts), key=lambda hv: counts[hv])


def _overhead_of(
    hypervisor: HypervisorProfile, from_host_file: bool, used: dict[str, HypervisorProfile]
) -> Callable[[DomainSnapshot], tuple[str, int]]:
    """A domain's hypervisor profile (the host file's for all; else by the domain's type,
    kvm -> kvm-qemu, qemu -> qemu-tcg) and its per-guest overhead; the profiles used are
    collected in ``used``."""

    def overhead(dom: DomainSnapshot) -> tuple[str, int]:
        name = hypervisor.name
        if not from_host_file:
            name = CHECK_HYPERVISOR_BY_DOMAIN_TYPE.get(dom.config.domain_type, name)
        if name not in used:
            used[name] = load_hypervisor_profile(name)
        return name, used[name].host_overhead_kib(dom.config.max_memory_kib, dom.config.vcpu_count)

    return overhead


def _guest_calibration(snap: HostSnapshot, settings: CheckSettings, notes: list[str]) -> Calibration | None:
    """The calibration a live guest's kernel is assumed to follow (libvirt does not say which
    kernel a guest runs): the first profile's, else the default of the architecture."""
    if not any(d.active for d in snap.domains):
        return None
    loaded = [p.calibration for p in settings.profiles if p.calibration is not None]
    if loaded:
        return loaded[0]
    kernels = [p.kernel for p in settings.profiles if p.kernel]
    name = kernels[0] if kernels else CHECK_DEFAULT_GUEST_KERNEL.get(snap.arch)
    if name is None:
        return None
    try:
        return load_calibration(name)
    except InputError as err:
        notes.append(f"guest kernel model unavailable ({err.message}); ballooning is not checked")
        return None


def _kernel_need_kib(cal: Calibration, memory_kib: int, vcpu_count: int) -> int | None:
    """What a guest's kernel keeps at its full size (memmap and hash tables are sized for
    ``<memory>``, whatever the balloon holds): the model's ``kernel_kib``."""
    try:
        spec = GuestSpec(memory_kib=memory_kib, vcpu_count=vcpu_count)
        return predict(cal, spec, out_of_range="ignore").kernel_kib
    except InputError:
        return None


def _domains(
    snap: HostSnapshot,
    placement: Placement,
    hypervisor_name: str,
    guest_cal: Calibration | None,
    out: _Report,
) -> tuple[CheckDomain, ...]:
    """Each domain with its placement, overhead predicted and measured, and kernel need."""
    needs: dict[tuple[int, int], int | None] = {}  # (memory, vCPUs) -> kernel need; sizes repeat
    domains: list[CheckDomain] = []
    for dom in snap.domains:
        hv, overhead = placement.overheads.get(dom.name, (hypervisor_name, 0))
        need = None
        if guest_cal is not None and dom.active:
            size = (dom.config.max_memory_kib, dom.config.vcpu_count)
            if size not in needs:
                needs[size] = _kernel_need_kib(guest_cal, *size)
            need = needs[size]
            if need is not None and dom.current_memory_kib < need:
                out.warnings.append(
                    f"domain {dom.name!r} is ballooned to {format_kib(dom.current_memory_kib)}, below the "
                    f"{format_kib(need)} its kernel keeps at {format_kib(dom.config.max_memory_kib)} "
                    f"({guest_cal.name})"
                )
        if dom.process is not None and overhead:
            measured = dom.process.host_overhead_kib
            out.notes.append(
                f"domain {dom.name!r}: measured overhead {format_kib(measured)} "
                f"(RSS {format_kib(dom.process.overhead_rss_kib)} less "
                f"{format_kib(dom.process.file_rss_kib)} of file pages counted once per host, "
                "+ page tables), "
                f"{hv} predicts {format_kib(overhead)} ({(measured - overhead) / overhead:+.0%})"
            )
        elif dom.process_note:
            out.notes.append(f"domain {dom.name!r}: overhead not measured: {dom.process_note}")
        domains.append(_domain(dom, placement, hv, overhead, need))
    return tuple(domains)


def _domain(
    dom: DomainSnapshot, placement: Placement, hv: str, overhead_kib: int, need: int | None
) -> CheckDomain:
    node_kib = placement.node_kib.get(dom.name, {})
    return CheckDomain(
        name=dom.name,
        state=dom.state,
        active=dom.active,
        max_memory_kib=dom.config.max_memory_kib,
        current_memory_kib=dom.current_memory_kib,
        vcpus=dom.config.vcpu_count,
        hugepage_kib=dom.config.hugepage_kib,
        numa_mode=dom.config.numa_mode,
        numa_nodeset=dom.config.numa_nodeset,
        node_kib=node_kib,
        committed_kib=sum(node_kib.values()),
        hypervisor=hv,
        predicted_overhead_kib=overhead_kib,
        measured=dom.process,
        measured_note=dom.process_note,
        balloon=dom.balloon,
        kernel_need_kib=need,
    )


# --- headroom -------------------------------------------------------------------------------------
def _headroom(
    profiles: tuple[CheckProfile, ...],
    hypervisor: HypervisorProfile,
    node_ids: tuple[int, ...],
    placement: Placement,
    vcpus_left: float,
    page_kib: int,
) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """How many more guests of each profile fit, alone, on what the existing guests leave:
    the solver's packing problem with node capacities reduced by the committed memory, each
    guest's demand as ``planner fit`` packs it (hugepage-backed RAM in whole pages of the host
    file's pool, ``page_kib``)."""
    counts: dict[str, int] = {}
    binding: dict[str, tuple[str, ...]] = {}
    nodes = tuple(
        NodeCapacity(
            nid,
            {
                "memory_kib": max(0, placement.left_kib[k]),
                "hugepages_kib": max(0, placement.hugepages_left_kib[k]),
            },
        )
        for k, nid in enumerate(node_ids)
    )
    for profile in profiles:
        hv = (
            hypervisor
            if profile.hypervisor in (None, hypervisor.name)
            else load_hypervisor_profile(str(profile.hypervisor))
        )
        overhead = hv.host_overhead_kib(profile.memory_kib, profile.vcpu_count)
        demand = guest_demand(profile.memory_kib, overhead, hugepages=profile.hugepages, page_kib=page_kib)
        counts[profile.name], binding[profile.name] = headroom(
            profile.name, demand, profile.vcpu_count, nodes, vcpus_left
        )
    return counts, binding
