"""Library entry points behind the CLI: each is one call that returns a result with ``to_json()``.

``fit(host_path)``: host file -> guest sizes (kernel model) -> per-guest host cost
(hypervisor model) -> host capacity per node (host kernel model, reserves) ->
integer packing (solver) -> :class:`FitResult`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from planner import live
from planner.errors import InfeasibleError, InputError, PlannerError
from planner.hypervisors import HypervisorProfile
from planner.hypervisors.common import on_node0, round_up
from planner.inputs.calibrations import load_calibration
from planner.inputs.hostfile import load_host_file, located
from planner.inputs.profiles import load_hypervisor_profile
from planner.inputs.specs import GuestProfile, GuestRequest, HostFile, HostSpec, Scenario
from planner.solver import binding_text
from planner.units import KIB_PER_MIB, format_kib

#: Step of the search for ``memory: auto`` sizes. [KiB]
AUTO_STEP_KIB = 4 * KIB_PER_MIB


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerGuest:
    """One guest of a profile: its size, what its kernel keeps, what it costs the host. [KiB]"""

    name: str  #: the host file entry's ``name:`` (default: the profile's name); the key everywhere
    profile: str
    kernel: str
    hypervisor: str
    guest_memory_kib: int
    memory_auto: bool
    vcpu_count: int
    hugepages: bool
    host_overhead_kib: int
    host_cost_kib: int
    guest_kernel_kib: int
    mem_available_kib: int
    workload_user_kib: int | None
    workload_kernel_kib: int
    user_available_kib: int
    boot_footprint_kib: int | None
    kernel_breakdown_kib: Mapping[str, int]
    min_count: int
    max_count: int | None
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "guest_memory_kib": self.guest_memory_kib,
            "host_overhead_kib": self.host_overhead_kib,
            "host_cost_kib": self.host_cost_kib,
            "guest_kernel_kib": self.guest_kernel_kib,
            "user_available_kib": self.user_available_kib,
            "mem_available_kib": self.mem_available_kib,
            "workload_user_kib": self.workload_user_kib,
            "workload_kernel_kib": self.workload_kernel_kib,
            "boot_footprint_kib": self.boot_footprint_kib,
            "memory_auto": self.memory_auto,
            "vcpu_count": self.vcpu_count,
            "hugepages": self.hugepages,
            "kernel": self.kernel,
            "hypervisor": self.hypervisor,
            "kernel_breakdown_kib": dict(self.kernel_breakdown_kib),
            "min": self.min_count,
            "max": self.max_count,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class NodeResult:
    """One NUMA node of a plan: where its memory goes. [KiB]"""

    node_id: int
    memory_kib: int
    host_kernel_kib: int
    hypervisor_reserve_kib: int
    operator_reserve_kib: int
    scenario_reserve_kib: int
    hugepages_kib: int
    capacity_kib: int
    guest_memory_kib: int
    guest_overhead_kib: int
    hugepages_used_kib: int
    guests: Mapping[str, int]

    @property
    def used_kib(self) -> int:
        """Guest RAM and per-guest overhead taken from the node's capacity (hugepages apart)."""
        return self.guest_memory_kib + self.guest_overhead_kib

    @property
    def free_kib(self) -> int:
        return self.capacity_kib - self.used_kib

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.node_id,
            "memory_kib": self.memory_kib,
            "host_kernel_kib": self.host_kernel_kib,
            "hypervisor_reserve_kib": self.hypervisor_reserve_kib,
            "operator_reserve_kib": self.operator_reserve_kib,
            "scenario_reserve_kib": self.scenario_reserve_kib,
            "hugepages_kib": self.hugepages_kib,
            "hugepages_used_kib": self.hugepages_used_kib,
            "capacity_kib": self.capacity_kib,
            "used_kib": self.used_kib,
            "guest_memory_kib": self.guest_memory_kib,
            "guest_overhead_kib": self.guest_overhead_kib,
            "free_kib": self.free_kib,
            "guests": dict(self.guests),
        }


@dataclass(frozen=True)
class PlanResult:
    """One packing: the guaranteed plan, or a named scenario's."""

    name: str
    status: str
    gap: float
    total_guests: int
    guests: Mapping[str, int]
    nodes: tuple[NodeResult, ...]
    binding: tuple[str, ...]
    blocked_by: Mapping[str, tuple[str, ...]]
    vcpu_used: int
    vcpu_capacity: float
    resident_kib: Mapping[str, int]  # profile -> guest RAM counted as resident on the host
    memory_ratio: float = 1.0
    total_weight: float = 0.0  #: sum of count x weight over the profiles (objective max_weight)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "gap": self.gap if math.isfinite(self.gap) else None,
            "total_guests": self.total_guests,
            "guests": dict(self.guests),
            "nodes": [n.to_json() for n in self.nodes],
            "binding": list(self.binding),
            "blocked_by": {k: list(v) for k, v in self.blocked_by.items()},
            "vcpu_used": self.vcpu_used,
            "vcpu_capacity": _whole(self.vcpu_capacity),
            "total_weight": _whole(self.total_weight),
            "resident_kib": dict(self.resident_kib),
            "memory_ratio": self.memory_ratio,
        }


def _whole(value: float) -> int | float:
    """A float that is a whole number as an int (``vcpu_capacity: 128``, not ``128.0``)."""
    return int(value) if math.isfinite(value) and value == int(value) else value


#: keys of a plan's JSON that describe the plan itself, not the host's guaranteed figures
_PLAN_ONLY_KEYS = ("name", "resident_kib", "memory_ratio")


