"""The result of ``planner tune``: each kernel's command-line candidates, what they save per guest,
and what they add per host (``planner fit``'s guaranteed plan before and after).

``to_json()`` is what ``planner tune --json`` prints; the readable text is
:func:`planner.report.tune_text.tune_text`, the HTML report :mod:`planner.report.tune`.
All quantities KiB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from planner.kernel.calibration import Calibration
from planner.kernel.model import GuestSpec
from planner.kernel.tuning_check import ChangeCheck
from planner.kernel.tuning_results import TuneResult
from planner.results.common import InputFile, whole
from planner.results.fit import PlanResult

#: How a tuned guest is counted on the host (printed with every result, in its JSON too).
HOST_COST_RULE = (
    "A guest costs its host its RAM plus the hypervisor's per-guest overhead, whatever its kernel "
    "keeps inside: a change frees host memory only when the guest's RAM is made smaller. So each "
    "tuned guest is packed at the smallest RAM (whole MiB) that keeps the usable memory it had "
    "(MemAvailable less its workload's kernel cost); a `memory: auto` guest is sized again by fit's "
    "own rule (the smallest 4 MiB step its workload fits), with the tuned command line. A host "
    "kernel change frees what the host kernel no longer keeps on each node. Guests per host: the "
    "guaranteed plan of `planner fit` (full guest RAM resident), before and after."
)


@dataclass(frozen=True)
class GuestCost:
    """One guest entry as a packing costs it on the host, and how many the plan places. [KiB]"""

    name: str
    memory_kib: int
    memory_auto: bool
    cmdline: str
    usable_kib: int  #: MemAvailable less what the workload makes the kernel spend
    host_cost_kib: int  #: guest RAM + hypervisor overhead
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "guest_memory_kib": self.memory_kib,
            "memory_auto": self.memory_auto,
            "cmdline": self.cmdline,
            "usable_kib": self.usable_kib,
            "host_cost_kib": self.host_cost_kib,
            "count": self.count,
        }


@dataclass(frozen=True)
class Packing:
    """One ``planner fit`` guaranteed plan of the host, under one set of command lines."""

    label: str  #: "now", "host kernel tuned", "kvm-cloud-128mib tuned", "all tuned"
    host_cmdline: str
    guests: tuple[GuestCost, ...]
    plan: PlanResult

    @property
    def total_guests(self) -> int:
        return self.plan.total_guests

    @property
    def node_capacity_kib(self) -> tuple[int, ...]:
        """What each node offers guests: RAM less host kernel and reserves."""
        return tuple(n.capacity_kib for n in self.plan.nodes)

    def guest(self, name: str) -> GuestCost:
        return next(g for g in self.guests if g.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "host_cmdline": self.host_cmdline,
            "total_guests": self.total_guests,
            "status": self.plan.status,
            "node_capacity_kib": list(self.node_capacity_kib),
            "binding": list(self.plan.binding),
            "vcpu_used": self.plan.vcpu_used,
            "vcpu_capacity": whole(self.plan.vcpu_capacity),
            "guests": {g.name: g.to_json() for g in self.guests},
        }


@dataclass(frozen=True)
class CandidateGain:
    """One candidate applied alone: the guest's RAM that keeps its usable memory (a host
    kernel: None) and the host it makes."""

    option: str
    guest_memory_kib: int | None
    node_capacity_kib: tuple[int, ...]
    total_guests: int
    status: str = "optimal"  #: the packing's solver status (``time_limit``: a feasible plan, maybe short)


@dataclass(frozen=True)
class Step:
    """One step of the recommendation applied change by change: what this change saves once the
    ones before it are in (changes interact, so the steps add up to the whole, not the
    candidates' own savings)."""

    option: str
    saving_kib: int
    terms_kib: Mapping[str, int]  #: per breakdown term, positive = the kernel keeps less


@dataclass(frozen=True)
class KernelTuning:
    """One kernel tuned: a guest entry's kernel, or the host's own kernel."""

    role: Literal["guest", "host"]
    name: str  #: the guest entry's name, or "host"
    profile: str | None
    calibration: Calibration
    memory_kib: int  #: the guest's RAM as fit sizes it, or the host's RAM
    memory_auto: bool
    vcpu_count: int  #: the guest's vCPUs, or the host's CPUs
    spec: GuestSpec | None  #: what the kernel model predicted (a host: None)
    tuning: TuneResult
    gains: tuple[CandidateGain, ...]  #: one per candidate, in the order of ``tuning.candidates``
    steps: tuple[Step, ...]
    before: Packing
    after: Packing  #: this kernel alone takes its recommendation

    @property
    def guests_added(self) -> int:
        return self.after.total_guests - self.before.total_guests

    def to_json(self) -> dict[str, Any]:
        data = self.tuning.to_json()
        for entry, gain in zip(data["candidates"], self.gains, strict=True):
            entry["guest_memory_kib"] = gain.guest_memory_kib
            entry["node_capacity_kib"] = list(gain.node_capacity_kib)
            entry["guests_per_host"] = gain.total_guests
            entry["guests_added"] = gain.total_guests - self.before.total_guests
            entry["status"] = gain.status
        return {
            "role": self.role,
            "name": self.name,
            "profile": self.profile,
            "memory_kib": self.memory_kib,
            "memory_auto": self.memory_auto,
            "vcpu_count": self.vcpu_count,
            **data,
            "steps": [
                {"option": s.option, "saving_kib": s.saving_kib, "terms_kib": dict(s.terms_kib)}
                for s in self.steps
            ],
            "guests_per_host_before": self.before.total_guests,
            "guests_per_host_after": self.after.total_guests,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
        }


@dataclass(frozen=True)
class BootRow:
    """One boot of a verification, as its manifest lists it."""

    log: str
    outcome: str
    boot_wall_s: float


@dataclass(frozen=True)
class GuestVerification:
    """A guest's tuning booted under qemu: the baseline, each candidate alone, the recommendation."""

    name: str
    out_dir: str
    accel: str
    boots: tuple[BootRow, ...]
    checks: tuple[tuple[str, ChangeCheck], ...]  #: (variant label, measured against predicted)
    failed: tuple[tuple[str, str], ...]  #: (variant label, why it could not be compared)

    @property
    def agrees(self) -> bool:
        return not self.failed and all(check.agrees for _, check in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "out_dir": self.out_dir,
            "accel": self.accel,
            "agrees": self.agrees,
            "boots": [{"log": b.log, "outcome": b.outcome, "boot_wall_s": b.boot_wall_s} for b in self.boots],
            "checks": [{"variant": label} | check.to_json() for label, check in self.checks],
            "failed": [{"variant": label, "reason": why} for label, why in self.failed],
        }


@dataclass(frozen=True)
class HostSummary:
    """The host the guests are packed on: a host file's, ``--host``'s, or the default one."""

    source: Literal["host file", "--host", "default"]
    path: str | None
    description: str  #: where it came from, in words ("the default x86_64 host: ...")
    node_memory_kib: tuple[int, ...]
    cpu_count: int
    vcpu_ratio: float
    hypervisor: str
    host_kernel: str | None
    host_kernel_applied: bool  #: the host kernel is subtracted from each node (a KVM host)
    cmdline: str
    operator_reserve_kib: int

    @property
    def memory_kib(self) -> int:
        return sum(self.node_memory_kib)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "description": self.description,
            "memory_kib": self.memory_kib,
            "node_memory_kib": list(self.node_memory_kib),
            "cpus": self.cpu_count,
            "vcpu_ratio": whole(self.vcpu_ratio),
            "hypervisor": self.hypervisor,
            "host_kernel": self.host_kernel,
            "host_kernel_applied": self.host_kernel_applied,
            "cmdline": self.cmdline,
            "operator_reserve_kib": self.operator_reserve_kib,
        }


