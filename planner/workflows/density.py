"""``planner density``: boot real guests of a profile in a memory-capped cgroup until the OOM
killer strikes, hold, count the survivors, beside fit's guaranteed and expected counts.

:func:`density_request` checks the options before anything boots; :func:`run_density_profile`
resolves the profile (its kernel calibration -> the Debian kernel package to boot, its size,
vCPUs, machine and command line), computes fit's counts for the limit (:func:`fit_counts`,
a capacity-only host), and runs the boots (:mod:`planner.bootlab.density`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner.bootlab.boots import terminate_as_interrupt
from planner.bootlab.density import (
    DensityEvent,
    DensitySettings,
    guest_argv,
    prepare_idle_lab,
    run_density,
)
from planner.bootlab.fetch import make_dir
from planner.bootlab.tune import kernel_package
from planner.capacity.sizing import GuestKernel, smallest_fitting_kib, usable
from planner.errors import InfeasibleError, InputError
from planner.evidence.meminfo import parse_meminfo
from planner.hypervisors import HypervisorProfile
from planner.inputs.calibrations import load_calibration
from planner.inputs.profiles import load_guest_profile, load_hypervisor_profile
from planner.inputs.specs import GuestProfile
from planner.kernel.calibration import Calibration
from planner.kernel.model import workload_kernel_kib
from planner.results.density import DensityFit, DensityResult
from planner.units import KIB_PER_MIB, format_kib, parse_size_kib
from planner.workflows.fit import fit_capacity

#: the largest --limit allowed, as a share of the host's MemAvailable: the cgroup must run out
#: of memory, not the host (its OOM killer would pick any process on the machine)
MAX_LIMIT_SHARE = 0.75
#: the hypervisor profile of the per-guest overhead under each accelerator
HYPERVISOR_FOR_ACCEL = {"tcg": "qemu-tcg", "kvm": "kvm-qemu"}

Accel = Literal["auto", "tcg", "kvm"]


@dataclass(frozen=True)
class DensityRequest:
    """What ``planner density`` was asked to do, checked."""

    profile: str
    limit_kib: int
    memory_kib: int | None  #: each guest's RAM; None: the profile's
    hold_s: float
    tmpfs_kib: int
    max_guests: int
    accel: Accel
    timeout_s: float
    output: Path | None  #: keep the console logs here (None: a temporary directory)


def host_mem_available_kib(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The host's ``MemAvailable``, None where the kernel does not report it."""
    return parse_meminfo(meminfo.read_text(), str(meminfo)).get("MemAvailable")


def density_request(
    profile: str,
    *,
    limit: str,
    memory: str | None = None,
    hold_s: float = 60.0,
    workload_tmpfs: str | None = None,
    max_guests: int = 64,
    accel: str = "auto",
    timeout_s: float = 300.0,
    output: Path | None = None,
) -> DensityRequest:
    """The options of ``planner density``, checked (sizes parsed; the limit no larger than
    :data:`MAX_LIMIT_SHARE` of the host's MemAvailable)."""
    if accel not in ("auto", "tcg", "kvm"):
        raise InputError(f"expected auto, tcg or kvm; found {accel!r}", field="--accel")
    limit_kib = parse_size_kib(limit, field="--limit")
    tmpfs_kib = 0 if workload_tmpfs is None else parse_size_kib(workload_tmpfs, field="--workload-tmpfs")
    if tmpfs_kib % KIB_PER_MIB:
        raise InputError(f"expected whole MiB; found {format_kib(tmpfs_kib)}", field="--workload-tmpfs")
    if limit_kib < 64 * KIB_PER_MIB:
        raise InputError(f"expected at least 64MiB; found {format_kib(limit_kib)}", field="--limit")
    available = host_mem_available_kib()
    if available is not None and limit_kib > MAX_LIMIT_SHARE * available:
        raise InputError(
            f"expected at most {format_kib(int(MAX_LIMIT_SHARE * available))} ({MAX_LIMIT_SHARE:.0%} of the "
            f"host's MemAvailable, so the cgroup and not the host runs out); found {format_kib(limit_kib)}",
            field="--limit",
        )
    for value, name in ((hold_s, "--hold"), (timeout_s, "--timeout")):
        if value < 0 or (name == "--timeout" and value == 0):
            raise InputError(f"expected a positive number of seconds; found {value:g}", field=name)
    if max_guests < 1:
        raise InputError(f"expected at least 1; found {max_guests}", field="--max-guests")
    memory_kib = None if memory is None else parse_size_kib(memory, field="--memory")
    if memory_kib is not None and memory_kib % KIB_PER_MIB:
        raise InputError(f"expected whole MiB; found {format_kib(memory_kib)}", field="--memory")
    return DensityRequest(
        profile=profile,
        limit_kib=limit_kib,
        memory_kib=memory_kib,
        hold_s=hold_s,
        tmpfs_kib=tmpfs_kib,
        max_guests=max_guests,
        accel=accel,  # type: ignore[arg-type]  # checked above
        timeout_s=timeout_s,
        output=output,
    )


