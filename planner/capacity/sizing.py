"""A guest's own kernel across sizes: what it leaves usable, the smallest size a workload fits.

Usable by the application = ``MemAvailable`` at idle (the kernel model,
:func:`planner.kernel.model.predict`) minus what the workload makes the kernel spend
(thread stacks and page tables, :func:`planner.kernel.model.workload_kernel_kib`), as
DESIGN.md "Usable by the application" defines it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from planner.errors import InfeasibleError, InputError
from planner.hypervisors.common import round_up
from planner.inputs.specs import Workload
from planner.kernel.calibration import Calibration
from planner.kernel.model import GuestSpec, OutOfRange, Prediction, predict, workload_kernel_kib
from planner.units import KIB_PER_MIB

#: Step of the search for ``memory: auto`` sizes. [KiB]
AUTO_STEP_KIB = 4 * KIB_PER_MIB


@dataclass(frozen=True)
class GuestKernel:
    """A guest as the kernel model sees it: its kernel build, vCPUs, command line, machine
    type, and the workload it runs."""

    calibration: Calibration
    vcpu_count: int
    cmdline: str = ""
    machine: str | None = None
    workload: Workload | None = None

    def spec(self, memory_kib: int) -> GuestSpec:
        """What the kernel model predicts for this guest at ``memory_kib``."""
        return GuestSpec(
            memory_kib=memory_kib, vcpu_count=self.vcpu_count, cmdline=self.cmdline, machine=self.machine
        )


@dataclass(frozen=True)
class Usable:
    """A guest at one size: the kernel model's prediction and what is left for the workload. [KiB]"""

    prediction: Prediction
    workload_kernel_kib: int  #: what the workload makes the kernel spend
    user_available_kib: int  #: MemAvailable minus that


def usable(guest: GuestKernel, memory_kib: int, out_of_range: OutOfRange) -> Usable:
    """The guest at ``memory_kib``: prediction, workload kernel cost, user-available memory."""
    p = predict(guest.calibration, guest.spec(memory_kib), out_of_range=out_of_range)
    wl = guest.workload
    wk = workload_kernel_kib(guest.calibration, wl.user_memory_kib, wl.thread_count) if wl else 0
    return Usable(p, wk, p.mem_available_kib - wk)


def smallest_fitting_kib(guest: GuestKernel) -> int | None:
    """Smallest size (a multiple of 4 MiB in the calibrated range) whose usable memory covers
    the workload (``memory: auto``); None when no size does."""
    assert guest.workload is not None
    rng = guest.calibration.calibrated_range
    start = round_up(max(rng.min_memory_kib, guest.workload.user_memory_kib), AUTO_STEP_KIB)
    for memory_kib in range(start, rng.max_memory_kib + 1, AUTO_STEP_KIB):
        try:
            left = usable(guest, memory_kib, "ignore").user_available_kib
        except InfeasibleError:
            continue
        if left >= guest.workload.user_memory_kib:
            return memory_kib
    return None


# --- size sweeps ----------------------------------------------------------------------------------
def sweep_sizes_kib(
    low_kib: int, high_kib: int, chosen_kib: int | None = None, points: int = 40
) -> list[int]:
    """Guest sizes from ``low_kib`` to ``high_kib``, evenly spaced on a log scale, whole MiB,
    plus the chosen size. [KiB]"""
    low = max(low_kib, KIB_PER_MIB)
    high = max(high_kib, low)
    sizes = {low, high}
    if high > low:
        ratio = (high / low) ** (1 / (points - 1))
        sizes |= {round(low * ratio**i / KIB_PER_MIB) * KIB_PER_MIB for i in range(points)}
    if chosen_kib is not None:
        sizes.add(chosen_kib)
    return sorted(s for s in sizes if low <= s <= high or s == chosen_kib)


@dataclass(frozen=True)
class SizePoint:
    """The kernel model at one guest size of a sweep. [KiB]"""

    memory_kib: int
    mem_available_kib: int
    kernel_kib: int


def kernel_sweep(guest: GuestKernel, sizes_kib: Iterable[int]) -> list[SizePoint]:
    """The kernel model at each size, outside the calibrated range too (sizes the kernel
    cannot boot in are left out)."""
    out = []
    for memory_kib in sizes_kib:
        try:
            p = predict(guest.calibration, guest.spec(memory_kib), out_of_range="ignore")
        except (InfeasibleError, InputError):
            continue
        out.append(SizePoint(memory_kib, p.mem_available_kib, p.kernel_kib))
    return out
