"""Frozen specs: what a host file and its profiles say, validated and resolved.

Made by :mod:`planner.inputs.profiles` and :mod:`planner.inputs.hostfile`; read by the
capacity model and the workflows. Every spec knows where it was read (:class:`Origin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from planner.hypervisors import HypervisorProfile
from planner.kernel.calibration import Calibration


@dataclass(frozen=True)
class Origin:
    """Where a value was read: file and 1-based line."""

    file: str
    line: int | None


@dataclass(frozen=True)
class Workload:
    """Resident user memory and threads an application needs in its guest."""

    user_memory_kib: int
    thread_count: int
    source: str | None
    origin: Origin


@dataclass(frozen=True)
class GuestProfile:
    """A guest profile as read from its file."""

    name: str
    description: str
    kernel: str
    hypervisors: tuple[str, ...]
    memory_kib: int | Literal["auto"]
    vcpu_count: int
    machine: str | None
    cmdline: str
    boot_footprint_kib: int | None
    workload: Workload | None
    sources: Mapping[str, str]
    origin: Origin
    key_lines: Mapping[str, int]

    def origin_of(self, key: str) -> Origin:
        """File and line of one top-level key of the profile."""
        return Origin(self.origin.file, self.key_lines.get(key, self.origin.line))


@dataclass(frozen=True)
class Hugepages:
    """The host's hugepage pool on each node."""

    page_kib: int
    per_node_kib: int


@dataclass(frozen=True)
class HostSpec:
    """The host of a host file, with node memory resolved."""

    node_memory_kib: tuple[int, ...]
    cpu_count: int
    kernel: Calibration | None
    cmdline: str
    hypervisor: HypervisorProfile
    operator_reserve_kib: int
    hypervisor_reserve_kib: int | None
    vcpu_ratio: float
    hugepages: Hugepages | None
    origin: Origin
    #: line of each key under ``host:`` (``operator_reserve``, ``hugepages.per_node`` ...)
    key_lines: Mapping[str, int] = field(default_factory=dict)
    #: a capacity-only host (``capacity:``): ``node_memory_kib`` is what guests and their
    #: hypervisor overhead may take; no host kernel, no hypervisor reserve unless stated
    capacity_only: bool = False

    @property
    def memory_kib(self) -> int:
        return sum(self.node_memory_kib)

    def origin_of(self, key: str) -> Origin:
        """File and line of one key under ``host:`` (dotted below it: ``hugepages.per_node``)."""
        return Origin(self.origin.file, self.key_lines.get(key, self.origin.line))


@dataclass(frozen=True)
class GuestRequest:
    """One entry of a host file's ``guests`` list, overrides applied to its profile."""

    profile: GuestProfile
    calibration: Calibration
    hypervisor: HypervisorProfile
    memory_kib: int | Literal["auto"]
    vcpu_count: int
    workload: Workload | None
    min_count: int
    max_count: int | None
    weight: float
    hugepages: bool
    origin: Origin
    #: where the size was stated: the host file's ``memory:`` override, or the profile's
    memory_origin: Origin | None = None
    #: the entry's ``name:`` (unique in its host file), the profile's name when not given
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.profile.name)


@dataclass(frozen=True)
class Scenario:
    """A named overcommit scenario."""

    name: str
    resident: Literal["full", "expected"]
    ksm_shared_kib: int
    balloon_percent: float
    memory_ratio: float
    #: where ``ksm_shared`` was stated (its bound depends on the guest sizes, checked by ``fit``)
    ksm_shared_origin: Origin | None = None


@dataclass(frozen=True)
class HostFile:
    """A validated host file."""

    path: str
    host: HostSpec
    guests: tuple[GuestRequest, ...]
    objective: Literal["max_guests", "max_weight"]
    scenario: Scenario | None
