"""The result of ``planner density``: guests booted in a memory-capped cgroup, beside fit's
guaranteed and expected counts for the same cap.

Not imported by :mod:`planner.results` itself, so that the other commands do not load the
boot lab (import it from here).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from planner.bootlab.density import STOP_REASONS, DensityRun, GuestBoot, IdleLab


@dataclass(frozen=True)
class DensityFit:
    """fit's counts for a capacity-only host of the cgroup's limit (no host kernel; of the
    hypervisor's reserve only qemu's shared file pages; ``planner.workflows.fit.fit_capacity``).
    [KiB]

    ``guaranteed``: every guest's full RAM resident plus the hypervisor's per-guest overhead;
    ``expected``: its boot footprint plus its workload (capped at its RAM) plus that overhead.
    """

    hypervisor: str  #: the hypervisor profile of the overhead (qemu-tcg, kvm-qemu)
    host_overhead_kib: int
    guaranteed_demand_kib: int
    guaranteed_count: int
    boot_footprint_kib: int | None  #: guest RAM resident after boot; None: none known
    footprint_source: str | None  #: "profile" (measured), "model" (kernel calibration), None
    workload_kib: int  #: the workload's memory and what it makes the guest kernel spend
    expected_resident_kib: int
    expected_demand_kib: int
    expected_count: int
    notes: tuple[str, ...] = ()
    #: the hypervisor's reserve inside the limit, once (kvm-qemu: qemu's shared file pages)
    shared_kib: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"notes": list(self.notes)}


@dataclass(frozen=True)
class MeasuredCost:
    """What each guest cost at the last count that held, as means over those guests. [KiB]"""

    count: int
    cgroup_kib: float  #: the cgroup's usage / count
    rss_kib: float | None  #: qemu VmRSS
    guest_ram_kib: float | None  #: Rss of the guest-RAM mapping (the guest's resident RAM)
    file_rss_kib: float | None = None  #: qemu RssFile (binary and libraries)

    @property
    def beyond_guest_ram_kib(self) -> float | None:
        """qemu's RSS beyond the guest's RAM: the measured per-guest overhead (RSS basis)."""
        if self.rss_kib is None or self.guest_ram_kib is None:
            return None
        return self.rss_kib - self.guest_ram_kib


def _mean(values: list[int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known and len(known) == len(values) else None


def _guest_json(g: GuestBoot) -> dict[str, Any]:
    return asdict(g) | {"up_at_end": g.up_at_end}


@dataclass(frozen=True)
class DensityResult:
    """What ``planner density`` measured and what fit predicts for the same limit."""

    profile: str
    kernel: str  #: the profile's kernel calibration
    memory_kib: int  #: each guest's RAM
    vcpu_count: int
    tmpfs_kib: int  #: data each guest writes to tmpfs before IDLE-READY
    lab: IdleLab
    qemu_argv: tuple[str, ...]  #: every guest's qemu command (before the cgroup wrapper)
    run: DensityRun
    fit: DensityFit
    logs_dir: str | None  #: where the console logs were kept (None: removed)

    @property
    def booted(self) -> int:
        """Guests up at the end of the hold."""
        return self.run.survivors

    @property
    def per_guest_cost_kib(self) -> float | None:
        """The cgroup's usage at the last count that held, per guest. [KiB]"""
        usage, count = self.run.stable_usage_kib, self.run.stable_count
        return usage / count if usage is not None and count else None

    @property
    def measured(self) -> MeasuredCost | None:
        """Per-guest means at the last count that held; None if no guest came up."""
        stable = [g for g in self.run.guests if g.usage_after_kib is not None and not g.restart]
        cost = self.per_guest_cost_kib
        if not stable or cost is None:
            return None
        return MeasuredCost(
            count=len(stable),
            cgroup_kib=cost,
            rss_kib=_mean([g.rss_kib for g in stable]),
            guest_ram_kib=_mean([g.guest_ram_resident_kib for g in stable]),
            file_rss_kib=_mean([g.file_rss_kib for g in stable]),
        )

    @property
    def marginal_costs_kib(self) -> tuple[int, ...]:
        """Growth of the cgroup's usage with each guest that came up before the stop (the first:
        its usage). [KiB]"""
        usage = [
            g.usage_after_kib for g in self.run.guests if g.usage_after_kib is not None and not g.restart
        ]
        return tuple(b - a for a, b in zip([0, *usage], usage, strict=False))

    @property
    def stop_reason_text(self) -> str:
        """Why guests stopped being added, in words."""
        return STOP_REASONS[self.run.stop_reason]

    @property
    def guaranteed_holds(self) -> bool:
        """fit's guaranteed count is no more than the guests that stayed up (the goal)."""
        return self.fit.guaranteed_count <= self.booted

    @property
    def oom_observed(self) -> bool:
        return self.run.oom_kills > 0

    def to_json(self) -> dict[str, Any]:
        lab = self.lab
        run = self.run
        return {
            "profile": self.profile,
            "kernel": self.kernel,
            "memory_kib": self.memory_kib,
            "vcpu_count": self.vcpu_count,
            "tmpfs_kib": self.tmpfs_kib,
            "limit_kib": run.limit_kib,
            "booted": self.booted,
            "guaranteed": self.fit.guaranteed_count,
            "expected": self.fit.expected_count,
            "guaranteed_holds": self.guaranteed_holds,
            "expected_matches": self.fit.expected_count == self.booted,
            "per_guest_cost_kib": self.per_guest_cost_kib,
            "marginal_costs_kib": list(self.marginal_costs_kib),
            "measured": None
            if self.measured is None
            else asdict(self.measured) | {"beyond_guest_ram_kib": self.measured.beyond_guest_ram_kib},
            "fit": self.fit.to_json(),
            "run": {
                **{k: v for k, v in asdict(run).items() if k != "guests"},
                "stop_reason_text": self.stop_reason_text,
                "survivors": run.survivors,
                "stable_count": run.stable_count,
                "stable_usage_kib": run.stable_usage_kib,
                "restarts": run.restarts,
                "oom_observed": self.oom_observed,
                "guests": [_guest_json(g) for g in run.guests],
            },
            "lab": {
                "arch": lab.arch,
                "kernel": lab.kernel.to_json(),
                "initrd": str(lab.initrd),
                "initrd_sha256": lab.initrd_sha256,
                "qemu": lab.qemu,
                "qemu_version": lab.qemu_version,
                "machine": lab.machine,
                "accel": lab.accel,
                "accel_reason": lab.accel_reason,
                "cmdline": lab.cmdline,
            },
            "qemu_argv": list(self.qemu_argv),
            "logs_dir": self.logs_dir,
        }
