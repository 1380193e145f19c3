"""``planner fit``: how many guests of a host file's profiles fit on its host, per NUMA node.

host file (:mod:`planner.inputs.hostfile`) -> each guest sized by its kernel model
(:mod:`.guests`) -> each node's budget: RAM - host kernel - reserves
(:mod:`planner.capacity.nodes`) -> each guest's demand (:mod:`planner.capacity.demand`) ->
integer packing (:mod:`planner.capacity.solver`) -> :class:`~planner.results.FitResult`,
with the size sweeps and input files its report needs (:mod:`.fit_report`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from planner.capacity.binding import binding_text
from planner.capacity.demand import guest_demand
from planner.capacity.nodes import NodeBudget, host_kernel_range_note, host_kernel_use, node_budget
from planner.capacity.solver import GuestKind, NodeCapacity, PackingProblem, Plan, solve
from planner.errors import InfeasibleError, InputError
from planner.inputs.hostfile import host_file_from_data, load_host_file, located
from planner.inputs.specs import HostFile, HostSpec, Scenario
from planner.results import FitResult, HypervisorParameter, NodeResult, PerGuest, PlanResult
from planner.units import MAX_CPU_COUNT, format_kib
from planner.workflows.fit_report import fit_input_files, size_sweeps
from planner.workflows.guests import size_guest


def fit(host_path: str | Path) -> FitResult:
    """How many guests of the host file's profiles fit on its host, per NUMA node.

    Raises
    ------
    InputError
        Bad host file or profile (file, line, field in the message).
    InfeasibleError
        A workload that fits no guest size, or minimum counts that do not fit.
    """
    return fit_host_file(load_host_file(host_path))


def fit_capacity(
    profile: str,
    capacity_kib: int,
    cpu_count: int | None = None,
    *,
    hypervisor: str = "qemu-tcg",
    memory_kib: int | None = None,
    vcpu_count: int | None = None,
    workload_user_kib: int | None = None,
    vcpu_ratio: float | None = None,
) -> FitResult:
    """Guests of one profile on a capacity-only host of ``capacity_kib`` (a memory-capped
    cgroup): the guaranteed count (full size resident, ``result.guaranteed``) and the expected
    count (boot footprint + workload resident, ``result.scenario``, named ``expected``). What
    ``planner density`` compares the guests it boots with. The host file it stands for::

        host: {capacity: <capacity_kib>KiB, cpus: <cpu_count>, hypervisor: <hypervisor>}
        guests: [{profile: <profile>, memory: ..., vcpus: ..., workload: {user_memory: ...}}]
        scenario: {name: expected, resident: expected}

    Parameters
    ----------
    profile
        A guest profile name, or a path to a profile YAML.
    capacity_kib
        What the guests and their hypervisor overhead may take (the cgroup's ``memory.max``). [KiB]
    cpu_count
        Host CPUs (with ``vcpu_ratio``, the vCPU limit); None: vCPUs never bind (8192 CPUs
        with 1000 vCPUs each).
    hypervisor
        The hypervisor profile whose per-guest overhead is counted (qemu under TCG by default).
    memory_kib, vcpu_count
        Override the profile's size and vCPUs. [KiB]
    workload_user_kib
        Overrides the profile's workload: memory the guest's application fills (one thread). [KiB]
    vcpu_ratio
        vCPUs per host CPU; default the host-file default (16).
    """
    host: dict[str, object] = {"capacity": f"{capacity_kib}KiB", "hypervisor": hypervisor}
    host["cpus"] = cpu_count if cpu_count is not None else MAX_CPU_COUNT
    if vcpu_ratio is not None or cpu_count is None:
        host["vcpu_ratio"] = vcpu_ratio if vcpu_ratio is not None else 1000
    guest: dict[str, object] = {"profile": profile}
    if memory_kib is not None:
        guest["memory"] = f"{memory_kib}KiB"
    if vcpu_count is not None:
        guest["vcpus"] = vcpu_count
    if workload_user_kib is not None:
        guest["workload"] = {"user_memory": f"{workload_user_kib}KiB", "threads": 1}
    data = {"host": host, "guests": [guest], "scenario": {"name": "expected", "resident": "expected"}}
    return fit_host_file(host_file_from_data(data, f"<capacity-only host of {format_kib(capacity_kib)}>"))


def fit_host_file(host_file: HostFile) -> FitResult:
    """:func:`fit` of a host file already read (``planner tune`` fits tuned copies of one)."""
    host = host_file.host
    notes: list[str] = []
    per_guest, budget = _sized(host_file, notes)
    guaranteed = _guaranteed(host_file, per_guest, budget)
    scenario_plan = None
    if host_file.scenario is not None:
        s = host_file.scenario
        _check_ksm_shared(s, per_guest)
        resident = {name: _expected_resident_kib(pg, s, notes) for name, pg in per_guest.items()}
        scenario_plan = _pack(
            s.name, host_file, per_guest, budget, resident, s.memory_ratio, s.ksm_shared_kib
        )
    sweeps, alone = size_sweeps(host_file, per_guest, guaranteed)
    return FitResult(
        host_file=host_file.path,
        hypervisor=host.hypervisor.name,
        hypervisor_description=host.hypervisor.description,
        host_kernel=host.kernel.name if host.kernel else None,
        host_kernel_applied=host.kernel is not None and host.hypervisor.host_kernel_scope == "node",
        host_memory_kib=host.memory_kib,
        capacity_only=host.capacity_only,
        cpu_count=host.cpu_count,
        vcpu_ratio=host.vcpu_ratio,
        objective=host_file.objective,
        per_guest=per_guest,
        guaranteed=guaranteed,
        scenario=scenario_plan,
        hypervisor_parameters=_hypervisor_parameters(host),
        spec=host_file,
        sweeps=sweeps,
        alone_counts=alone,
        input_files=fit_input_files(host_file),
        notes=tuple(dict.fromkeys(notes)),
    )


def guaranteed_plan(host_file: HostFile) -> tuple[dict[str, PerGuest], PlanResult]:
    """Each guest sized and the guaranteed plan, exactly as :func:`fit` makes them (no scenario,
    no size sweeps): what ``planner tune`` compares before and after a change.

    Raises
    ------
    InputError, InfeasibleError
        As :func:`fit`.
    """
    per_guest, budget = _sized(host_file, [])
    return per_guest, _guaranteed(host_file, per_guest, budget)


def _sized(host_file: HostFile, notes: list[str]) -> tuple[dict[str, PerGuest], NodeBudget]:
    """Every guest sized (:func:`.guests.size_guest`) and each node's budget, checked."""
    host = host_file.host
    per_guest = {g.name: size_guest(g, i, host_file) for i, g in enumerate(host_file.guests)}
    _check_hugepages(host_file)
    budget = _node_budget(host, notes)
    _check_reserves(host, budget)
    for name in host.hypervisor.unknown_parameters():
        notes.append(
            f"{host.hypervisor.name}: {name} has no published value (0 assumed): "
            f"{host.hypervisor.sources[name].source}"
        )
    return per_guest, budget


def _guaranteed(host_file: HostFile, per_guest: Mapping[str, PerGuest], budget: NodeBudget) -> PlanResult:
    """The guaranteed plan: every guest's full size resident; refused when the minimums do not fit."""
    full = {name: pg.guest_memory_kib for name, pg in per_guest.items()}
    plan = _pack("guaranteed", host_file, per_guest, budget, full, 1.0, 0)
    if plan.status == "infeasible":
        _raise_infeasible(host_file, plan)
    return plan


def packing_inputs(
    host_file: HostFile,
) -> tuple[tuple[GuestKind, ...], tuple[NodeCapacity, ...], dict[str, float]]:
    """The guaranteed packing of a host file as the solver sees it: each guest's demand (full
    size resident), each node's capacity and the host-wide vCPU capacity; :func:`fit` packs
    them on one host, ``planner fleet`` over many (:mod:`planner.workflows.fleet`)."""
    host = host_file.host
    per_guest, budget = _sized(host_file, [])
    full = {name: pg.guest_memory_kib for name, pg in per_guest.items()}
    kinds = _kinds(per_guest, full, host.hugepages.page_kib if host.hugepages else 1)
    nodes = tuple(
        NodeCapacity(k, {"memory_kib": budget.ordinary_kib(k), "hugepages_kib": budget.hugepages_kib[k]})
        for k in range(len(budget.memory_kib))
    )
    return kinds, nodes, {"vcpu_count": host.cpu_count * host.vcpu_ratio}


def _hypervisor_parameters(host: HostSpec) -> dict[str, HypervisorParameter]:
    return {
        name: HypervisorParameter(getattr(host.hypervisor.params, name), src.kind, src.source)
        for name, src in host.hypervisor.sources.items()
    }


def _check_hugepages(host_file: HostFile) -> None:
    for i, g in enumerate(host_file.guests):
        if g.hugepages and host_file.host.hugepages is None:
            raise InputError(
                "hugepages: true needs a hugepage pool; expected host.hugepages (page_size, per_node)",
                file=g.origin.file,
                line=g.origin.line,
                field=f"guests[{i}].hugepages",
            )


def _node_budget(host: HostSpec, notes: list[str]) -> NodeBudget:
    """Each node's budget; the host kernel is subtracted where the host's kernel manages all RAM
    (a Linux host: KVM), and noted as not subtracted elsewhere (Xen, z/VM, ESXi)."""
    nodes = host.node_memory_kib
    kernel_kib: tuple[int, ...] = (0,) * len(nodes)
    if host.kernel is not None and host.hypervisor.host_kernel_scope == "node":
        try:
            kernel_kib = host_kernel_use(host.kernel, nodes, host.cpu_count, host.cmdline).node_kib
        except InputError as err:
            raise located(err, host.origin, "host.kernel") from None
        note = host_kernel_range_note(host.kernel, nodes, host.cpu_count)
        if note:
            notes.append(note)
    elif host.kernel is not None:
        notes.append(
            f"host kernel {host.kernel.name} not subtracted: {host.hypervisor.stack.host_kernel_note}"
        )
    return node_budget(
        nodes,
        kernel_kib,
        host.hypervisor,
        host.cpu_count,
        hypervisor_reserve_kib=host.hypervisor_reserve_kib,
        operator_reserve_kib=host.operator_reserve_kib,
        hugepages_kib=[host.hugepages.per_node_kib if host.hugepages else 0 for _ in nodes],
        capacity_only=host.capacity_only,
    )


def _expected_resident_kib(pg: PerGuest, scenario: Scenario, notes: list[str]) -> int:
    """Guest RAM resident on the host under a scenario. [KiB]"""
    if pg.hugepages:
        return pg.guest_memory_kib  # hugepage-backed RAM is neither ballooned nor merged
    resident = pg.guest_memory_kib
    if scenario.resident == "expected":
        if pg.boot_footprint_kib is None:
            notes.append(
                f"{pg.name}: no boot footprint (none measured in its profile, no footprint model in "
                f"kernel calibration {pg.kernel}); scenario counts its full size as resident"
            )
        else:
            resident = min(
                resident, pg.boot_footprint_kib + (pg.workload_user_kib or 0) + pg.workload_kernel_kib
            )
    if scenario.balloon_percent:
        floor = pg.guest_kernel_kib + pg.workload_kernel_kib + (pg.workload_user_kib or 0)
        ballooned = math.ceil(pg.guest_memory_kib * (1 - scenario.balloon_percent / 100))
        resident = min(resident, max(ballooned, floor))
    return max(resident - scenario.ksm_shared_kib, 0)


def _pack(
    name: str,
    host_file: HostFile,
    per_guest: Mapping[str, PerGuest],
    budget: NodeBudget,
    resident_kib: Mapping[str, int],
    memory_ratio: float,
    scenario_reserve_kib: int,
) -> PlanResult:
    """One packing: every guest's demand (its RAM counted as ``resident_kib``) against each
    node's ordinary capacity less ``scenario_reserve_kib``, times ``memory_ratio``."""
    host = host_file.host
    kinds = _kinds(per_guest, resident_kib, host.hugepages.page_kib if host.hugepages else 1)
    caps = [
        max(math.floor((budget.ordinary_kib(k) - scenario_reserve_kib) * memory_ratio), 0)
        for k in range(len(budget.memory_kib))
    ]
    nodes = tuple(
        NodeCapacity(k, {"memory_kib": cap, "hugepages_kib": budget.hugepages_kib[k]})
        for k, cap in enumerate(caps)
    )
    vcpu_capacity = host.cpu_count * host.vcpu_ratio
    problem = PackingProblem(
        kinds=tuple(kinds),
        nodes=nodes,
        host_capacity={"vcpu_count": vcpu_capacity},
        objective=host_file.objective,
    )
    plan = solve(problem)
    return PlanResult(
        name=name,
        status=plan.status,
        gap=plan.gap,
        total_guests=plan.total_guests,
        guests={pg: plan.count(pg) for pg in per_guest},
        nodes=_node_results(plan, per_guest, budget, caps, resident_kib, scenario_reserve_kib),
        binding=plan.binding,
        blocked_by=plan.blocked_by,
        vcpu_used=int(plan.host_used.get("vcpu_count", 0)),
        vcpu_capacity=vcpu_capacity,
        resident_kib=dict(resident_kib),
        memory_ratio=memory_ratio,
        total_weight=sum(per_guest[p].weight * plan.count(p) for p in per_guest),
    )


def _kinds(
    per_guest: Mapping[str, PerGuest], resident_kib: Mapping[str, int], page_kib: int
) -> tuple[GuestKind, ...]:
    """Each guest as the solver packs it: its demand (:func:`planner.capacity.demand.guest_demand`,
    its RAM counted as ``resident_kib``), vCPUs, weight and bounds."""
    kinds = []
    for pg in per_guest.values():
        demand = guest_demand(
            pg.guest_memory_kib,
            pg.host_overhead_kib,
            hugepages=pg.hugepages,
            page_kib=page_kib,
            resident_kib=resident_kib[pg.name],
        )
        kinds.append(
            GuestKind(
                name=pg.name,
                node_demand=demand.resources(),
                host_demand={"vcpu_count": pg.vcpu_count},
                weight=pg.weight,
                min_count=pg.min_count,
                max_count=pg.max_count,
            )
        )
    return tuple(kinds)


def _node_results(
    plan: Plan,
    per_guest: Mapping[str, PerGuest],
    budget: NodeBudget,
    caps: list[int],
    resident_kib: Mapping[str, int],
    scenario_reserve_kib: int,
) -> tuple[NodeResult, ...]:
    out = []
    for k in range(len(budget.memory_kib)):
        counts = plan.node_counts(k)
        out.append(
            NodeResult(
                node_id=k,
                memory_kib=budget.memory_kib[k],
                host_kernel_kib=budget.host_kernel_kib[k],
                hypervisor_reserve_kib=budget.hypervisor_reserve_kib[k],
                operator_reserve_kib=budget.operator_reserve_kib[k],
                scenario_reserve_kib=scenario_reserve_kib,
                hugepages_kib=budget.hugepages_kib[k],
                capacity_kib=caps[k],
                guest_memory_kib=sum(
                    n * resident_kib[p] for p, n in counts.items() if not per_guest[p].hugepages
                ),
                guest_overhead_kib=sum(n * per_guest[p].host_overhead_kib for p, n in counts.items()),
                hugepages_used_kib=plan.node_used[k].get("hugepages_kib", 0),
                guests=counts,
            )
        )
    return tuple(out)


def _raise_infeasible(host_file: HostFile, plan: PlanResult) -> None:
    first = next((i for i, g in enumerate(host_file.guests) if g.min_count > 0), 0)
    origin = host_file.guests[first].origin
    mins = ", ".join(f"{g.min_count} {g.name}" for g in host_file.guests if g.min_count)
    overflow = [binding_text(b) + ("" if b.startswith("nodes (") else " overflow") for b in plan.binding]
    raise InfeasibleError(
        f"the minimum counts ({mins}) do not fit on this host ({'; '.join(overflow)}); "
        "expected smaller minimums or a bigger host",
        file=origin.file,
        line=origin.line,
        field=f"guests[{first}].min",
    )


def _check_ksm_shared(scenario: Scenario, per_guest: Mapping[str, PerGuest]) -> None:
    """KSM merges pages a guest holds: what it shares must be less than the smallest guest."""
    sizes = [pg.guest_memory_kib for pg in per_guest.values() if not pg.hugepages]
    if sizes and scenario.ksm_shared_kib >= min(sizes):
        origin = scenario.ksm_shared_origin
        raise InputError(
            f"expected less than the smallest guest ({format_kib(min(sizes))}); "
            f"found {format_kib(scenario.ksm_shared_kib)}",
            file=origin.file if origin else None,
            line=origin.line if origin else None,
            field="scenario.ksm_shared",
        )


def _check_reserves(host: HostSpec, budget: NodeBudget) -> None:
    """Refuse reserves that leave a node nothing for guests, naming the field that does it.

    The operator reserve is taken off last (DESIGN.md "Host side"), so it is the one named when
    the host kernel and hypervisor reserve alone leave room; then an overriding
    ``hypervisor_reserve``, the hugepage pool, and last the node's memory itself.
    """
    for k in range(len(budget.memory_kib)):
        if budget.ordinary_kib(k) <= 0:
            key, message = _reserve_problem(host, budget, k)
            origin = host.origin_of(key)
            raise InputError(message, file=origin.file, line=origin.line, field=f"host.{key}")


def _reserve_problem(host: HostSpec, budget: NodeBudget, k: int) -> tuple[str, str]:
    """(host key, message) for node ``k``, which has nothing left for guests."""
    node_kib, kernel_kib = budget.memory_kib[k], budget.host_kernel_kib[k]
    hyp_kib, huge_kib = budget.hypervisor_reserve_kib[k], budget.hugepages_kib[k]
    count = len(budget.memory_kib)
    where = f"node {k} ({format_kib(node_kib)})" if count > 1 else f"the host's {format_kib(node_kib)}"
    if budget.operator_reserve_kib[k] and node_kib - kernel_kib - hyp_kib - huge_kib > 0:
        left = [budget.ordinary_kib(n) + budget.operator_reserve_kib[n] for n in range(count)]
        least = left.index(min(left))
        split = (
            f" (split evenly over {count} nodes; node {least} has {format_kib(min(left))} left)"
            if count > 1
            else ""
        )
        return "operator_reserve", (
            f"expected less than the {format_kib(min(left) * count)} that the host kernel and "
            f"hypervisor reserve leave for guests{split}; found {format_kib(host.operator_reserve_kib)}"
        )
    if host.hypervisor_reserve_kib is not None and hyp_kib and node_kib - kernel_kib - huge_kib > 0:
        return "hypervisor_reserve", (
            f"expected less than the {format_kib(node_kib - kernel_kib - huge_kib)} that the host "
            f"kernel leaves on {where}; found {format_kib(hyp_kib)}"
        )
    if huge_kib and node_kib - kernel_kib - hyp_kib > 0:
        return "hugepages.per_node", (
            f"expected less than the {format_kib(node_kib - kernel_kib - hyp_kib)} that the host "
            f"kernel and hypervisor reserve leave on {where}, with room for the guests' overhead; "
            f"found {format_kib(huge_kib)}"
        )
    ram = ("capacity", "node_capacity") if host.capacity_only else ("memory", "node_memory")
    key = ram[1] if ram[1] in host.key_lines else ram[0]
    return key, (
        f"expected more memory on {where} than the host kernel ({format_kib(kernel_kib)}) and "
        f"the {host.hypervisor.name} reserve ({format_kib(hyp_kib)}) take; nothing is left for guests"
    )