def _guest_memory_kib(profile: GuestProfile, request: DensityRequest) -> int:
    """``--memory``, else the profile's size (``memory: auto``: the smallest its workload fits)."""
    if request.memory_kib is not None:
        return request.memory_kib
    if profile.memory_kib != "auto":
        return profile.memory_kib
    calibration = load_calibration(profile.kernel)
    guest = GuestKernel(calibration, profile.vcpu_count, profile.cmdline, profile.machine, profile.workload)
    found = smallest_fitting_kib(guest)
    if found is None:
        raise InfeasibleError(
            f"profile {profile.name}: its workload fits no size of {calibration.name}; expected --memory",
            field="--memory",
        )
    return found


def _check_tmpfs_fits(
    profile: GuestProfile, calibration: Calibration, memory_kib: int, tmpfs_kib: int
) -> None:
    """Refuse tmpfs data the guest has no room for (the kernel model's MemAvailable less the
    page tables the data needs, :func:`planner.capacity.sizing.usable`): the guest would fail
    to write it, or its OOM killer would kill /init and panic it."""
    if not tmpfs_kib:
        return
    guest = GuestKernel(calibration, profile.vcpu_count, profile.cmdline, profile.machine)
    room_kib = usable(guest, memory_kib, "ignore").prediction.mem_available_kib
    room_kib -= workload_kernel_kib(calibration, tmpfs_kib, 0)
    if tmpfs_kib > room_kib:
        raise InputError(
            f"expected at most {format_kib(max(room_kib, 0))}, what a {format_kib(memory_kib)} "
            f"{calibration.name} guest leaves usable; found {format_kib(tmpfs_kib)}",
            field="--workload-tmpfs",
        )


def _hypervisor(profile: GuestProfile, accel: str) -> HypervisorProfile:
    """The hypervisor profile whose per-guest overhead applies to a qemu under ``accel``."""
    name = HYPERVISOR_FOR_ACCEL[accel]
    if not any(load_hypervisor_profile(h).model == "kvm-qemu" for h in profile.hypervisors):
        raise InputError(
            f"profile {profile.name!r} runs under {', '.join(profile.hypervisors)}; expected a profile for "
            "KVM/qemu (planner density boots guests under qemu)",
            field="PROFILE",
        )
    return load_hypervisor_profile(name)


def run_density_profile(
    request: DensityRequest, progress: Callable[[DensityEvent], None] | None = None
) -> DensityResult:
    """Boot guests of the request's profile in a cgroup capped at its limit; fit's counts beside.

    Raises
    ------
    InputError
        An unknown profile, a profile not for KVM/qemu, a size the kernel cannot boot.
    planner.bootlab.cgroup.CgroupUnavailableError
        No memory cgroup (v2 or v1) can be made here.
    """
    profile = load_guest_profile(request.profile)
    calibration = load_calibration(profile.kernel)
    memory_kib = _guest_memory_kib(profile, request)
    smallest_kib = calibration.min_boot_memory_kib
    if smallest_kib is not None and memory_kib < smallest_kib:
        raise InputError(
            f"expected at least {format_kib(smallest_kib)}, the smallest size "
            f"{calibration.name} boots in; found {format_kib(memory_kib)}",
            field="--memory",
        )
    _check_tmpfs_fits(profile, calibration, memory_kib, request.tmpfs_kib)
    _hypervisor(profile, "tcg")  # refuses a profile for another stack before anything boots
    with terminate_as_interrupt():  # from the KVM probe boot on, SIGTERM/SIGHUP kill every qemu
        return _boot(request, profile, calibration, memory_kib, progress)


