"""The result of ``planner fit``: per-guest figures, the guaranteed plan, a scenario's plan, and
what the report draws (size sweeps, alone counts, the parsed host file, the input files).

``to_json()`` is what ``planner fit --json`` prints; the readable text is
:func:`planner.report.text.fit_text`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from planner.hypervisors import ParameterKind, ParameterValue
from planner.inputs.specs import HostFile
from planner.results.common import InputFile, whole

#: where a guest's boot footprint comes from: its profile's measured ``boot_footprint:``, or the
#: kernel calibration's footprint model (:func:`planner.kernel.footprint.boot_footprint_kib`)
FootprintSource = Literal["profile", "model"]


@dataclass(frozen=True)
class HypervisorParameter:
    """One parameter of the host's hypervisor profile, with how it is known and its source."""

    value: ParameterValue
    kind: ParameterKind
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "kind": self.kind, "source": self.source}


@dataclass(frozen=True)
class PerGuest:
    """One guest of a profile: its size, what its kernel keeps, what it costs the host. [KiB]"""

    name: str  #: the host file entry's ``name:`` (default: the profile's name); the key everywhere
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
    boot_footprint_source: FootprintSource | None  #: None: no footprint (full size counted)
    kernel_breakdown_kib: Mapping[str, int]
    min_count: int
    max_count: int | None
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "guest_memory_kib": self.guest_memory_kib,
            "host_overhead_kib": self.host_overhead_kib,
            "host_cost_kib": self.host_cost_kib,
            "guest_kernel_kib": self.guest_kernel_kib,
            "user_available_kib": self.user_available_kib,
            "mem_available_kib": self.mem_available_kib,
            "workload_user_kib": self.workload_user_kib,
            "workload_kernel_kib": self.workload_kernel_kib,
            "boot_footprint_kib": self.boot_footprint_kib,
            "boot_footprint_source": self.boot_footprint_source,
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
    total_weight: float = 0.0  #: sum of count x weight over the profiles (objective max_weight)

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
            "vcpu_capacity": whole(self.vcpu_capacity),
            "total_weight": whole(self.total_weight),
            "resident_kib": dict(self.resident_kib),
            "memory_ratio": self.memory_ratio,
        }


@dataclass(frozen=True)
class SweepPoint:
    """One guest size of a profile's size sweep. [KiB]"""

    memory_kib: int
    user_available_kib: int  #: MemAvailable there, minus what the workload makes the kernel spend
    host_cost_kib: int  #: the size plus the hypervisor's per-guest overhead at it
    alone_count: int  #: guests of this profile alone on the plan's nodes at this size


#: keys of a plan's JSON that describe the plan itself, not the host's guaranteed figures
_PLAN_ONLY_KEYS = ("name", "resident_kib", "memory_ratio")


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
    hypervisor_parameters: Mapping[str, HypervisorParameter]
    #: what the report draws and lists, not in the JSON: the host file as read, each guest's
    #: size sweep and alone count (at its size), the files read with their sha256
    spec: HostFile
    sweeps: Mapping[str, tuple[SweepPoint, ...]]
    alone_counts: Mapping[str, int]
    input_files: tuple[InputFile, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: a capacity-only host: ``host_memory_kib`` is what guests may take, no host kernel modelled
    capacity_only: bool = False

    @property
    def status(self) -> str:
        return self.guaranteed.status

    def to_json(self) -> dict[str, Any]:
        # the guaranteed plan's figures at the top level (status, total_guests, nodes, ...)
        plan = {k: v for k, v in self.guaranteed.to_json().items() if k not in _PLAN_ONLY_KEYS}
        return {
            "host_file": self.host_file,
            "hypervisor": self.hypervisor,
            "host_kernel": self.host_kernel,
            "host_kernel_applied": self.host_kernel_applied,
            "host_memory_kib": self.host_memory_kib,
            "capacity_only": self.capacity_only,
            "cpus": self.cpu_count,
            "vcpu_ratio": self.vcpu_ratio,
            "objective": self.objective,
            **plan,
            "per_guest": {k: v.to_json() for k, v in self.per_guest.items()},
            "scenario": self.scenario.to_json() if self.scenario else None,
            "hypervisor_parameters": {k: v.to_json() for k, v in self.hypervisor_parameters.items()},
            "notes": list(self.notes),
        }