@dataclass(frozen=True)
class FitResult:
    """The answer of ``planner fit``: guaranteed plan, optional scenario, per-guest figures."""

    host_file: str
    hypervisor: str
    hypervisor_description: str
    host_kernel: str | None
    host_kernel_applied: bool
    host_memory_kib: int
    cpu_count: int
    vcpu_ratio: float
    objective: str
    per_guest: Mapping[str, PerGuest]
    guaranteed: PlanResult
    scenario: PlanResult | None
    hypervisor_parameters: Mapping[str, Mapping[str, Any]]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        return self.guaranteed.status

    def to_json(self) -> dict[str, Any]:
        # the guaranteed plan's figures at the top level (status, total_guests, nodes, ...)
        plan = {k: v for k, v in self.guaranteed.to_json().items() if k not in _PLAN_ONLY_KEYS}
        return {
            "host_file": self.host_file,
            "hypervisor": self.hypervisor,
            "host_kernel": self.host_kernel,
            "host_kernel_applied": self.host_kernel_applied,
            "host_memory_kib": self.host_memory_kib,
            "cpus": self.cpu_count,
            "vcpu_ratio": self.vcpu_ratio,
            "objective": self.objective,
            **plan,
            "per_guest": {k: v.to_json() for k, v in self.per_guest.items()},
            "scenario": self.scenario.to_json() if self.scenario else None,
            "hypervisor_parameters": {k: dict(v) for k, v in self.hypervisor_parameters.items()},
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """A readable report: guests per profile and node, where each MiB goes, what binds."""
        return _text(self)


# --- fit ------------------------------------------------------------------------------------------
def _usable(guest: GuestRequest, memory_kib: int, out_of_range: str) -> tuple[Any, int, int]:
    """(prediction, workload kernel KiB, user-available KiB) at one size."""
    from planner.kernel.model import GuestSpec, predict, workload_kernel_kib

    spec = GuestSpec(
        memory_kib=memory_kib,
        vcpu_count=guest.vcpu_count,
        cmdline=guest.profile.cmdline,
        machine=guest.profile.machine,
    )
    p = predict(guest.calibration, spec, out_of_range=out_of_range)  # type: ignore[arg-type]
    wl = guest.workload
    wk = workload_kernel_kib(guest.calibration, wl.user_memory_kib, wl.thread_count) if wl else 0
    return p, wk, p.mem_available_kib - wk


def _smallest_fitting_kib(guest: GuestRequest) -> int | None:
    """Smallest size (a multiple of 4 MiB in the calibrated range) whose usable memory covers the workload."""
    assert guest.workload is not None
    rng = guest.calibration.calibrated_range
    start = max(rng.min_memory_kib, guest.workload.user_memory_kib)
    start = round_up(start, AUTO_STEP_KIB)
    for memory_kib in range(start, rng.max_memory_kib + 1, AUTO_STEP_KIB):
        try:
            _, _, usable = _usable(guest, memory_kib, "ignore")
        except InfeasibleError:
            continue
        if usable >= guest.workload.user_memory_kib:
            return memory_kib
    return None


def _per_guest(guest: GuestRequest, index: int, host_file: HostFile) -> PerGuest:
    memory_origin = guest.memory_origin or guest.origin
    memory_auto = guest.memory_kib == "auto"
    wl = guest.workload
    if memory_auto:
        assert wl is not None
        found = _smallest_fitting_kib(guest)
        if found is None:
            rng = guest.calibration.calibrated_range
            raise InfeasibleError(
                f"a workload of {format_kib(wl.user_memory_kib)} and {_count(wl.thread_count, 'thread')} "
                f"fits no size of {guest.calibration.name} from {format_kib(rng.min_memory_kib)} to "
                f"{format_kib(rng.max_memory_kib)}; expected a smaller workload or a wider calibration",
                file=wl.origin.file,
                line=wl.origin.line,
                field=f"guests[{index}].workload" if wl.origin.file == host_file.path else "workload",
            )
        memory_kib = found
    else:
        assert isinstance(guest.memory_kib, int)
        memory_kib = guest.memory_kib
    if memory_kib > max(host_file.host.node_memory_kib):
        raise InputError(
            f"expected a guest no larger than a NUMA node "
            f"({format_kib(max(host_file.host.node_memory_kib))}); found {format_kib(memory_kib)}",
            file=memory_origin.file,
            line=memory_origin.line,
            field=f"guests[{index}].memory" if memory_origin.file == host_file.path else "memory",
        )
    try:
        p, wk, usable = _usable(guest, memory_kib, "warn")
    except InputError as err:
        field_name = f"guests[{index}].memory" if memory_origin.file == host_file.path else "memory"
        raise located(err, memory_origin, field_name) from None
    if wl is not None and usable < wl.user_memory_kib:
        hint = _smallest_fitting_kib(guest)
        fix = f"memory: {format_kib(hint)} or memory: auto" if hint else "a smaller workload"
        raise InfeasibleError(
            f"the workload needs {format_kib(wl.user_memory_kib)} but a {format_kib(memory_kib)} "
            f"{guest.calibration.name} guest leaves {format_kib(max(usable, 0))} usable (MemAvailable "
            f"{format_kib(p.mem_available_kib)} minus {format_kib(wk)} for "
            f"{_count(wl.thread_count, 'thread stack')} and page tables); expected {fix}",
            file=wl.origin.file,
            line=wl.origin.line,
            field=f"guests[{index}].workload" if wl.origin.file == host_file.path else "workload",
        )
    hypervisor = guest.hypervisor
    overhead = hypervisor.host_overhead_kib(memory_kib, guest.vcpu_count)
    return PerGuest(
        name=guest.name,
        profile=guest.profile.name,
        kernel=guest.calibration.name,
        hypervisor=hypervisor.name,
        guest_memory_kib=memory_kib,
        memory_auto=memory_auto,
        vcpu_count=guest.vcpu_count,
        hugepages=guest.hugepages,
        host_overhead_kib=overhead,
        host_cost_kib=memory_kib + overhead,
        guest_kernel_kib=p.kernel_kib,
        mem_available_kib=p.mem_available_kib,
        workload_user_kib=wl.user_memory_kib if wl else None,
        workload_kernel_kib=wk,
        user_available_kib=usable,
        boot_footprint_kib=guest.profile.boot_footprint_kib,
        kernel_breakdown_kib=dict(p.breakdown_kib),
        min_count=guest.min_count,
        max_count=guest.max_count,
        weight=guest.weight,
    )


@dataclass(frozen=True)
class _Capacity:
    node_memory_kib: tuple[int, ...]
    host_kernel_kib: tuple[int, ...]
    hypervisor_reserve_kib: tuple[int, ...]
    operator_reserve_kib: tuple[int, ...]
    hugepages_kib: tuple[int, ...]

    def memory_capacity_kib(self, k: int) -> int:
        return (
            self.node_memory_kib[k]
            - self.host_kernel_kib[k]
            - self.hypervisor_reserve_kib[k]
            - self.operator_reserve_kib[k]
            - self.hugepages_kib[k]
        )


def _host_kernel_extrapolated(host: HostSpec) -> str | None:
    """A note when the host's nodes, total memory or CPU count lie outside the range its kernel
    calibration was made on (``calibrated_range``): the host kernel overhead is then extrapolated,
    as ``planner predict`` warns for a guest (DESIGN.md "Calibrate -> predict")."""
    assert host.kernel is not None
    cal = host.kernel
    rng = cal.calibrated_range
    outside: list[str] = []
    nodes = sorted(set(host.node_memory_kib))
    if any(not rng.min_memory_kib <= m <= rng.max_memory_kib for m in (*nodes, host.memory_kib)):
        sizes = " and ".join(format_kib(m) for m in nodes)
        total = f" ({format_kib(host.memory_kib)} in all)" if len(host.node_memory_kib) > 1 else ""
        outside.append(f"{sizes} node{'s' if len(host.node_memory_kib) > 1 else ''}{total}")
    if not rng.min_vcpu_count <= host.cpu_count <= rng.max_vcpu_count:
        outside.append(f"{host.cpu_count} CPU{'s' if host.cpu_count > 1 else ''}")
    if not outside:
        return None
    cpus = (
        f"{rng.min_vcpu_count} CPU"
        if rng.min_vcpu_count == rng.max_vcpu_count == 1
        else f"{rng.min_vcpu_count} to {rng.max_vcpu_count} CPUs"
    )
    return (
        f"host kernel {cal.name} was calibrated on {format_kib(rng.min_memory_kib)} to "
        f"{format_kib(rng.max_memory_kib)} with {cpus}; outside that range on this host: "
        f"{', '.join(outside)}; the host kernel overhead is extrapolated"
    )


def _capacity(host_file: HostFile, notes: list[str]) -> _Capacity:
    host = host_file.host
    nodes = host.node_memory_kib
    count = len(nodes)
    kernel_kib = (0,) * count
    if host.kernel is not None and host.hypervisor.host_kernel_scope == "node":
        from planner.kernel.model import predict_host

        try:
            h = predict_host(host.kernel, list(nodes), host.cpu_count, host.cmdline)
        except InputError as err:
            raise located(err, host.origin, "host.kernel") from None
        kernel_kib = tuple(h.node_kernel_kib)
        note = _host_kernel_extrapolated(host)
        if note:
            notes.append(note)
    elif host.kernel is not None:
        notes.append(
            f"host kernel {host.kernel.name} not subtracted: {host.hypervisor.stack.host_kernel_note}"
        )
    if host.hypervisor_reserve_kib is not None:
        hyp = on_node0(host.hypervisor_reserve_kib, count)
    else:
        hyp = host.hypervisor.host_reserve_kib(nodes, host.cpu_count)
    base, extra = divmod(host.operator_reserve_kib, count)
    operator = tuple(base + (1 if k < extra else 0) for k in range(count))
    huge = tuple(host.hugepages.per_node_kib if host.hugepages else 0 for _ in nodes)
    return _Capacity(nodes, kernel_kib, hyp, operator, huge)


def _expected_resident_kib(pg: PerGuest, scenario: Scenario, notes: list[str]) -> int:
    """Guest RAM resident on the host under a scenario. [KiB]"""
    if pg.hugepages:
        return pg.guest_memory_kib  # hugepage-backed RAM is neither ballooned nor merged
    resident = pg.guest_memory_kib
    if scenario.resident == "expected":
        if pg.boot_footprint_kib is None:
            notes.append(f"{pg.name}: no measured boot footprint; scenario counts its full size as resident")
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
    capacity: _Capacity,
    resident_kib: Mapping[str, int],
    memory_ratio: float,
    scenario_reserve_kib: int,
) -> PlanResult:
    from planner.solver import GuestKind, NodeCapacity, PackingProblem, solve

    host = host_file.host
    page_kib = host.hugepages.page_kib if host.hugepages else 1
    kinds = []
    for pg in per_guest.values():
        demand = {"memory_kib": pg.host_overhead_kib + (0 if pg.hugepages else resident_kib[pg.name])}
        if pg.hugepages:
            demand["hugepages_kib"] = round_up(pg.guest_memory_kib, page_kib)
        kinds.append(
            GuestKind(
                name=pg.name,
                node_demand=demand,
                host_demand={"vcpu_count": pg.vcpu_count},
                weight=pg.weight,
                min_count=pg.min_count,
                max_count=pg.max_count,
            )
        )
    nodes = []
    caps: list[int] = []
    for k in range(len(host.node_memory_kib)):
        cap = max(math.floor((capacity.memory_capacity_kib(k) - scenario_reserve_kib) * memory_ratio), 0)
        caps.append(cap)
        nodes.append(NodeCapacity(k, {"memory_kib": cap, "hugepages_kib": capacity.hugepages_kib[k]}))
    vcpu_capacity = host.cpu_count * host.vcpu_ratio
    problem = PackingProblem(
        kinds=tuple(kinds),
        nodes=tuple(nodes),
        host_capacity={"vcpu_count": vcpu_capacity},
        objective=host_file.objective,
    )
    plan = solve(problem)
    node_results = []
    for k in range(len(host.node_memory_kib)):
        counts = plan.node_counts(k)
        node_results.append(
            NodeResult(
                node_id=k,
                memory_kib=host.node_memory_kib[k],
                host_kernel_kib=capacity.host_kernel_kib[k],
                hypervisor_reserve_kib=capacity.hypervisor_reserve_kib[k],
                operator_reserve_kib=capacity.operator_reserve_kib[k],
                scenario_reserve_kib=scenario_reserve_kib,
                hugepages_kib=capacity.hugepages_kib[k],
                capacity_kib=caps[k],
                guest_memory_kib=sum(
                    n * resident_kib[p] for p, n in counts.items() if not per_guest[p].hugepages
                ),
                guest_overhead_kib=sum(n * per_guest[p].host_overhead_kib for p, n in counts.items()),
                hugepages_used_kib=plan.node_used[k].get("hugepages_kib", 0),
                guests=counts,
            )
        )
    return PlanResult(
        name=name,
        status=plan.status,
        gap=plan.gap,
        total_guests=plan.total_guests,
        guests={pg: plan.count(pg) for pg in per_guest},
        nodes=tuple(node_results),
        binding=plan.binding,
        blocked_by=plan.blocked_by,
        vcpu_used=int(plan.host_used.get("vcpu_count", 0)),
        vcpu_capacity=vcpu_capacity,
        resident_kib=dict(resident_kib),
        memory_ratio=memory_ratio,
        total_weight=sum(per_guest[p].weight * plan.count(p) for p in per_guest),
    )


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


