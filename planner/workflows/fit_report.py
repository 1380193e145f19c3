"""What the ``planner fit`` report draws and lists beyond the plan: each guest's size sweep
(usable memory, host cost and guests alone on the host at sizes across its calibration's
range) and the input files with their sha256.
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.capacity.demand import alone_count, guest_demand
from planner.capacity.sizing import GuestKernel, kernel_sweep, sweep_sizes_kib
from planner.inputs.specs import GuestRequest, HostFile
from planner.results import InputFile, PerGuest, PlanResult, SweepPoint
from planner.results.common import input_files


def alone_at(size_kib: int, request: GuestRequest, plan: PlanResult, host_file: HostFile) -> int:
    """Guests of one profile at ``size_kib`` alone on the plan's node capacities, with the same
    demand the plan packs (:func:`planner.capacity.demand.guest_demand`)."""
    pool = host_file.host.hugepages
    demand = guest_demand(
        size_kib,
        request.hypervisor.host_overhead_kib(size_kib, request.vcpu_count),
        hugepages=request.hugepages,
        page_kib=pool.page_kib if pool else 1,
    )
    nodes = [{"memory_kib": n.capacity_kib, "hugepages_kib": n.hugepages_kib} for n in plan.nodes]
    return alone_count(demand, nodes, plan.vcpu_capacity, request.vcpu_count)


def size_sweeps(
    host_file: HostFile, per_guest: Mapping[str, PerGuest], plan: PlanResult
) -> tuple[dict[str, tuple[SweepPoint, ...]], dict[str, int]]:
    """Each guest's size sweep, and how many fit alone at its own size.

    Guests whose kernel, vCPUs, command line, machine and workload cost agree share one sweep
    (the sizes: 40 across the calibrated range up to the largest node, plus theirs).
    """
    requests = {g.name: g for g in host_file.guests}
    largest_node = max(n.memory_kib for n in plan.nodes)
    lines: dict[tuple[object, ...], list[str]] = {}
    for name, pg in per_guest.items():
        r = requests[name]
        key = (pg.kernel, pg.vcpu_count, r.profile.cmdline, r.profile.machine, pg.workload_kernel_kib)
        lines.setdefault(key, []).append(name)
    sweeps: dict[str, tuple[SweepPoint, ...]] = {}
    for names in lines.values():
        first, r = per_guest[names[0]], requests[names[0]]
        rng = r.calibration.calibrated_range
        sizes = sweep_sizes_kib(rng.min_memory_kib, min(rng.max_memory_kib, largest_node))
        sizes = sorted(set(sizes) | {per_guest[n].guest_memory_kib for n in names})
        guest = GuestKernel(r.calibration, first.vcpu_count, r.profile.cmdline, r.profile.machine)
        points = kernel_sweep(guest, sizes)
        for n in names:
            request = requests[n]
            sweeps[n] = tuple(
                SweepPoint(
                    p.memory_kib,
                    p.mem_available_kib - first.workload_kernel_kib,
                    request.hypervisor.host_cost_kib(p.memory_kib, request.vcpu_count),
                    alone_at(p.memory_kib, request, plan, host_file),
                )
                for p in points
            )
    alone = {n: alone_at(pg.guest_memory_kib, requests[n], plan, host_file) for n, pg in per_guest.items()}
    return sweeps, alone


def fit_input_files(host_file: HostFile) -> tuple[InputFile, ...]:
    """The host file, its guest profiles, the hypervisor profiles, the kernel calibrations."""
    files: list[tuple[str, str | None]] = [("host file", host_file.path)]
    hypervisors = {host_file.host.hypervisor.name: host_file.host.hypervisor}
    for r in host_file.guests:
        files.append((f"guest profile {r.profile.name}", r.profile.origin.file))
        hypervisors.setdefault(r.hypervisor.name, r.hypervisor)
    for name, hv in hypervisors.items():
        files.append((f"hypervisor profile {name}", hv.path))
    cals = [r.calibration for r in host_file.guests]
    if host_file.host.kernel is not None:
        cals.append(host_file.host.kernel)
    files += [(f"kernel calibration {cal.name}", cal.path) for cal in cals]
    return input_files(files)