@dataclass(frozen=True)
class TuneReport:
    """The answer of ``planner tune``: per kernel (the host's first, then each guest's) the
    candidates and the recommendation; guests per host now and with every recommendation."""

    target: str
    target_kind: Literal["guest profile", "host file"]
    host: HostSummary
    kernels: tuple[KernelTuning, ...]
    host_kernel_skipped: str | None  #: why the host's kernel is not tuned (a host file only)
    baseline: Packing
    combined: Packing  #: every kernel of ``kernels`` takes its recommendation at once
    input_files: tuple[InputFile, ...]
    verification: tuple[GuestVerification, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def guests(self) -> tuple[KernelTuning, ...]:
        return tuple(k for k in self.kernels if k.role == "guest")

    @property
    def host_kernel(self) -> KernelTuning | None:
        return next((k for k in self.kernels if k.role == "host"), None)

    @property
    def verified(self) -> bool:
        """Every verified change agreed (True when nothing was booted)."""
        return all(v.agrees for v in self.verification)

    def to_json(self) -> dict[str, Any]:
        host = self.host_kernel
        return {
            "target": self.target,
            "target_kind": self.target_kind.replace(" ", "_"),
            "host": self.host.to_json(),
            "rule": HOST_COST_RULE,
            "guests_per_host_before": self.baseline.total_guests,
            "guests_per_host_after": self.combined.total_guests,
            "baseline": self.baseline.to_json(),
            "combined": self.combined.to_json(),
            "host_kernel": host.to_json() if host else None,
            "host_kernel_skipped": self.host_kernel_skipped,
            "guests": [k.to_json() for k in self.guests],
            "verification": [v.to_json() for v in self.verification] if self.verification else None,
            "inputs": [{"role": f.role, "path": f.path, "sha256": f.sha256} for f in self.input_files],
            "notes": list(self.notes),
        }