def _check_reserves(host: HostSpec, capacity: _Capacity) -> None:
    """Refuse reserves that leave a node nothing for guests, naming the field that does it.

    The operator reserve is taken off last (DESIGN.md "Host side"), so it is the one named when
    the host kernel and hypervisor reserve alone leave room; then an overriding
    ``hypervisor_reserve``, the hugepage pool, and last the node's memory itself.
    """
    for k, node_kib in enumerate(capacity.node_memory_kib):
        if capacity.memory_capacity_kib(k) > 0:
            continue
        kernel_kib = capacity.host_kernel_kib[k]
        hyp_kib = capacity.hypervisor_reserve_kib[k]
        operator_kib = capacity.operator_reserve_kib[k]
        huge_kib = capacity.hugepages_kib[k]
        count = len(capacity.node_memory_kib)
        where = f"node {k} ({format_kib(node_kib)})" if count > 1 else f"the host's {format_kib(node_kib)}"
        if operator_kib and node_kib - kernel_kib - hyp_kib - huge_kib > 0:
            left = [capacity.memory_capacity_kib(n) + capacity.operator_reserve_kib[n] for n in range(count)]
            split = (
                f" (split evenly over {count} nodes; node {left.index(min(left))} has "
                f"{format_kib(min(left))} left)"
                if count > 1
                else ""
            )
            key = "operator_reserve"
            message = (
                f"expected less than the {format_kib(min(left) * count)} that the host kernel and "
                f"hypervisor reserve leave for guests{split}; found {format_kib(host.operator_reserve_kib)}"
            )
        elif host.hypervisor_reserve_kib is not None and hyp_kib and node_kib - kernel_kib - huge_kib > 0:
            key = "hypervisor_reserve"
            message = (
                f"expected less than the {format_kib(node_kib - kernel_kib - huge_kib)} that the host "
                f"kernel leaves on {where}; found {format_kib(hyp_kib)}"
            )
        elif huge_kib and node_kib - kernel_kib - hyp_kib > 0:
            key = "hugepages.per_node"
            message = (
                f"expected less than the {format_kib(node_kib - kernel_kib - hyp_kib)} that the host "
                f"kernel and hypervisor reserve leave on {where}, with room for the guests' overhead; "
                f"found {format_kib(huge_kib)}"
            )
        else:
            key = "node_memory" if "node_memory" in host.key_lines else "memory"
            message = (
                f"expected more memory on {where} than the host kernel ({format_kib(kernel_kib)}) and "
                f"the {host.hypervisor.name} reserve ({format_kib(hyp_kib)}) take; nothing is left for guests"
            )
        origin = host.origin_of(key)
        raise InputError(message, file=origin.file, line=origin.line, field=f"host.{key}")


def fit(host_path: str | Path) -> FitResult:
    """How many guests of the host file's profiles fit on its host, per NUMA node.

    Raises
    ------
    InputError
        Bad host file or profile (file, line, field in the message).
    InfeasibleError
        A workload that fits no guest size, or minimum counts that do not fit.
    """
    host_file = load_host_file(host_path)
    host = host_file.host
    notes: list[str] = []
    per_guest = {g.name: _per_guest(g, i, host_file) for i, g in enumerate(host_file.guests)}
    for g in host_file.guests:
        if g.hugepages and host.hugepages is None:
            raise InputError(
                "hugepages: true needs a hugepage pool; expected host.hugepages (page_size, per_node)",
                file=g.origin.file,
                line=g.origin.line,
                field=f"guests[{host_file.guests.index(g)}].hugepages",
            )
    capacity = _capacity(host_file, notes)
    _check_reserves(host, capacity)
    for name in host.hypervisor.unknown_parameters():
        notes.append(
            f"{host.hypervisor.name}: {name} has no published value (0 assumed): "
            f"{host.hypervisor.sources[name].source}"
        )
    full = {name: pg.guest_memory_kib for name, pg in per_guest.items()}
    guaranteed = _pack("guaranteed", host_file, per_guest, capacity, full, 1.0, 0)
    if guaranteed.status == "infeasible":
        _raise_infeasible(host_file, guaranteed)
    scenario_plan = None
    if host_file.scenario is not None:
        s = host_file.scenario
        _check_ksm_shared(s, per_guest)
        resident = {name: _expected_resident_kib(pg, s, notes) for name, pg in per_guest.items()}
        scenario_plan = _pack(
            s.name, host_file, per_guest, capacity, resident, s.memory_ratio, s.ksm_shared_kib
        )
    params = {
        name: {
            "value": getattr(host.hypervisor.params, name),
            "kind": src.kind,
            "source": src.source,
        }
        for name, src in host.hypervisor.sources.items()
    }
    return FitResult(
        host_file=host_file.path,
        hypervisor=host.hypervisor.name,
        hypervisor_description=host.hypervisor.description,
        host_kernel=host.kernel.name if host.kernel else None,
        host_kernel_applied=host.kernel is not None and host.hypervisor.host_kernel_scope == "node",
        host_memory_kib=host.memory_kib,
        cpu_count=host.cpu_count,
        vcpu_ratio=host.vcpu_ratio,
        objective=host_file.objective,
        per_guest=per_guest,
        guaranteed=guaranteed,
        scenario=scenario_plan,
        hypervisor_parameters=params,
        notes=tuple(dict.fromkeys(notes)),
    )


# --- text -----------------------------------------------------------------------------------------
def _count(n: int, noun: str) -> str:
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


