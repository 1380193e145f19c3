"""fit's guaranteed and expected counts for a density run's cgroup limit.

A stand-in until host files take capacity-only hosts ("L MiB for guests, no host kernel"):
then ``planner density`` will ask ``fit`` itself. Meanwhile the counts are made here from the
same parts ``fit`` uses: the one demand builder (:func:`planner.capacity.demand.guest_demand`,
:func:`~planner.capacity.demand.alone_count`), the hypervisor profile's per-guest overhead,
and the expected residency rule of ``fit``'s ``resident: expected`` scenario
(``min(RAM, boot footprint + workload + what the workload makes the kernel spend)``,
:func:`planner.workflows.fit._expected_resident_kib`), with the boot footprint from the
kernel model (:func:`planner.kernel.footprint.boot_footprint_kib`).

The cgroup is the whole host: no host kernel, no hypervisor reserve (no libvirtd runs in it:
qemu is started directly), one node, vCPUs not counted (TCG guests share the host's CPUs).
"""

from __future__ import annotations

from planner.capacity.demand import alone_count, guest_demand
from planner.hypervisors import HypervisorProfile
from planner.inputs.specs import GuestProfile
from planner.kernel.calibration import Calibration
from planner.kernel.footprint import boot_footprint_kib
from planner.kernel.model import workload_kernel_kib
from planner.results.density import DensityFit
from planner.units import format_kib

METHOD = (
    "stand-in for fit on a capacity-only host: the cgroup limit is the only capacity (no host "
    "kernel, no hypervisor reserve), one node, vCPUs not counted; demand from "
    "planner.capacity.demand with the hypervisor profile's overhead"
)


def _footprint(
    profile: GuestProfile, calibration: Calibration, memory_kib: int, vcpu_count: int
) -> tuple[int | None, str]:
    """The guest's boot footprint and where it came from: the kernel model, else the profile's
    measured figure when the guest has the profile's size."""
    modelled = boot_footprint_kib(calibration, memory_kib, vcpu_count)
    if modelled is not None:
        return modelled, f"kernel model {calibration.name} (planner.kernel.footprint)"
    if profile.boot_footprint_kib is not None and profile.memory_kib == memory_kib:
        source = profile.sources.get("boot_footprint", "")
        return profile.boot_footprint_kib, f"profile {profile.name}: {source}"
    return None, "none known: the full size counts as resident"


def fit_counts_for_limit(
    profile: GuestProfile,
    calibration: Calibration,
    hypervisor: HypervisorProfile,
    *,
    memory_kib: int,
    vcpu_count: int,
    limit_kib: int,
    workload_user_kib: int = 0,
) -> DensityFit:
    """How many guests of ``memory_kib`` fit in ``limit_kib``: guaranteed (full RAM resident)
    and expected (boot footprint + workload), each with the hypervisor's per-guest overhead.

    Parameters
    ----------
    workload_user_kib
        Memory the guest's workload fills (``--workload-tmpfs``). [KiB]
    """
    overhead_kib = hypervisor.host_overhead_kib(memory_kib, vcpu_count)
    nodes = [{"memory_kib": limit_kib}]
    # vCPUs do not bind here: a capacity no count reaches (one guest per KiB of the limit)
    vcpu_capacity = float(max(limit_kib, 1) * vcpu_count)
    guaranteed = guest_demand(memory_kib, overhead_kib, hugepages=False, page_kib=1)
    footprint_kib, source = _footprint(profile, calibration, memory_kib, vcpu_count)
    workload_kib = (
        workload_user_kib + workload_kernel_kib(calibration, workload_user_kib, 0) if workload_user_kib else 0
    )
    resident_kib = memory_kib if footprint_kib is None else min(memory_kib, footprint_kib + workload_kib)
    expected = guest_demand(memory_kib, overhead_kib, hugepages=False, page_kib=1, resident_kib=resident_kib)
    method = METHOD
    if footprint_kib is not None and footprint_kib + workload_kib > memory_kib:
        method += f"; footprint + workload capped at the guest's {format_kib(memory_kib)}"
    return DensityFit(
        hypervisor=hypervisor.name,
        host_overhead_kib=overhead_kib,
        guaranteed_demand_kib=guaranteed.memory_kib,
        guaranteed_count=alone_count(guaranteed, nodes, vcpu_capacity, vcpu_count),
        boot_footprint_kib=footprint_kib,
        footprint_source=source,
        workload_kib=workload_kib,
        expected_resident_kib=resident_kib,
        expected_demand_kib=expected.memory_kib,
        expected_count=alone_count(expected, nodes, vcpu_capacity, vcpu_count),
        method=method,
    )
