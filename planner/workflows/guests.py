"""One guest entry of a host file, sized: its RAM (``memory: auto`` found), what its kernel
keeps, what is left for its workload, what it costs the host. ``planner fit`` and
``planner check --host`` size guests the same way, here.
"""

from __future__ import annotations

from planner.capacity.sizing import GuestKernel, smallest_fitting_kib, usable
from planner.errors import InfeasibleError, InputError
from planner.inputs.hostfile import located
from planner.inputs.specs import GuestRequest, HostFile, Origin
from planner.kernel.footprint import boot_footprint_kib
from planner.report.text import count_text
from planner.results import FootprintSource, PerGuest
from planner.units import format_kib


def guest_kernel(guest: GuestRequest) -> GuestKernel:
    """A host-file guest as the kernel model sees it."""
    profile = guest.profile
    return GuestKernel(guest.calibration, guest.vcpu_count, profile.cmdline, profile.machine, guest.workload)


def _field(origin: Origin, host_file: HostFile, index: int, key: str) -> str:
    """``guests[i].key`` when stated in the host file, ``key`` when in the guest's profile."""
    return f"guests[{index}].{key}" if origin.file == host_file.path else key


def _memory_kib(guest: GuestRequest, index: int, host_file: HostFile) -> int:
    """The guest's size: as stated, or for ``memory: auto`` the smallest that fits its workload;
    no larger than a NUMA node."""
    if guest.memory_kib == "auto":
        wl = guest.workload
        assert wl is not None
        found = smallest_fitting_kib(guest_kernel(guest))
        if found is None:
            rng = guest.calibration.calibrated_range
            raise InfeasibleError(
                f"a workload of {format_kib(wl.user_memory_kib)} and {count_text(wl.thread_count, 'thread')} "
                f"fits no size of {guest.calibration.name} from {format_kib(rng.min_memory_kib)} to "
                f"{format_kib(rng.max_memory_kib)}; expected a smaller workload or a wider calibration",
                file=wl.origin.file,
                line=wl.origin.line,
                field=_field(wl.origin, host_file, index, "workload"),
            )
        memory_kib = found
    else:
        memory_kib = guest.memory_kib
    largest_kib = max(host_file.host.node_memory_kib)
    if memory_kib > largest_kib:
        _refuse_small_nodes(host_file, memory_kib)
        origin = guest.memory_origin or guest.origin
        raise InputError(
            f"expected a guest no larger than a NUMA node ({format_kib(largest_kib)}); "
            f"found {format_kib(memory_kib)}",
            file=origin.file,
            line=origin.line,
            field=_field(origin, host_file, index, "memory"),
        )
    return memory_kib


def boot_footprint(guest: GuestRequest, memory_kib: int) -> tuple[int | None, FootprintSource | None]:
    """Guest RAM resident on the host once the guest has booted, and where that figure comes from.

    1. ``"profile"``: the profile's measured ``boot_footprint:``, when the guest has the
       profile's own size and vCPUs (a measurement at one size says nothing about another);
    2. ``"model"``: the kernel calibration's footprint model at this size and vCPU count
       (:func:`planner.kernel.footprint.boot_footprint_kib`, fitted on bootlab captures of
       qemu's resident guest RAM; benchmarks/results/kernel-accuracy.md "Boot footprint");
    3. ``(None, None)``: neither; the expected scenario then counts the full size.
    """
    profile = guest.profile
    own_size = profile.memory_kib == guest.memory_kib and profile.vcpu_count == guest.vcpu_count
    if profile.boot_footprint_kib is not None and own_size:
        return min(profile.boot_footprint_kib, memory_kib), "profile"
    modelled = boot_footprint_kib(guest.calibration, memory_kib, guest.vcpu_count)
    if modelled is not None:
        return modelled, "model"
    return None, None