def _plan_text(result: FitResult, plan: PlanResult) -> list[str]:
    nodes = plan.nodes
    weight = f", total weight {plan.total_weight:g}" if result.objective == "max_weight" else ""
    lines = [
        f"{plan.name}: {_count(plan.total_guests, 'guest')}{weight} ({plan.status}"
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

    row("RAM", [n.memory_kib for n in nodes])
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


def _text(result: FitResult) -> str:
    kernel = result.host_kernel or "none"
    if result.host_kernel and not result.host_kernel_applied:
        kernel += " (not subtracted)"
    lines = [
        f"{result.host_file}: {format_kib(result.host_memory_kib)}, "
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
        lines += _plan_text(result, result.scenario)
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


# --- profiles and schema ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileListing:
    """Kernels, hypervisors and guest profiles: name -> one-line description."""

    kernels: Mapping[str, str]
    hypervisors: Mapping[str, str]
    guests: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "kernels": dict(self.kernels),
            "hypervisors": dict(self.hypervisors),
            "guests": dict(self.guests),
        }

    def to_text(self) -> str:
        lines: list[str] = []
        for title, items in (
            ("kernels", self.kernels),
            ("hypervisors", self.hypervisors),
            ("guests", self.guests),
        ):
            lines.append(f"{title}:")
            width = max((len(k) for k in items), default=0)
            lines += [f"  {name.ljust(width)}  {text}" for name, text in items.items()] or ["  (none)"]
            lines.append("")
        return "\n".join(lines).rstrip()


def profiles() -> ProfileListing:
    """Every shipped kernel calibration, hypervisor profile and guest profile."""
    from planner.inputs.calibrations import list_calibrations
    from planner.inputs.profiles import describe_profiles

    return ProfileListing(
        kernels=dict(list_calibrations()),
        hypervisors=dict(describe_profiles("hypervisors")),
        guests=dict(describe_profiles("guests")),
    )


def host_schema() -> dict[str, Any]:
    """JSON schema of a host file."""
    from planner.inputs.schema import host_file_schema

    return host_file_schema()


# --- kernel: calibrate and predict ------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrateResult:
    """A calibration made from logs, where it was written, and what was skipped."""

    calibration: Any  # planner.kernel.calibration.Calibration
    output: Path | None
    skipped: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = dict(self.calibration.to_dict())
        data["output"] = str(self.output) if self.output else None
        data["skipped"] = [{"source": s, "reason": r} for s, r in self.skipped]
        return data

    def to_text(self) -> str:
        cal = self.calibration
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
        for source, reason in self.skipped:
            lines.append(f"skipped {source}: {reason}")
        if self.output:
            lines.append(f"wrote {self.output}")
        return "\n".join(lines)


def calibrate_logs(
    paths: list[str] | list[Path],
    *,
    name: str,
    output: str | Path | None = None,
    description: str = "",
    partial: bool = False,
) -> CalibrateResult:
    """Load logs (files, evidence directories or bootlab output directories), calibrate, write YAML."""
    from planner.evidence.logset import load_logs
    from planner.inputs.calibrations import save_calibration
    from planner.kernel.calibrate import calibrate

    logs = load_logs([Path(p) for p in paths])
    calibration = calibrate(logs.evidences, name=name, description=description, partial=partial)
    out = Path(output) if output else None
    if out is not None:
        save_calibration(calibration, out)
    return CalibrateResult(calibration, out, logs.skipped)


@dataclass(frozen=True)
class PredictResult:
    """One prediction and the calibration it came from."""

    prediction: Any  # planner.kernel.model.Prediction
    calibration: Any

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.prediction.to_json()
        data["kernel_release"] = self.calibration.kernel_release
        data["arch"] = self.calibration.arch
        return data

    def to_text(self) -> str:
        p = self.prediction
        cal = self.calibration
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


def predict_guest(
    kernel: str,
    memory_kib: int,
    *,
    vcpu_count: int = 1,
    possible_cpu_count: int | None = None,
    cmdline: str = "",
    machine: str | None = None,
    strict: bool = False,
) -> PredictResult:
    """Predict one guest's memory with a shipped or given calibration."""
    from planner.kernel.model import GuestSpec, predict

    calibration = load_calibration(kernel)
    spec = GuestSpec(memory_kib, vcpu_count, possible_cpu_count, cmdline, machine)
    prediction = predict(calibration, spec, out_of_range="raise" if strict else "warn")
    return PredictResult(prediction, calibration)


# === planner check: live libvirt hosts (read-only) ================================================
# Snapshots come from :mod:`planner.live` (the only libvirt importer); everything below is pure
# arithmetic over them: node capacity from the host kernel model and the hypervisor profile,
# what the domains commit on each node, warnings, and the headroom that the solver finds for
# each profile with the existing guests fixed (node capacities reduced by what they commit).

#: hypervisor profile for a domain of this ``<domain type=>`` when no host file names one
CHECK_HYPERVISOR_BY_DOMAIN_TYPE = {"kvm": "kvm-qemu", "qemu": "qemu-tcg"}
CHECK_DEFAULT_HYPERVISOR = "kvm-qemu"
#: host and guest kernel calibrations assumed when no host file names one, by architecture
CHECK_DEFAULT_HOST_KERNEL = {"x86_64": "debian12-amd64", "s390x": "debian12-s390x"}
CHECK_DEFAULT_GUEST_KERNEL = {"x86_64": "debian12-cloud-amd64", "s390x": "debian12-s390x"}
#: memory sources that differ by more than this share are reported (recipes §4 gotcha 14)
CHECK_SOURCES_TOLERANCE = 0.02
#: a first ``getCapabilities()`` slower than this is explained in a note (recipes §4 gotcha 9) [s]
CHECK_SLOW_CAPABILITIES_S = 5.0
#: vCPUs per host CPU when no host file gives ``vcpu_ratio`` (the host-file default)
CHECK_DEFAULT_VCPU_RATIO = 16.0
#: host kernel terms that lie inside a node's MemTotal (the rest is already outside the
#: capabilities' cell memory); ``hash_tables`` only with several nodes (``hashdist``: vmalloc)
_INSIDE_MEMTOTAL_TERMS = ("slab", "kernel_stacks", "vmalloc", "runtime_other")


@dataclass(frozen=True)
class CheckNode:
    """One NUMA node of a checked host. [KiB]

    ``memory_kib`` is what the node has (the capabilities' cell memory, i.e. the node's
    MemTotal; or the host file's node memory); ``capacity_kib`` what guests may take:
    memory minus the host kernel's own use, the hypervisor's reserve and the operator's
    reserve; ``committed_kib`` what the active domains placed on it can take (their full
    size plus the hypervisor's predicted overhead); ``used_kib`` what the host says is in
    use right now (memory minus free), the real figure beside the planned one.
    """

    node_id: int
    memory_kib: int
    capacity_kib: int
    committed_kib: int
    used_kib: int | None
    free_kib: int | None
    host_kernel_kib: int
    hypervisor_reserve_kib: int
    operator_reserve_kib: int
    hugepages_kib: int  #: huge pages (>= 2 MiB) reserved on the node
    hugepages_committed_kib: int
    domains: tuple[str, ...]

    @property
    def left_kib(self) -> int:
        """Capacity minus committed: room for more guests, negative when over-committed. [KiB]"""
        return self.capacity_kib - self.committed_kib

    @property
    def over_committed(self) -> bool:
        """Guests can take more than the node has: of its ordinary memory (capacity minus the
        huge-page pool), or of the pool."""
        normal_kib = self.committed_kib - self.hugepages_committed_kib
        return (
            normal_kib > self.capacity_kib - self.hugepages_kib
            or self.hugepages_committed_kib > self.hugepages_kib
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.node_id,
            "memory_kib": self.memory_kib,
            "capacity_kib": self.capacity_kib,
            "committed_kib": self.committed_kib,
            "left_kib": self.left_kib,
            "used_kib": self.used_kib,
            "free_kib": self.free_kib,
            "host_kernel_kib": self.host_kernel_kib,
            "hypervisor_reserve_kib": self.hypervisor_reserve_kib,
            "operator_reserve_kib": self.operator_reserve_kib,
            "hugepages_kib": self.hugepages_kib,
            "hugepages_committed_kib": self.hugepages_committed_kib,
            "over_committed": self.over_committed,
            "domains": list(self.domains),
        }


@dataclass(frozen=True)
class CheckDomain:
    """One domain of a checked host: its sizes, where it is placed, what it commits, and
    the hypervisor overhead predicted by the profile beside the one measured from /proc."""

    name: str
    state: str
    active: bool
    max_memory_kib: int
    current_memory_kib: int
    vcpus: int
    hugepage_kib: int | None
    numa_mode: str | None
    numa_nodeset: tuple[int, ...]
    node_kib: Mapping[int, int]  #: node -> KiB committed there (empty when inactive)
    committed_kib: int
    hypervisor: str
    predicted_overhead_kib: int
    measured: live.ProcessMemory | None
    measured_note: str | None
    balloon: live.BalloonStats | None
    kernel_need_kib: int | None

    def to_json(self) -> dict[str, Any]:
        m = self.measured
        b = self.balloon
        return {
            "name": self.name,
            "state": self.state,
            "active": self.active,
            "max_memory_kib": self.max_memory_kib,
            "current_memory_kib": self.current_memory_kib,
            "vcpus": self.vcpus,
            "hugepage_kib": self.hugepage_kib,
            "numa_mode": self.numa_mode,
            "numa_nodeset": list(self.numa_nodeset),
            "nodes": {str(k): v for k, v in sorted(self.node_kib.items())},
            "committed_kib": self.committed_kib,
            "kernel_need_kib": self.kernel_need_kib,
            "overhead": {
                "hypervisor": self.hypervisor,
                "predicted_kib": self.predicted_overhead_kib,
                "measured_kib": m.host_overhead_kib if m else None,
                "measured_rss_kib": m.overhead_rss_kib if m else None,
                "measured_pss_kib": m.overhead_pss_kib if m else None,
                "page_tables_kib": m.page_tables_kib if m else None,
                "process_rss_kib": m.rss_kib if m else None,
                "process_pss_kib": m.pss_kib if m else None,
                "guest_ram_resident_kib": m.guest_ram_rss_kib if m else None,
                "pid": m.pid if m else None,
                "note": self.measured_note,
            },
            "balloon": None
            if b is None
            else {
                "current_kib": b.current_kib,
                "maximum_kib": b.maximum_kib,
                "available_kib": b.available_kib,
                "usable_kib": b.usable_kib,
                "unused_kib": b.unused_kib,
                "disk_caches_kib": b.disk_caches_kib,
                "rss_kib": b.rss_kib,
                "guest_reported": b.guest_reported,
            },
        }


@dataclass(frozen=True)
class HostCheck:
    """The result for one URI: either ``error`` or the analysis of its snapshot."""

    uri: str
    error: str | None = None
    bad_input: bool = False  #: the URI itself was malformed
    driver: str | None = None
    hostname: str | None = None
    libvirt_version: str | None = None
    memory_kib: int = 0
    capacity_kib: int = 0
    committed_kib: int = 0
    used_kib: int | None = None
    free_kib: int | None = None
    nodes: tuple[CheckNode, ...] = ()
    domains: tuple[CheckDomain, ...] = ()
    headroom: Mapping[str, int] = field(default_factory=dict)
    headroom_binding: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    hypervisor: str | None = None
    host_kernel: str | None = None
    #: calibration assumed for the guests' kernels (libvirt does not say which kernel a guest
    #: runs): the domains' ``kernel_need_kib`` and the ballooning warnings come from it
    guest_kernel: str | None = None
    elapsed_s: float = 0.0
    capabilities_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def over_committed(self) -> bool:
        return any(node.over_committed for node in self.nodes)

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "ok": self.ok,
            "error": self.error,
            "driver": self.driver,
            "hostname": self.hostname,
            "libvirt_version": self.libvirt_version,
            "memory_kib": self.memory_kib,
            "capacity_kib": self.capacity_kib,
            "committed_kib": self.committed_kib,
            "used_kib": self.used_kib,
            "free_kib": self.free_kib,
            "over_committed": self.over_committed,
            "nodes": [n.to_json() for n in self.nodes],
            "domains": [d.to_json() for d in self.domains],
            "headroom": dict(self.headroom),
            "headroom_binding": {k: list(v) for k, v in self.headroom_binding.items()},
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "hypervisor": self.hypervisor,
            "host_kernel": self.host_kernel,
            "guest_kernel": self.guest_kernel,
            "elapsed_s": round(self.elapsed_s, 3),
            "capabilities_s": round(self.capabilities_s, 3),
        }


