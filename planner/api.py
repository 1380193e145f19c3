"""Library entry points behind the CLI: each is one call that returns a result with ``to_json()``.

``fit(host_path)``: host file -> guest sizes (kernel model) -> per-guest host cost
(hypervisor model) -> host capacity per node (host kernel model, reserves) ->
integer packing (solver) -> :class:`FitResult`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.config import GuestRequest, HostFile, Origin, Scenario, load_host_file
from planner.errors import InfeasibleError, InputError
from planner.units import KIB_PER_MIB, format_kib

#: Kernel stack per thread on x86-64 and s390x since Linux 3.15 (``THREAD_SIZE`` = 16 KiB;
#: DESIGN.md "The kernel model"; arch/x86/include/asm/page_64_types.h @ v6.1).
KERNEL_STACK_KIB = 16
#: One 8-byte page-table entry per 4 KiB page: page tables = resident memory / 512 (x86-64 and
#: s390x 4-level tables; upper levels are below 0.2 % of that and left out).
PAGE_TABLE_RAM_DIVISOR = 512
#: Step of the search for ``memory: auto`` sizes. [KiB]
AUTO_STEP_KIB = 4 * KIB_PER_MIB


def workload_kernel_kib(user_memory_kib: int, thread_count: int) -> int:
    """What a workload makes its guest kernel spend: thread stacks and page tables. [KiB]

    ``thread_count * 16 KiB + ceil(user_memory_kib / 512)`` (DESIGN.md "Usable by the
    application"; the socket-buffer term is workload-specific and left to ``user_memory``).
    """
    return thread_count * KERNEL_STACK_KIB + -(-user_memory_kib // PAGE_TABLE_RAM_DIVISOR)


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerGuest:
    """One guest of a profile: its size, what its kernel keeps, what it costs the host. [KiB]"""

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
            "vcpu_capacity": self.vcpu_capacity,
            "resident_kib": dict(self.resident_kib),
            "memory_ratio": self.memory_ratio,
        }


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
        g = self.guaranteed
        return {
            "host_file": self.host_file,
            "hypervisor": self.hypervisor,
            "host_kernel": self.host_kernel,
            "host_kernel_applied": self.host_kernel_applied,
            "host_memory_kib": self.host_memory_kib,
            "cpus": self.cpu_count,
            "vcpu_ratio": self.vcpu_ratio,
            "objective": self.objective,
            "status": g.status,
            "gap": g.gap if math.isfinite(g.gap) else None,
            "total_guests": g.total_guests,
            "guests": dict(g.guests),
            "nodes": [n.to_json() for n in g.nodes],
            "binding": list(g.binding),
            "blocked_by": {k: list(v) for k, v in g.blocked_by.items()},
            "vcpu_used": g.vcpu_used,
            "vcpu_capacity": g.vcpu_capacity,
            "per_guest": {k: v.to_json() for k, v in self.per_guest.items()},
            "scenario": self.scenario.to_json() if self.scenario else None,
            "hypervisor_parameters": {k: dict(v) for k, v in self.hypervisor_parameters.items()},
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """A readable report: guests per profile and node, where each MiB goes, what binds."""
        return _text(self)


# --- fit ------------------------------------------------------------------------------------------
def _located(err: InputError, origin: Origin, field_name: str) -> InputError:
    if err.file is not None:
        return err
    return type(err)(err.message, file=origin.file, line=origin.line, field=field_name)


def _usable(guest: GuestRequest, memory_kib: int, out_of_range: str) -> tuple[Any, int, int]:
    """(prediction, workload kernel KiB, user-available KiB) at one size."""
    from planner.kernel.model import GuestSpec, predict

    spec = GuestSpec(
        memory_kib=memory_kib,
        vcpu_count=guest.vcpu_count,
        cmdline=guest.profile.cmdline,
        machine=guest.profile.machine,
    )
    p = predict(guest.calibration, spec, out_of_range=out_of_range)  # type: ignore[arg-type]
    wl = guest.workload
    wk = workload_kernel_kib(wl.user_memory_kib, wl.thread_count) if wl else 0
    return p, wk, p.mem_available_kib - wk


def _smallest_fitting_kib(guest: GuestRequest) -> int | None:
    """Smallest size (a multiple of 4 MiB in the calibrated range) whose usable memory covers the workload."""
    assert guest.workload is not None
    rng = guest.calibration.calibrated_range
    start = max(rng.min_memory_kib, guest.workload.user_memory_kib)
    start = -(-start // AUTO_STEP_KIB) * AUTO_STEP_KIB
    for memory_kib in range(start, rng.max_memory_kib + 1, AUTO_STEP_KIB):
        try:
            _, _, usable = _usable(guest, memory_kib, "ignore")
        except InfeasibleError:
            continue
        if usable >= guest.workload.user_memory_kib:
            return memory_kib
    return None


def _per_guest(guest: GuestRequest, index: int, host_file: HostFile) -> PerGuest:
    entry_origin = guest.origin
    memory_auto = guest.memory_kib == "auto"
    wl = guest.workload
    if memory_auto:
        assert wl is not None
        found = _smallest_fitting_kib(guest)
        if found is None:
            rng = guest.calibration.calibrated_range
            raise InfeasibleError(
                f"a workload of {format_kib(wl.user_memory_kib)} and {wl.thread_count} threads fits "
                f"no size of {guest.calibration.name} from {format_kib(rng.min_memory_kib)} to "
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
            file=entry_origin.file,
            line=entry_origin.line,
            field=f"guests[{index}].memory",
        )
    try:
        p, wk, usable = _usable(guest, memory_kib, "warn")
    except InputError as err:
        raise _located(err, entry_origin, f"guests[{index}].memory") from None
    if wl is not None and usable < wl.user_memory_kib:
        hint = _smallest_fitting_kib(guest)
        fix = f"memory: {format_kib(hint)} or memory: auto" if hint else "a smaller workload"
        raise InfeasibleError(
            f"the workload needs {format_kib(wl.user_memory_kib)} but a {format_kib(memory_kib)} "
            f"{guest.calibration.name} guest leaves {format_kib(max(usable, 0))} usable (MemAvailable "
            f"{format_kib(p.mem_available_kib)} minus {format_kib(wk)} for {wl.thread_count} thread stacks "
            f"and page tables); expected {fix}",
            file=wl.origin.file,
            line=wl.origin.line,
            field=f"guests[{index}].workload" if wl.origin.file == host_file.path else "workload",
        )
    hypervisor = guest.hypervisor
    overhead = hypervisor.host_overhead_kib(memory_kib, guest.vcpu_count)
    return PerGuest(
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
            raise _located(err, host.origin, "host.kernel") from None
        kernel_kib = tuple(h.node_kernel_kib)
    elif host.kernel is not None:
        notes.append(
            f"host kernel {host.kernel.name} not subtracted: {host.hypervisor.stack.host_kernel_note}"
        )
    if host.hypervisor_reserve_kib is not None:
        hyp = tuple(host.hypervisor_reserve_kib if k == 0 else 0 for k in range(count))
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
            notes.append(
                f"{pg.profile}: no measured boot footprint; scenario counts its full size as resident"
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
        demand = {"memory_kib": pg.host_overhead_kib + (0 if pg.hugepages else resident_kib[pg.profile])}
        if pg.hugepages:
            demand["hugepages_kib"] = -(-pg.guest_memory_kib // page_kib) * page_kib
        kinds.append(
            GuestKind(
                name=pg.profile,
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
    )


def _raise_infeasible(host_file: HostFile, plan: PlanResult) -> None:
    first = next((i for i, g in enumerate(host_file.guests) if g.min_count > 0), 0)
    origin = host_file.guests[first].origin
    mins = ", ".join(f"{g.min_count} {g.profile.name}" for g in host_file.guests if g.min_count)
    raise InfeasibleError(
        f"the minimum counts ({mins}) do not fit on this host ({', '.join(plan.binding)} overflow); "
        "expected smaller minimums or a bigger host",
        file=origin.file,
        line=origin.line,
        field=f"guests[{first}].min",
    )


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
    per_guest = {g.profile.name: _per_guest(g, i, host_file) for i, g in enumerate(host_file.guests)}
    for g in host_file.guests:
        if g.hugepages and host.hugepages is None:
            raise InputError(
                "hugepages: true needs a hugepage pool; expected host.hugepages (page_size, per_node)",
                file=g.origin.file,
                line=g.origin.line,
                field=f"guests[{host_file.guests.index(g)}].hugepages",
            )
    capacity = _capacity(host_file, notes)
    for k in range(len(host.node_memory_kib)):
        if capacity.memory_capacity_kib(k) <= 0:
            notes.append(f"node {k}: nothing left for guests after the host kernel and reserves")
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
    lines = [
        f"{plan.name}: {plan.total_guests} guests ({plan.status}"
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
    if plan.memory_ratio != 1.0:
        rows.append([f"= capacity (x{plan.memory_ratio:g})", *[_mib(n.capacity_kib) for n in nodes], ""])
    else:
        row("= capacity", [n.capacity_kib for n in nodes])
    row("  guest RAM", [n.guest_memory_kib for n in nodes])
    row("  per-guest overhead", [n.guest_overhead_kib for n in nodes])
    if any(n.hugepages_kib for n in nodes):
        row("  guest RAM in hugepages", [n.hugepages_used_kib for n in nodes])
    row("  free", [n.free_kib for n in nodes])
    lines += _table(rows)
    lines.append("")
    lines.append("  binds: " + (", ".join(plan.binding) or "nothing (every profile reached its max)"))
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
                pg.profile,
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
    from planner.config import describe_profiles
    from planner.kernel.calibration import list_calibrations

    return ProfileListing(
        kernels=dict(list_calibrations()),
        hypervisors=dict(describe_profiles("hypervisors")),
        guests=dict(describe_profiles("guests")),
    )


def host_schema() -> dict[str, Any]:
    """JSON schema of a host file."""
    from planner.config import host_file_schema

    return host_file_schema()
