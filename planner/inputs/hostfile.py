"""Host files (``planner fit host.yaml``, ``planner check --host``): read, validated, resolved.

The rules a host file must follow beyond its schema: node memory that adds up, a hugepage
pool of whole pages that leaves each node something, a host kernel for stacks whose host is
Linux (unless the host is capacity-only: ``capacity:``, what its guests may take, instead of
RAM, with no host kernel, command line or hugepage pool), guest profiles the host's
hypervisor can run, of the host's architecture, no wider than the host, with unique names.
Every error names the host file's line and field, or the profile's or calibration's own
file when the fault is inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planner.errors import InputError
from planner.hypervisors import HypervisorProfile
from planner.inputs.calibrations import list_calibrations, load_calibration
from planner.inputs.profiles import (
    beside,
    guest_hypervisor,
    load_guest_profile,
    load_hypervisor_profile,
    workload_spec,
    wrong_hypervisor_message,
)
from planner.inputs.schema import (
    GuestEntryModel,
    HostFileModel,
    HostModel,
    ScenarioModel,
    validate,
)
from planner.inputs.specs import GuestProfile, GuestRequest, HostFile, HostSpec, Hugepages, Origin, Scenario
from planner.inputs.yaml import LineMap, dotted, line_of, load_yaml, read_text_file, source_name
from planner.kernel.calibration import Calibration
from planner.units import KIB_PER_MIB, check_memory_kib, format_kib, parse_size_kib, split_evenly


@dataclass(frozen=True)
class _Doc:
    """A host file being read: where each key path is, for located errors."""

    file: str
    lines: LineMap

    def origin(self, *loc: str | int) -> Origin:
        return Origin(self.file, line_of(self.lines, loc))

    def error(self, message: str, *loc: str | int) -> InputError:
        """An error at ``loc`` (its line, or its nearest parent's), naming it as the field."""
        return InputError(message, file=self.file, line=line_of(self.lines, loc), field=dotted(loc))


def located(err: InputError, origin: Origin, field: str) -> InputError:
    """``err`` if it already names its file, else the same error at ``origin``, ``field``.

    A profile or calibration named in a host file fails either inside its own file (which the
    error names) or as a name that does not resolve: then the host file's line is the place.
    """
    if err.file is not None:
        return err
    return type(err)(err.message, file=origin.file, line=origin.line, field=field)


def _calibration(name: str, origin: Origin, field: str) -> Calibration:
    """The calibration ``name`` (a relative path is taken from the directory of the file that
    names it, ``origin.file``)."""
    try:
        return load_calibration(beside(name, origin.file))
    except InputError as err:
        raise located(err, origin, field) from None


#: what a capacity-only host cannot also state, and why
_NOT_WITH_CAPACITY = {
    "kernel": "the capacity is what the host kernel leaves for guests",
    "cmdline": "no host kernel is modelled",
    "hugepages": "a hugepage pool lies outside the capacity",
}


def _capacity_form(model: HostModel, doc: _Doc) -> bool:
    """True for a capacity-only host (``capacity:`` or ``node_capacity:``); refuses a host that
    mixes it with RAM (``memory:``, ``node_memory:``) or with a host kernel or hugepage pool."""
    capacity = "capacity" if model.capacity is not None else "node_capacity"
    if model.capacity is None and model.node_capacity is None:
        return False
    for ram in ("memory", "node_memory"):
        if getattr(model, ram) is not None:
            raise doc.error(
                f"expected either {ram} (the host's RAM, its kernel modelled) or {capacity} "
                f"(a capacity-only host); found both",
                "host",
                capacity,
            )
    for key, why in _NOT_WITH_CAPACITY.items():
        value = getattr(model, key)
        if value not in (None, ""):
            found = repr(value) if isinstance(value, str) else "a hugepage pool"
            raise doc.error(
                f"expected no {key} on a capacity-only host ({why}; give memory: instead of "
                f"{capacity}: to model the host); found {found}",
                "host",
                key,
            )
    return True


def _node_memory(model: HostModel, doc: _Doc, capacity_only: bool) -> tuple[int, ...]:
    """Each node's memory: the host's RAM per node, or a capacity-only host's capacity per node."""
    total_key, nodes_key = ("capacity", "node_capacity") if capacity_only else ("memory", "node_memory")
    total: int | None = getattr(model, total_key)
    per_node: list[int] | None = getattr(model, nodes_key)
    if per_node is not None:
        nodes = tuple(per_node)
        if model.numa_nodes is not None and model.numa_nodes != len(nodes):
            raise doc.error(
                f"expected {len(nodes)} (the entries of {nodes_key}); found {model.numa_nodes}",
                "host",
                "numa_nodes",
            )
        if total is not None and total != sum(nodes):
            raise doc.error(
                f"expected the sum of {nodes_key} ({format_kib(sum(nodes))}); found {format_kib(total)}",
                "host",
                total_key,
            )
    else:
        if total is None:
            raise doc.error(
                "required field is missing; expected host.memory (or host.node_memory, or host.capacity "
                "for a capacity-only host)",
                "host",
                "memory",
            )
        count = model.numa_nodes or 1
        if total < count * KIB_PER_MIB:
            raise doc.error(
                f"expected at least 1MiB per NUMA node; found {format_kib(total)} for {count} nodes",
                "host",
                total_key,
            )
        nodes = split_evenly(total, count)
    try:
        check_memory_kib(sum(nodes))
    except InputError as err:
        raise doc.error(err.message, "host", total_key) from None
    return nodes


def _hugepages(model: HostModel, nodes: tuple[int, ...], doc: _Doc) -> Hugepages | None:
    pool = model.hugepages
    if pool is None:
        return None
    page_kib = parse_size_kib(pool.page_size)
    if pool.per_node % page_kib:
        raise doc.error(
            f"expected a multiple of {pool.page_size}; found {format_kib(pool.per_node)}",
            "host",
            "hugepages",
            "per_node",
        )
    if pool.per_node >= min(nodes):
        raise doc.error(
            f"expected less than the smallest node ({format_kib(min(nodes))}); "
            f"found {format_kib(pool.per_node)}",
            "host",
            "hugepages",
            "per_node",
        )
    return Hugepages(page_kib=page_kib, per_node_kib=pool.per_node)


def _host_kernel(
    model: HostModel, hypervisor: HypervisorProfile, doc: _Doc, capacity_only: bool
) -> Calibration | None:
    if model.kernel is not None:
        return _calibration(model.kernel, doc.origin("host", "kernel"), "host.kernel")
    if hypervisor.host_kernel_scope == "node" and not capacity_only:
        names = ", ".join(name for name, _ in list_calibrations()) or "none shipped"
        raise InputError(
            f"required for {hypervisor.name}: {hypervisor.stack.host_kernel_note}; "
            f"expected a kernel calibration (one of: {names})",
            file=doc.file,
            line=line_of(doc.lines, ("host",)),
            field="host.kernel",
        )
    return None


def _host_spec(model: HostModel, doc: _Doc) -> HostSpec:
    capacity_only = _capacity_form(model, doc)
    nodes = _node_memory(model, doc, capacity_only)
    if model.cpus * model.vcpu_ratio < 1:  # not even one vCPU: no guest could ever be placed
        raise doc.error(
            f"expected a ratio that allows at least one vCPU on the host's {model.cpus} CPUs "
            f"(at least {1 / model.cpus:.4g}); found {model.vcpu_ratio:g}",
            "host",
            "vcpu_ratio",
        )
    hugepages = _hugepages(model, nodes, doc)
    try:
        hypervisor = load_hypervisor_profile(model.hypervisor, named_in=doc.file)
    except InputError as err:
        raise located(err, doc.origin("host", "hypervisor"), "host.hypervisor") from None
    return HostSpec(
        node_memory_kib=nodes,
        cpu_count=model.cpus,
        kernel=_host_kernel(model, hypervisor, doc, capacity_only),
        cmdline=model.cmdline,
        hypervisor=hypervisor,
        operator_reserve_kib=model.operator_reserve or 0,
        # on a capacity-only host only the part of the reserve charged inside it counts
        # (planner.capacity.nodes.node_budget): libvirtd, dom0 ... lie outside
        hypervisor_reserve_kib=model.hypervisor_reserve,
        capacity_only=capacity_only,
        vcpu_ratio=model.vcpu_ratio,
        hugepages=hugepages,
        origin=doc.origin("host"),
        key_lines={dotted(k[1:]): v for k, v in doc.lines.items() if len(k) > 1 and k[0] == "host"},
    )


def _guest_vcpus(entry: GuestEntryModel, index: int, profile: GuestProfile, host: HostSpec, doc: _Doc) -> int:
    """The guest's vCPUs, no more than the host's CPUs: Nova's VCPU inventory has max_unit =
    the host's CPUs and placement refuses a request above it (overhead-formulas-and-peers.md
    §1.7), so a guest wider than its host is not planned."""
    vcpu_count = entry.vcpus if entry.vcpus is not None else profile.vcpu_count
    if vcpu_count > host.cpu_count:
        key = "vcpus" if entry.vcpus is not None else "profile"
        hint = "" if entry.vcpus is not None else f" in profile {profile.name!r} (override them with vcpus:)"
        raise doc.error(
            f"expected at most the host's {host.cpu_count} CPUs; found {vcpu_count} vCPUs{hint}",
            "guests",
            index,
            key,
        )
    return vcpu_count


def _guest_request(entry: GuestEntryModel, index: int, host: HostSpec, doc: _Doc) -> GuestRequest:
    try:
        profile = load_guest_profile(entry.profile, named_in=doc.file)
    except InputError as err:
        raise located(err, doc.origin("guests", index, "profile"), f"guests[{index}].profile") from None
    under = guest_hypervisor(profile, host.hypervisor)
    if under is None:
        raise doc.error(wrong_hypervisor_message(profile, host.hypervisor), "guests", index, "profile")
    calibration = _calibration(profile.kernel, profile.origin_of("kernel"), "kernel")
    if entry.max is not None and entry.max < entry.min:
        raise doc.error(f"expected max >= min ({entry.min}); found {entry.max}", "guests", index, "max")
    vcpu_count = _guest_vcpus(entry, index, profile, host, doc)
    workload = profile.workload
    if entry.workload is not None:
        workload = workload_spec(entry.workload, doc.file, line_of(doc.lines, ("guests", index, "workload")))
    memory = entry.memory if entry.memory is not None else profile.memory_kib
    if memory == "auto" and workload is None:
        raise doc.error("memory: auto needs a workload to size the guest for", "guests", index, "memory")
    return GuestRequest(
        profile=profile,
        calibration=calibration,
        hypervisor=under,
        memory_kib=memory,
        vcpu_count=vcpu_count,
        workload=workload,
        min_count=entry.min,
        max_count=entry.max,
        weight=entry.weight,
        hugepages=entry.hugepages,
        origin=doc.origin("guests", index),
        memory_origin=doc.origin("guests", index, "memory")
        if entry.memory is not None
        else profile.origin_of("memory"),
        name=entry.name or profile.name,
    )


def _check_guests(model: HostFileModel, host: HostSpec, guests: tuple[GuestRequest, ...], doc: _Doc) -> None:
    """Guests of the host's architecture (when its kernel is modelled), each name once."""
    kernel = host.kernel
    if kernel is not None and host.hypervisor.host_kernel_scope == "node":
        for i, guest in enumerate(guests):
            if guest.calibration.arch != kernel.arch:
                raise doc.error(
                    f"profile {guest.profile.name!r} is an {guest.calibration.arch} guest; "
                    f"expected one of the host's architecture ({kernel.arch}, kernel {kernel.name})",
                    "guests",
                    i,
                    "profile",
                )
    names = [g.name for g in guests]
    for i, name in enumerate(names):
        if name in names[:i]:
            key = "name" if model.guests[i].name is not None else "profile"
            first = names.index(name)
            raise doc.error(
                f"expected each guest name once; found {name!r} again (first in guests[{first}]): "
                f"merge the entries, or give this one a name of its own (e.g. name: {name}-2)",
                "guests",
                i,
                key,
            )


def _scenario(model: ScenarioModel | None, doc: _Doc) -> Scenario | None:
    if model is None:
        return None
    return Scenario(
        model.name,
        model.resident,
        model.ksm_shared or 0,
        model.balloon_percent,
        model.memory_ratio,
        doc.origin("scenario", "ksm_shared"),
    )


def load_host_file(path: str | Path) -> HostFile:
    """Read and validate a host file (``-``: standard input, named ``<stdin>``, whose relative
    profile paths are taken from the working directory); guest profiles are loaded and checked too."""
    file = source_name(path)
    data, lines = load_yaml(read_text_file(path, "host file"), file)
    return host_file_from_data(data, file, lines)


def host_file_from_data(data: object, file: str, lines: LineMap | None = None) -> HostFile:
    """A host file given as data (what its YAML holds), validated like a file; ``file`` names
    it in errors (and relative profile paths are taken from its directory)."""
    lines = lines if lines is not None else {}
    doc = _Doc(file, lines)
    model: HostFileModel = validate(HostFileModel, data, lines, file)
    host = _host_spec(model.host, doc)
    guests = tuple(_guest_request(entry, i, host, doc) for i, entry in enumerate(model.guests))
    _check_guests(model, host, guests, doc)
    return HostFile(
        path=file,
        host=host,
        guests=guests,
        objective=model.objective,
        scenario=_scenario(model.scenario, doc),
    )