@dataclass(frozen=True)
class CheckResult:
    """``planner check``: one :class:`HostCheck` per URI, in the order given."""

    hosts: tuple[HostCheck, ...]
    profiles: tuple[str, ...]  #: every profile with headroom: the host file's, then ``--profile``'s
    host_file: str | None = None  #: the ``--host`` file, as given
    requested_profiles: tuple[str, ...] = ()  #: the ``--profile`` values, as given
    #: each profile with headroom -> the guest profile file it was read from
    profile_files: Mapping[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Some host could not be checked."""
        return any(not h.ok for h in self.hosts)

    @property
    def bad_input(self) -> bool:
        """Some URI was malformed."""
        return any(h.bad_input for h in self.hosts)

    @property
    def over_committed(self) -> bool:
        return any(h.over_committed for h in self.hosts)

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": [h.to_json() for h in self.hosts],
            "profiles": list(self.profiles),
            "host_file": self.host_file,
        }

    def to_text(self) -> str:
        """One block per host: nodes, domains, headroom, warnings; a summary line last."""
        return _check_text(self)


@dataclass(frozen=True)
class CheckProfile:
    """A guest profile whose headroom is wanted, sized: what one more guest of it needs."""

    name: str
    memory_kib: int
    vcpu_count: int
    hypervisor: str | None  #: None: the live host's hypervisor profile
    hugepages: bool = False
    kernel: str | None = None  #: its kernel calibration (for the ballooning check)
    calibration: Any = None  #: that calibration, when already loaded
    profile: GuestProfile | None = None  #: a ``--profile``'s file, to match its hypervisors to the host's


@dataclass(frozen=True)
class CheckSettings:
    """What the analysis assumes about a host beyond what libvirt reports."""

    host: HostSpec | None = None  #: from ``--host host.yaml``
    profiles: tuple[CheckProfile, ...] = ()  #: headroom is computed for each


def check(
    uris: Sequence[str],
    host_path: str | Path | None = None,
    profiles: Sequence[str] = (),
    *,
    timeout_s: float = 120.0,
) -> CheckResult:
    """Check live libvirt hosts, read-only, in parallel.

    Each URI is opened with ``libvirt.openReadOnly`` in its own thread
    (:func:`planner.live.snapshot`); a host that cannot be reached, refuses, or drops
    the connection is reported with its error while the others complete.

    Parameters
    ----------
    uris
        libvirt URIs (``qemu:///system``, ``qemu+ssh://host/system``,
        ``test:///abs/path/host.xml``).
    host_path
        A host file (``planner fit`` format): its host kernel, hypervisor, reserves and
        vCPU ratio are used, its guest profiles get headroom, and its node memory stands
        in when libvirt reports no NUMA cells (the test driver).
    profiles
        Guest profile names or files: how many more of each fit now.
    timeout_s
        A host that has not answered by then is reported as failed. [s]

    Raises
    ------
    InputError
        For an unreadable host file or an unknown profile.
    LiveQueryError
        When libvirt-python is not installed.
    """
    import time

    deadline = time.monotonic() + timeout_s
    valid: list[str] = []
    results: dict[int, HostCheck] = {}
    for i, uri in enumerate(uris):
        try:
            live.validate_uri(uri)
            valid.append(uri)
        except InputError as err:
            results[i] = HostCheck(uri=uri, error=err.message, bad_input=True)
    if valid:
        live.load_libvirt()  # one clear error when libvirt-python is missing
    # the hosts are read (in threads, libvirt releases the GIL) while the files are read here
    snapshots, threads = _start_snapshots(valid, timeout_s)
    settings = _check_settings(host_path, profiles)
    if settings.profiles:
        import scipy.optimize  # noqa: F401 - warm the solver's import while the hosts answer
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    it = iter(snapshots)
    hosts: list[HostCheck] = []
    for i, uri in enumerate(uris):
        if i in results:
            hosts.append(results[i])
            continue
        snap = next(it)
        if isinstance(snap, str):
            hosts.append(HostCheck(uri=uri, error=snap.removeprefix(f"{uri}: ")))
            continue
        try:
            hosts.append(analyze_host(snap, settings))
        except PlannerError as err:  # e.g. a model refusing this host's figures: this host only
            # a --profile this host's hypervisor cannot run is bad input (exit 2), as in fit
            wrong = isinstance(err, InputError) and err.field == "--profile"
            error = str(err) if wrong else f"cannot analyse the host: {err}"
            hosts.append(HostCheck(uri=uri, error=error, bad_input=wrong))
    return CheckResult(
        hosts=tuple(hosts),
        profiles=tuple(p.name for p in settings.profiles),
        host_file=str(host_path) if host_path is not None else None,
        requested_profiles=tuple(profiles),
        profile_files={p.name: p.profile.origin.file for p in settings.profiles if p.profile is not None},
    )


def _check_settings(host_path: str | Path | None, profiles: Sequence[str]) -> CheckSettings:
    """Read the host file and the profiles once, before any host is contacted."""
    from planner.inputs.profiles import load_guest_profile

    host: HostSpec | None = None
    sized: list[CheckProfile] = []
    if host_path is not None:
        host_file = load_host_file(host_path)
        host = host_file.host
        for i, g in enumerate(host_file.guests):
            pg = _per_guest(g, i, host_file)  # sizes memory: auto entries like planner fit
            sized.append(
                CheckProfile(
                    pg.name,
                    pg.guest_memory_kib,
                    pg.vcpu_count,
                    pg.hypervisor,
                    pg.hugepages,
                    pg.kernel,
                    calibration=g.calibration,
                    profile=g.profile,
                )
            )
    for name in profiles:
        try:
            profile = load_guest_profile(name)
        except InputError as err:
            raise err.located(field="--profile") from None
        if profile.name in {p.name for p in sized}:
            continue
        if host is not None:  # the host's hypervisor is known now: refuse a mix as fit does
            _profile_hypervisor(profile, host.hypervisor)
        memory_kib = profile.memory_kib
        if memory_kib == "auto":
            memory_kib = _auto_size_kib(profile)
        sized.append(
            CheckProfile(
                profile.name, memory_kib, profile.vcpu_count, None, False, profile.kernel, profile=profile
            )
        )
    return CheckSettings(host=host, profiles=tuple(sized))


def _profile_hypervisor(profile: GuestProfile, host_hypervisor: HypervisorProfile) -> HypervisorProfile:
    """The hypervisor profile a ``--profile`` guest runs under on this host (``planner fit``'s rule:
    the host's, or one of the same model); an :class:`InputError` when it cannot run there."""
    from planner.inputs.profiles import guest_hypervisor, wrong_hypervisor_message

    under = guest_hypervisor(profile, host_hypervisor)
    if under is None:
        raise InputError(wrong_hypervisor_message(profile, host_hypervisor), field="--profile")
    return under


def _auto_size_kib(profile: GuestProfile) -> int:
    """The ``memory: auto`` size of a profile given by name, as ``planner fit`` sizes it."""

    assert profile.workload is not None  # the profile loader requires one with memory: auto
    try:
        calibration = load_calibration(profile.kernel)
        hypervisor = load_hypervisor_profile(profile.hypervisors[0])
    except InputError as err:
        raise err.located(file=profile.origin.file, field="kernel") from None
    request = GuestRequest(
        profile=profile,
        calibration=calibration,
        hypervisor=hypervisor,
        memory_kib="auto",
        vcpu_count=profile.vcpu_count,
        workload=profile.workload,
        min_count=0,
        max_count=None,
        weight=1.0,
        hugepages=False,
        origin=profile.origin,
    )
    found = _smallest_fitting_kib(request)
    if found is None:
        raise InfeasibleError(
            f"profile {profile.name!r}: its workload fits no size of {calibration.name}",
            file=profile.origin.file,
            field="workload",
        )
    return found


def _start_snapshots(
    uris: Sequence[str], timeout_s: float
) -> tuple[list[live.HostSnapshot | str], list[Any]]:
    """One (daemon) thread per URI; each slot of the list ends as a snapshot or an error message."""
    import threading

    out: list[live.HostSnapshot | str] = [f"{u}: no answer within {timeout_s:.0f} s" for u in uris]

    def run(i: int, uri: str) -> None:
        try:
            out[i] = live.snapshot(uri)
        except PlannerError as err:
            out[i] = str(err)
        except Exception as err:  # a bug or data libvirt should never send: this host fails, not all
            out[i] = f"{uri}: unexpected {type(err).__name__} while reading the host: {err} (a planner bug)"

    threads = [threading.Thread(target=run, args=(i, u), daemon=True) for i, u in enumerate(uris)]
    for t in threads:
        t.start()
    return out, threads


def analyze_host(snap: live.HostSnapshot, settings: CheckSettings = CheckSettings()) -> HostCheck:
    """Capacity, commitment, warnings and headroom of one host snapshot (no libvirt calls).

    Node capacity = node memory - host kernel - hypervisor reserve - operator reserve
    (DESIGN.md "Host side"). When the nodes come from the capabilities, their memory
    is the node's MemTotal, which already excludes what the kernel reserved at boot, so
    only the host kernel terms inside MemTotal are taken off (slab, stacks, vmalloc,
    runtime; the big hash tables when there are several nodes; the watermark reserves).
    Otherwise (host file, or the test driver's ``<memory>``) the whole predicted host
    kernel is taken off.

    Placement: a domain bound to nodes by ``<numatune>``/``<memnode>`` commits there,
    split evenly over a nodeset of several nodes; an unbound domain is placed whole on the
    node with the most capacity left (largest first), the kernel's and libvirt's
    placement being unknown to the API; one that fits no node is split in proportion to
    what is left. Commitment = full ``<memory>`` (a balloon can grow back to it) plus the
    hypervisor profile's per-guest overhead; shut-off domains commit nothing.
    """
    warnings_: list[str] = []
    notes: list[str] = list(snap.notes)
    if snap.capabilities_s > CHECK_SLOW_CAPABILITIES_S:
        notes.append(
            f"getCapabilities took {snap.capabilities_s:.1f} s: the daemon probed its qemu binaries "
            "(once; cached afterwards in its capabilities cache)"
        )
    host = settings.host
    hypervisor = host.hypervisor if host is not None else load_hypervisor_profile(_dominant_hypervisor(snap))
    hypervisor_name = hypervisor.name
    wanted = tuple(
        replace(p, hypervisor=_profile_hypervisor(p.profile, hypervisor).name)
        if p.profile is not None and p.hypervisor is None
        else p
        for p in settings.profiles
    )

    # --- node memory and its sources ---------------------------------------------------------
    from_cells = bool(snap.nodes)
    node_free: list[int | None]
    if from_cells:
        node_memory = [n.memory_kib for n in snap.nodes]
        node_ids = [n.node_id for n in snap.nodes]
        node_free = [n.free_kib for n in snap.nodes]
    elif host is not None:
        node_memory = list(host.node_memory_kib)
        node_ids = list(range(len(node_memory)))
        node_free = [None] * len(node_memory)
        notes.append(
            f"{snap.driver} reports no NUMA cells: node memory from the host file {host.origin.file}"
        )
    else:
        node_memory = [snap.info_memory_kib]
        node_ids = [0]
        node_free = [snap.free_kib]
        notes.append(f"{snap.driver} reports no NUMA cells: one node of {format_kib(snap.info_memory_kib)}")
    warnings_ += _memory_source_warnings(snap)
    if (
        from_cells
        and len(node_memory) == 1
        and snap.stats_total_kib
        and snap.stats_total_kib > node_memory[0]
    ):
        # a single node holds all the host's memory, whatever the node meminfo says
        notes.append(
            f"node 0 memory taken from /proc/meminfo ({format_kib(snap.stats_total_kib)}) "
            f"rather than the node meminfo ({format_kib(node_memory[0])})"
        )
        node_memory = [snap.stats_total_kib]
        node_free = [snap.stats_free_kib]

    # --- what the host keeps -----------------------------------------------------------------
    cpu_count = host.cpu_count if host is not None else snap.cpu_count
    host_kernel_name, kernel_kib, reserves_kib = _host_kernel(
        snap, host, hypervisor, node_memory, cpu_count, inside_memtotal_only=from_cells, notes=notes
    )
    if host is not None and host.hypervisor_reserve_kib is not None:
        hv_reserve = [host.hypervisor_reserve_kib if k == 0 else 0 for k in range(len(node_memory))]
    else:
        hv_reserve = list(hypervisor.host_reserve_kib(node_memory, cpu_count))
    operator_total = host.operator_reserve_kib if host is not None else 0
    operator = [
        operator_total // len(node_memory) + (1 if k < operator_total % len(node_memory) else 0)
        for k in range(len(node_memory))
    ]
    if from_cells:  # the pools the host really has (pages of 2 MiB and more)
        huge_pool = [
            sum(p.page_kib * p.total_pages for p in n.hugepages if p.page_kib >= 2048) for n in snap.nodes
        ]
    elif host is not None and host.hugepages is not None:
        huge_pool = [host.hugepages.per_node_kib] * len(node_memory)
    else:
        huge_pool = [0] * len(node_memory)
    capacity = [node_memory[k] - kernel_kib[k] - hv_reserve[k] - operator[k] for k in range(len(node_memory))]

    # --- domains -----------------------------------------------------------------------------
    index = {nid: k for k, nid in enumerate(node_ids)}
    left = [capacity[k] - huge_pool[k] for k in range(len(node_ids))]
    huge_left = list(huge_pool)
    placed: dict[str, dict[int, int]] = {}
    overheads: dict[str, tuple[str, int]] = {}
    order = sorted(
        (d for d in snap.domains if d.active),
        key=lambda d: (_bound_nodes(d, index) is None, -d.config.max_memory_kib, d.name),
    )
    for dom in order:
        hv = hypervisor_name if host is not None else _domain_hypervisor(dom, hypervisor_name)
        profile = hypervisor if hv == hypervisor_name else load_hypervisor_profile(hv)
        overhead = profile.host_overhead_kib(dom.config.max_memory_kib, dom.config.vcpu_count)
        overheads[dom.name] = (hv, overhead)
        use_pool = dom.config.hugepage_kib is not None and sum(huge_pool) > 0
        ram_kib = dom.config.max_memory_kib
        shares, how = _place(
            dom,
            index,
            left if not use_pool else huge_left,
            ram_kib + overhead,
            warnings_ if from_cells else notes,  # a host without NUMA cells: bindings are moot
        )
        node_kib: dict[int, int] = {}
        for k, share in shares.items():
            ram_share = round(ram_kib * share)
            over_share = round(overhead * share)
            if use_pool:
                huge_left[k] -= ram_share
                left[k] -= over_share
            else:
                left[k] -= ram_share + over_share
            node_kib[node_ids[k]] = ram_share + over_share
        placed[dom.name] = node_kib
        if len(node_kib) > 1:
            warnings_.append(f"domain {dom.name!r} spans nodes {_ids(node_kib)} ({how})")
        if dom.config.hugepage_kib is not None and not use_pool:
            notes.append(
                f"domain {dom.name!r} uses huge pages but the host reports no pool; counted as node memory"
            )

    # --- per node ----------------------------------------------------------------------------
    nodes: list[CheckNode] = []
    for k, nid in enumerate(node_ids):
        committed = sum(p.get(nid, 0) for p in placed.values())
        huge_committed = huge_pool[k] - huge_left[k]
        free = node_free[k]
        node = CheckNode(
            node_id=nid,
            memory_kib=node_memory[k],
            capacity_kib=capacity[k],
            committed_kib=committed,
            used_kib=node_memory[k] - free if free is not None else None,
            free_kib=free,
            host_kernel_kib=kernel_kib[k],
            hypervisor_reserve_kib=hv_reserve[k],
            operator_reserve_kib=operator[k],
            hugepages_kib=huge_pool[k],
            hugepages_committed_kib=huge_committed,
            domains=tuple(sorted(name for name, p in placed.items() if nid in p)),
        )
        nodes.append(node)
        normal_committed, normal_capacity = committed - huge_committed, capacity[k] - huge_pool[k]
        if normal_committed > normal_capacity:
            pool = f" besides its {format_kib(huge_pool[k])} huge-page pool" if huge_pool[k] else ""
            warnings_.append(
                f"node {nid} over-committed: its domains can take {format_kib(normal_committed)}, "
                f"it has {format_kib(normal_capacity)} for guests{pool}"
            )
        if huge_committed > huge_pool[k] > 0:
            warnings_.append(
                f"node {nid} over-committed: huge-page guests need {format_kib(huge_committed)}, "
                f"the pool holds {format_kib(huge_pool[k])}"
            )

    # --- free memory against the reserve -----------------------------------------------------
    reserve_total = sum(reserves_kib) + operator_total
    known_free = [f for f in node_free if f is not None]
    free_total = sum(known_free) if len(known_free) == len(node_free) else snap.stats_free_kib
    if free_total is not None and reserve_total and free_total < reserve_total:
        warnings_.append(
            f"host free memory {format_kib(free_total)} is below the reserve {format_kib(reserve_total)} "
            "(host kernel watermarks + operator reserve)"
        )

    # --- domains: kernel need, overhead comparison -------------------------------------------
    guest_cal = _guest_calibration(snap, settings, notes)
    needs: dict[tuple[int, int], int | None] = {}  # (memory, vCPUs) -> kernel need; sizes repeat
    domains: list[CheckDomain] = []
    for dom in snap.domains:
        hv, overhead = overheads.get(dom.name, (hypervisor_name, 0))
        need = None
        if guest_cal is not None and dom.active:
            size = (dom.config.max_memory_kib, dom.config.vcpu_count)
            if size not in needs:
                needs[size] = _kernel_need_kib(guest_cal, *size)
            need = needs[size]
            if need is not None and dom.current_memory_kib < need:
                warnings_.append(
                    f"domain {dom.name!r} is ballooned to {format_kib(dom.current_memory_kib)}, below the "
                    f"{format_kib(need)} its kernel keeps at {format_kib(dom.config.max_memory_kib)} "
                    f"({guest_cal.name})"
                )
        if dom.process is not None and overhead:
            measured = dom.process.host_overhead_kib
            notes.append(
                f"domain {dom.name!r}: measured overhead {format_kib(measured)} "
                f"(RSS {format_kib(dom.process.overhead_rss_kib)} + page tables), "
                f"{hv} predicts {format_kib(overhead)} ({(measured - overhead) / overhead:+.0%})"
            )
        elif dom.process_note:
            notes.append(f"domain {dom.name!r}: overhead not measured: {dom.process_note}")
        domains.append(
            CheckDomain(
                name=dom.name,
                state=dom.state,
                active=dom.active,
                max_memory_kib=dom.config.max_memory_kib,
                current_memory_kib=dom.current_memory_kib,
                vcpus=dom.config.vcpu_count,
                hugepage_kib=dom.config.hugepage_kib,
                numa_mode=dom.config.numa_mode,
                numa_nodeset=dom.config.numa_nodeset,
                node_kib=placed.get(dom.name, {}),
                committed_kib=sum(placed.get(dom.name, {}).values()),
                hypervisor=hv,
                predicted_overhead_kib=overhead,
                measured=dom.process,
                measured_note=dom.process_note,
                balloon=dom.balloon,
                kernel_need_kib=need,
            )
        )

    # --- headroom ----------------------------------------------------------------------------
    vcpu_ratio = host.vcpu_ratio if host is not None else CHECK_DEFAULT_VCPU_RATIO
    vcpus_used = sum(d.config.vcpu_count for d in snap.domains if d.active)
    headroom, binding = _headroom(
        wanted,
        hypervisor,
        node_ids,
        [max(0, v) for v in left],
        [max(0, v) for v in huge_left],
        cpu_count * vcpu_ratio - vcpus_used,
    )
    used = [n.used_kib for n in nodes if n.used_kib is not None]
    return HostCheck(
        uri=snap.uri,
        driver=snap.driver,
        hostname=snap.hostname,
        libvirt_version=snap.libvirt_version,
        memory_kib=sum(node_memory),
        capacity_kib=sum(capacity),
        committed_kib=sum(n.committed_kib for n in nodes),
        used_kib=sum(used) if len(used) == len(nodes) else None,
        free_kib=free_total,
        nodes=tuple(nodes),
        domains=tuple(domains),
        headroom=headroom,
        headroom_binding=binding,
        warnings=tuple(warnings_),
        notes=tuple(notes),
        hypervisor=hypervisor_name,
        host_kernel=host_kernel_name,
        guest_kernel=guest_cal.name if guest_cal is not None else None,
        elapsed_s=snap.elapsed_s,
        capabilities_s=snap.capabilities_s,
    )


def _ids(node_kib: Mapping[int, int]) -> str:
    return ",".join(str(k) for k in sorted(node_kib))


def _domain_hypervisor(dom: live.DomainSnapshot, default: str) -> str:
    """The hypervisor profile of one domain by its type (kvm -> kvm-qemu, qemu -> qemu-tcg)."""
    return CHECK_HYPERVISOR_BY_DOMAIN_TYPE.get(dom.config.domain_type, default)


def _dominant_hypervisor(snap: live.HostSnapshot) -> str:
    """The hypervisor profile that fits most active domains (kvm -> kvm-qemu, qemu -> qemu-tcg)."""
    counts: dict[str, int] = {}
    for d in snap.domains:
        hv = CHECK_HYPERVISOR_BY_DOMAIN_TYPE.get(d.config.domain_type)
        if hv is not None:
            counts[hv] = counts.get(hv, 0) + 1
    if not counts:
        return CHECK_DEFAULT_HYPERVISOR
    return max(sorted(counts), key=lambda hv: counts[hv])


def _memory_source_warnings(snap: live.HostSnapshot) -> list[str]:
    """Cross-check the host's memory sources (recipes §4 gotcha 14)."""
    out: list[str] = []
    figures = {"getInfo": snap.info_memory_kib}
    if snap.nodes:
        figures["NUMA cells"] = sum(n.memory_kib for n in snap.nodes)
    if snap.stats_total_kib is not None:
        figures["getMemoryStats (/proc/meminfo)"] = snap.stats_total_kib
    if len(figures) < 2:
        return out
    low, high = min(figures.values()), max(figures.values())
    if high > 0 and (high - low) / high > CHECK_SOURCES_TOLERANCE:
        listed = ", ".join(f"{k} {format_kib(v)}" for k, v in figures.items())
        out.append(f"memory sources disagree: {listed}")
    for n in snap.nodes:
        if n.stats_total_kib is not None and n.stats_total_kib != n.memory_kib:
            diff = abs(n.stats_total_kib - n.memory_kib) / max(n.memory_kib, 1)
            if diff > CHECK_SOURCES_TOLERANCE:
                out.append(
                    f"node {n.node_id}: capabilities say {format_kib(n.memory_kib)}, "
                    f"getMemoryStats says {format_kib(n.stats_total_kib)}"
                )
    return out


def _host_kernel(
    snap: live.HostSnapshot,
    host: HostSpec | None,
    hypervisor: HypervisorProfile,
    node_memory: list[int],
    cpu_count: int,
    *,
    inside_memtotal_only: bool,
    notes: list[str],
) -> tuple[str | None, list[int], list[int]]:
    """(calibration name, host kernel KiB per node to take off, watermark reserves per node)."""
    zero = [0] * len(node_memory)
    if hypervisor.host_kernel_scope != "node":
        return None, zero, zero
    from planner.kernel.model import predict_host

    cal = host.kernel if host is not None else None
    if cal is None:
        name = CHECK_DEFAULT_HOST_KERNEL.get(snap.arch)
        if name is None:
            notes.append(
                f"no host kernel calibration for {snap.arch}; the host kernel's use is not subtracted"
            )
            return None, zero, zero
        try:
            cal = load_calibration(name)
        except InputError as err:
            notes.append(f"host kernel model unavailable ({err.message}); its own use is not subtracted")
            return None, zero, zero
        running = f" (the host runs {snap.kernel_release})" if snap.kernel_release else ""
        notes.append(f"host kernel model: {name}, assumed{running}; name yours with host.kernel in --host")
    name = cal.name
    cmdline = host.cmdline if host is not None else ""
    pred = predict_host(cal, node_memory, cpu_count, cmdline)
    count = len(node_memory)
    total_memory = max(sum(node_memory), 1)
    reserves = [round(pred.breakdown_kib.get("reserves", 0) * m / total_memory) for m in node_memory]
    if not inside_memtotal_only:
        return name, list(pred.node_kernel_kib), reserves
    terms = list(_INSIDE_MEMTOTAL_TERMS) + (["hash_tables"] if count > 1 else [])
    spread = sum(pred.breakdown_kib.get(t, 0) for t in terms)
    inside = [spread // count + reserves[k] for k in range(count)]
    return name, inside, reserves


def _guest_calibration(snap: live.HostSnapshot, settings: CheckSettings, notes: list[str]) -> Any:
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


def _kernel_need_kib(cal: Any, memory_kib: int, vcpu_count: int) -> int | None:
    """What a guest's kernel keeps at its full size (memmap and hash tables are sized for
    ``<memory>``, whatever the balloon holds): the model's ``kernel_kib``."""
    from planner.kernel.model import GuestSpec, predict

    try:
        spec = GuestSpec(memory_kib=memory_kib, vcpu_count=vcpu_count)
        return predict(cal, spec, out_of_range="ignore").kernel_kib
    except InputError:
        return None


def _bound_nodes(dom: live.DomainSnapshot, index: Mapping[int, int]) -> dict[int, float] | None:
    """Node index -> share of the domain's memory, from ``<memnode>``/``<numatune>``; None
    when the domain is not bound (or bound only to nodes the host does not report)."""
    cfg = dom.config
    shares: dict[int, float] = {}
    cells = cfg.guest_numa_cells_kib
    total = sum(cells)
    bound_cells = {mn.cell_id: mn.nodeset for mn in cfg.memnodes}
    if cells and bound_cells and total:
        for cell_id, cell_kib in enumerate(cells):
            nodeset = bound_cells.get(cell_id, cfg.numa_nodeset)
            known = [index[n] for n in nodeset if n in index]
            if not known:
                return None
            for k in known:
                shares[k] = shares.get(k, 0.0) + cell_kib / total / len(known)
        return shares
    known = [index[n] for n in cfg.numa_nodeset if n in index]
    if not known:
        return None
    return {k: 1 / len(known) for k in known}


def _place(
    dom: live.DomainSnapshot,
    index: Mapping[int, int],
    left: list[int],
    need_kib: int,
    messages: list[str],
) -> tuple[dict[int, float], str]:
    """Node index -> share of the domain, and how it was placed (for the spans warning)."""
    cfg = dom.config
    bound = _bound_nodes(dom, index)
    if bound is not None:
        how = f"{cfg.numa_mode or 'strict'} nodeset {','.join(map(str, cfg.numa_nodeset))}"
        if cfg.memnodes and cfg.guest_numa_cells_kib:
            how = "guest NUMA cells bound to different nodes"
        return bound, how
    if cfg.numa_nodeset:
        messages.append(
            f"domain {dom.name!r} is bound to node(s) {','.join(map(str, cfg.numa_nodeset))}, "
            "which the host does not report; placed as if unbound"
        )
    best = max(range(len(left)), key=lambda k: (left[k], -k))
    if left[best] >= need_kib or len(left) == 1:
        return {best: 1.0}, "placed whole"
    room = [max(0, v) for v in left]
    total = sum(room)
    if total <= 0:
        return {best: 1.0}, "no node has room"
    return {k: v / total for k, v in enumerate(room) if v > 0}, "fits no single node"


def _headroom(
    profiles: Sequence[CheckProfile],
    hypervisor: HypervisorProfile,
    node_ids: Sequence[int],
    left_kib: Sequence[int],
    huge_left_kib: Sequence[int],
    vcpus_left: float,
) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """How many more guests of each profile fit, alone, on what the existing guests leave:
    the solver's packing problem with node capacities reduced by the committed memory."""
    from planner.solver import GuestKind, NodeCapacity, PackingProblem, solve

    counts: dict[str, int] = {}
    binding: dict[str, tuple[str, ...]] = {}
    if not profiles:
        return counts, binding
    nodes = tuple(
        NodeCapacity(nid, {"memory_kib": int(left_kib[k]), "hugepages_kib": int(huge_left_kib[k])})
        for k, nid in enumerate(node_ids)
    )
    for profile in profiles:
        hv = (
            hypervisor
            if profile.hypervisor in (None, hypervisor.name)
            else load_hypervisor_profile(str(profile.hypervisor))
        )
        overhead = hv.host_overhead_kib(profile.memory_kib, profile.vcpu_count)
        demand = {"memory_kib": overhead + (0 if profile.hugepages else profile.memory_kib)}
        if profile.hugepages:
            demand["hugepages_kib"] = profile.memory_kib
        kind = GuestKind(
            name=profile.name,
            node_demand=demand,
            host_demand={"vcpu_count": float(profile.vcpu_count)},
        )
        problem = PackingProblem(
            kinds=(kind,), nodes=nodes, host_capacity={"vcpu_count": max(0.0, float(vcpus_left))}
        )
        plan = solve(problem)
        counts[profile.name] = plan.count(profile.name)
        binding[profile.name] = plan.blocked_by.get(profile.name, ())
    return counts, binding


def _printable(text: str) -> str:
    """A domain name safe to print on a terminal (control characters escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _opt_mib(kib: int | None) -> str:
    return "-" if kib is None else _mib(kib)


def _check_host_text(h: HostCheck) -> list[str]:
    if not h.ok:
        return [f"{h.uri}: FAILED: {h.error}"]
    lines = [
        f"{h.uri}: {h.driver}, libvirt {h.libvirt_version}, host {_printable(h.hostname or '?')}; "
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
    rows = [
        ["domain", "state", "max", "current", "vCPUs", "nodes", "committed", "overhead", "measured", "usable"]
    ]
    for d in h.domains:
        m = d.measured
        rows.append(
            [
                _printable(d.name),
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
    lines += _table(rows, right={2, 3, 4, 6, 7, 8, 9})
    lines.append(
        "  (MiB; overhead = hypervisor profile's prediction, measured = qemu RSS - resident guest RAM "
        "+ page tables; usable = guest MemAvailable from the balloon)"
    )
    if h.headroom:
        lines.append("")
        lines.append("  headroom now (more guests of each profile alone):")
        for name, count in h.headroom.items():
            binds = ", ".join(binding_text(b) for b in h.headroom_binding.get(name, ())) or "-"
            lines.append(f"    {name}: {count} (binds: {binds})")
    for w in h.warnings:
        lines.append(f"  warning: {_printable(w)}")
    for note in h.notes:
        lines.append(f"  note: {_printable(note)}")
    return lines


def _check_text(result: CheckResult) -> str:
    lines: list[str] = []
    for h in result.hosts:
        lines += _check_host_text(h)
        lines.append("")
    failed = sum(not h.ok for h in result.hosts)
    over = sum(h.over_committed for h in result.hosts)
    checked = len(result.hosts) - failed
    lines.append(f"{len(result.hosts)} host(s): {checked} checked, {failed} failed, {over} over-committed")
    return "\n".join(lines)


# === end of planner check =========================================================================
