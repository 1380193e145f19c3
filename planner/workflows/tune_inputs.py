"""What ``planner tune`` reads: its TARGET (a guest profile or a host file), the host a lone guest
profile is packed on (``--host`` or the default host of its architecture), and the tuned copies
of a host file that ``planner fit`` packs.

Default host [rule]: a guest profile alone is packed on the host of a shipped example of its
architecture, under the profile's first hypervisor: x86-64, the host of
``examples/kvm-two-nodes.yaml`` (64 GiB in two NUMA nodes, 32 CPUs x 16 vCPUs, 2 GiB operator
reserve, host kernel ``debian12-amd64``); s390x, the LPAR of ``examples/s390x-kvm-lpar.yaml``
(16 GiB, one node, 4 IFLs x 64 vCPUs, 512 MiB, host kernel ``debian12-s390x``). The host
kernel is subtracted only where the stack's host kernel manages the RAM (KVM), as in fit.
An operator who runs ``planner tune PROFILE`` wants the kernel's candidates first; guests per
host scale with the host, so the figure is printed with the host it was computed on and
``--host host.yaml`` gives their own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner.errors import InputError
from planner.inputs.calibrations import load_calibration
from planner.inputs.hostfile import load_host_file, located
from planner.inputs.profiles import (
    beside,
    guest_hypervisor,
    is_path_name,
    list_profile_names,
    load_guest_profile,
    load_hypervisor_profile,
    wrong_hypervisor_message,
)
from planner.inputs.specs import GuestProfile, GuestRequest, HostFile, HostSpec, Origin
from planner.inputs.yaml import load_yaml, read_text_file
from planner.kernel.calibration import Calibration
from planner.units import KIB_PER_GIB, KIB_PER_MIB


@dataclass(frozen=True)
class DefaultHost:
    """The host a guest profile is packed on without ``--host``."""

    node_memory_kib: tuple[int, ...]
    cpu_count: int
    vcpu_ratio: float
    operator_reserve_kib: int
    kernel: str  #: the host kernel's calibration (subtracted on a KVM host)
    example: str  #: the shipped example whose host this is


#: architecture -> default host ([rule] in the module docstring)
DEFAULT_HOSTS = {
    "x86_64": DefaultHost(
        (32 * KIB_PER_GIB, 32 * KIB_PER_GIB),
        32,
        16.0,
        2 * KIB_PER_GIB,
        "debian12-amd64",
        "kvm-two-nodes.yaml",
    ),
    "s390x": DefaultHost(
        (16 * KIB_PER_GIB,), 4, 64.0, 512 * KIB_PER_MIB, "debian12-s390x", "s390x-kvm-lpar.yaml"
    ),
}

DEFAULT_HOST_PATH = "(default host)"


def read_target(target: str) -> GuestProfile | HostFile:
    """A shipped guest profile's name, or a YAML path: a host file (it has ``host:``) or a guest
    profile.

    Raises
    ------
    InputError
        An unknown name, a missing file, or a file that is neither.
    """
    if not is_path_name(target) and not Path(target).exists():
        if target not in list_profile_names("guests"):
            known = ", ".join(list_profile_names("guests"))
            raise InputError(
                f"expected a guest profile (one of: {known}) or a host file (a YAML path); found {target!r}",
                field="TARGET",
            )
        return load_guest_profile(target)
    path = Path(target)
    if not path.is_file():
        state = "the directory" if path.is_dir() else "no file"
        raise InputError(
            f"expected a guest profile or a host file (YAML); found {state} {target!r}", field="TARGET"
        )
    data, _ = load_yaml(read_text_file(path, "guest profile or host file"), str(path))
    if isinstance(data, dict) and "host" in data:
        return load_host_file(path)
    return load_guest_profile(str(path))


def _calibration(profile: GuestProfile) -> Calibration:
    origin = profile.origin_of("kernel")
    try:
        return load_calibration(beside(profile.kernel, origin.file))
    except InputError as err:
        raise located(err, origin, "kernel") from None


def _default_host(profile: GuestProfile, calibration: Calibration) -> HostSpec:
    default = DEFAULT_HOSTS.get(calibration.arch)
    if default is None:
        raise InputError(
            f"no default host for {calibration.arch} guests; expected --host host.yaml", field="--host"
        )
    hypervisor = load_hypervisor_profile(profile.hypervisors[0], named_in=profile.origin.file)
    kernel = load_calibration(default.kernel) if hypervisor.host_kernel_scope == "node" else None
    return HostSpec(
        node_memory_kib=default.node_memory_kib,
        cpu_count=default.cpu_count,
        kernel=kernel,
        cmdline="",
        hypervisor=hypervisor,
        operator_reserve_kib=default.operator_reserve_kib,
        hypervisor_reserve_kib=None,
        vcpu_ratio=default.vcpu_ratio,
        hugepages=None,
        origin=Origin(DEFAULT_HOST_PATH, None),
    )


def lone_guest_host(
    profile: GuestProfile, host_path: Path | None
) -> tuple[HostFile, Literal["--host", "default"]]:
    """A host file of one entry, ``profile`` (no bounds), on ``--host``'s host or the default
    one; and where the host came from (``--host`` or ``default``).

    Raises
    ------
    InputError
        A host whose hypervisor cannot run the profile, of another architecture (KVM), or
        with fewer CPUs than the profile's vCPUs.
    """
    calibration = _calibration(profile)
    if host_path is not None:
        host = load_host_file(host_path).host
        path = str(host_path)
    else:
        host = _default_host(profile, calibration)
        path = DEFAULT_HOST_PATH
    under = guest_hypervisor(profile, host.hypervisor)
    if under is None:
        raise InputError(wrong_hypervisor_message(profile, host.hypervisor), file=path, field="--host")
    modelled = host.kernel is not None and host.hypervisor.host_kernel_scope == "node"
    if modelled and host.kernel is not None and host.kernel.arch != calibration.arch:
        raise InputError(
            f"expected a host of the guest's architecture ({calibration.arch}); found an "
            f"{host.kernel.arch} host (kernel {host.kernel.name})",
            file=path,
            field="--host",
        )
    if profile.vcpu_count > host.cpu_count:
        raise InputError(
            f"expected a host with at least the profile's {profile.vcpu_count} vCPUs; "
            f"found {host.cpu_count} CPUs",
            file=path,
            field="--host",
        )
    request = GuestRequest(
        profile=profile,
        calibration=calibration,
        hypervisor=under,
        memory_kib=profile.memory_kib,
        vcpu_count=profile.vcpu_count,
        workload=profile.workload,
        min_count=0,
        max_count=None,
        weight=1.0,
        hugepages=False,
        origin=profile.origin,
        memory_origin=profile.origin_of("memory"),
    )
    source: Literal["--host", "default"] = "--host" if host_path is not None else "default"
    return HostFile(path, host, (request,), "max_guests", None), source


# --- tuned copies ---------------------------------------------------------------------------------
#: a guest's RAM in a tuned copy: a size, or fit's ``memory: auto``
Memory = int | Literal["auto"]


def with_guests(host_file: HostFile, tuned: dict[str, tuple[str, Memory]]) -> HostFile:
    """``host_file`` with the guest entries named in ``tuned`` given (command line, RAM)."""
    guests = []
    for g in host_file.guests:
        if g.name in tuned:
            cmdline, memory = tuned[g.name]
            profile = dataclasses.replace(g.profile, cmdline=cmdline)
            g = dataclasses.replace(g, profile=profile, memory_kib=memory)
        guests.append(g)
    return dataclasses.replace(host_file, guests=tuple(guests))


def with_host_cmdline(host_file: HostFile, cmdline: str) -> HostFile:
    """``host_file`` with the host kernel booted with ``cmdline``."""
    return dataclasses.replace(host_file, host=dataclasses.replace(host_file.host, cmdline=cmdline))