def _boot(
    request: DensityRequest,
    profile: GuestProfile,
    calibration: Calibration,
    memory_kib: int,
    progress: Callable[[DensityEvent], None] | None,
) -> DensityResult:
    """Prepare the lab (kernel, idle initramfs, accelerator), compute fit's counts, boot."""
    lab = prepare_idle_lab(
        kernel_package(calibration), accel=request.accel, machine=profile.machine, cmdline=profile.cmdline
    )
    hypervisor = _hypervisor(profile, lab.accel)
    fit = fit_counts(request, profile, hypervisor, memory_kib)
    settings = DensitySettings(
        memory_kib=memory_kib, vcpu_count=profile.vcpu_count, limit_kib=request.limit_kib,
        tmpfs_mib=request.tmpfs_kib // KIB_PER_MIB, hold_s=request.hold_s, max_guests=request.max_guests,
        boot_timeout_s=request.timeout_s,
    )  # fmt: skip
    if request.output is not None:
        make_dir(request.output, field="--output")
        run = run_density(lab, settings, request.output, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="planner-density-") as tmp:
            run = run_density(lab, settings, Path(tmp), progress)
    return DensityResult(
        profile=profile.name,
        kernel=calibration.name,
        memory_kib=memory_kib,
        vcpu_count=profile.vcpu_count,
        tmpfs_kib=request.tmpfs_kib,
        lab=lab,
        qemu_argv=tuple(guest_argv(lab, settings)),
        run=run,
        fit=fit,
        logs_dir=str(request.output) if request.output is not None else None,
    )


def fit_counts(
    request: DensityRequest, profile: GuestProfile, hypervisor: HypervisorProfile, memory_kib: int
) -> DensityFit:
    """fit's guaranteed and expected counts for the run: the profile's guests, at the size and
    with the tmpfs workload they boot with, on a capacity-only host of the cgroup's limit
    (:func:`planner.workflows.fit.fit_capacity`: no host kernel, of the hypervisor's reserve
    only what the cgroup is charged (qemu's shared file pages, once), each guest's overhead
    from ``hypervisor``, vCPUs never bind)."""
    result = fit_capacity(
        request.profile, request.limit_kib, hypervisor=hypervisor.name, memory_kib=memory_kib,
        vcpu_count=profile.vcpu_count, workload_user_kib=request.tmpfs_kib or None,
    )  # fmt: skip
    pg = next(iter(result.per_guest.values()))
    expected = result.scenario
    assert expected is not None  # fit_capacity always plans the expected scenario
    resident_kib = expected.resident_kib[pg.name]
    notes = list(result.notes)
    if profile.workload is not None and not request.tmpfs_kib:
        notes.append(
            f"the profile's workload ({format_kib(profile.workload.user_memory_kib)}) counts in fit's "
            "expected count, but the idle guests do not run it: --workload-tmpfs runs one of a size"
        )
    return DensityFit(
        hypervisor=result.hypervisor,
        host_overhead_kib=pg.host_overhead_kib,
        guaranteed_demand_kib=pg.guest_memory_kib + pg.host_overhead_kib,
        guaranteed_count=result.guaranteed.total_guests,
        boot_footprint_kib=pg.boot_footprint_kib,
        footprint_source=pg.boot_footprint_source,
        workload_kib=(pg.workload_user_kib or 0) + pg.workload_kernel_kib,
        expected_resident_kib=resident_kib,
        expected_demand_kib=resident_kib + pg.host_overhead_kib,
        expected_count=expected.total_guests,
        notes=tuple(notes),
        shared_kib=sum(n.hypervisor_reserve_kib for n in result.guaranteed.nodes),
    )


def interrupted_message(output: Path | None) -> str:
    """What an interrupted run leaves: nothing running, and the logs if they were kept."""
    kept = f"; the console logs are in {output}" if output is not None else ""
    return f"interrupted; every qemu killed and the cgroup removed{kept}"