def _refuse_small_nodes(host_file: HostFile, memory_kib: int) -> None:
    """Blame the host's nodes, not a guest, when no guest of the host file (of those sized before
    their kernel is run: ``memory: auto`` ones are not) fits a node: ``numa_nodes: 1000`` splits
    64 GiB into nodes of 65.5 MiB, smaller than any guest profile shipped."""
    host = host_file.host
    sizes = [g.memory_kib for g in host_file.guests if g.memory_kib != "auto"]
    smallest = min([memory_kib, *(k for k in sizes if isinstance(k, int))])
    largest_kib = max(host.node_memory_kib)
    if smallest <= largest_kib:
        return
    count = len(host.node_memory_kib)
    key = next((k for k in ("node_memory", "numa_nodes") if k in host.key_lines), "memory")
    nodes = f"{count} nodes of {format_kib(largest_kib)}" if count > 1 else "one node"
    nodes += "" if count > 1 else f" of {format_kib(largest_kib)}"
    origin = host.origin_of(key)
    raise InputError(
        f"expected NUMA nodes that can hold a guest; found {nodes}, smaller than every guest "
        f"(the smallest is {format_kib(smallest)})",
        file=origin.file,
        line=origin.line,
        field=f"host.{key}",
    )


def size_guest(guest: GuestRequest, index: int, host_file: HostFile) -> PerGuest:
    """The guest entry ``index`` of ``host_file``, sized and costed.

    Raises
    ------
    InputError
        A size the kernel model refuses, or one larger than a NUMA node.
    InfeasibleError
        A workload that fits no size (``memory: auto``) or not the size given.
    """
    memory_kib = _memory_kib(guest, index, host_file)
    memory_origin = guest.memory_origin or guest.origin
    try:
        at = usable(guest_kernel(guest), memory_kib, "warn")
    except InputError as err:
        raise located(err, memory_origin, _field(memory_origin, host_file, index, "memory")) from None
    wl = guest.workload
    p = at.prediction
    if wl is not None and at.user_available_kib < wl.user_memory_kib:
        hint = smallest_fitting_kib(guest_kernel(guest))
        fix = f"memory: {format_kib(hint)} or memory: auto" if hint else "a smaller workload"
        raise InfeasibleError(
            f"the workload needs {format_kib(wl.user_memory_kib)} but a {format_kib(memory_kib)} "
            f"{guest.calibration.name} guest leaves {format_kib(max(at.user_available_kib, 0))} usable "
            f"(MemAvailable {format_kib(p.mem_available_kib)} minus {format_kib(at.workload_kernel_kib)} for "
            f"{count_text(wl.thread_count, 'thread stack')} and page tables); expected {fix}",
            file=wl.origin.file,
            line=wl.origin.line,
            field=_field(wl.origin, host_file, index, "workload"),
        )
    overhead = guest.hypervisor.host_overhead_kib(memory_kib, guest.vcpu_count)
    footprint_kib, footprint_source = boot_footprint(guest, memory_kib)
    return PerGuest(
        name=guest.name,
        profile=guest.profile.name,
        kernel=guest.calibration.name,
        hypervisor=guest.hypervisor.name,
        guest_memory_kib=memory_kib,
        memory_auto=guest.memory_kib == "auto",
        vcpu_count=guest.vcpu_count,
        hugepages=guest.hugepages,
        host_overhead_kib=overhead,
        host_cost_kib=guest.hypervisor.host_cost_kib(memory_kib, guest.vcpu_count),
        guest_kernel_kib=p.kernel_kib,
        mem_available_kib=p.mem_available_kib,
        workload_user_kib=wl.user_memory_kib if wl else None,
        workload_kernel_kib=at.workload_kernel_kib,
        user_available_kib=at.user_available_kib,
        boot_footprint_kib=footprint_kib,
        boot_footprint_source=footprint_source,
        kernel_breakdown_kib=dict(p.breakdown_kib),
        min_count=guest.min_count,
        max_count=guest.max_count,
        weight=guest.weight,
    )
