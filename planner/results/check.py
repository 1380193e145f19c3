"""The result of ``planner check``: per host, its nodes (capacity, committed, used now), its
domains (sizes, placement, overhead predicted and measured), warnings and headroom.

``to_json()`` is what ``planner check --json`` prints; the readable text is
:func:`planner.report.text.check_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.hypervisors import HypervisorProfile
from planner.inputs.specs import GuestProfile
from planner.kernel.calibration import Calibration
from planner.live.records import BalloonStats, ProcessMemory
from planner.results.common import InputFile, whole


@dataclass(frozen=True)
class CheckNode:
    """One NUMA node of a checked host. [KiB]

    ``memory_kib`` is what the node has (the capabilities' cell memory, i.e. the node's
    MemTotal; or the host file's node memory); ``capacity_kib`` what guests may take:
    memory minus the host kernel's own use, the hypervisor's reserve and the operator's
    reserve; ``committed_kib`` what the active domains placed on it can take (their full
    size plus the hypervisor's predicted overhead); ``used_kib`` what the host says is in
    use right now (memory minus free), the real figure beside the planned one.
    """

    node_id: int
    memory_kib: int
    capacity_kib: int
    committed_kib: int
    used_kib: int | None
    free_kib: int | None
    host_kernel_kib: int
    hypervisor_reserve_kib: int
    operator_reserve_kib: int
    hugepages_kib: int  #: huge pages (>= 2 MiB) reserved on the node
    hugepages_committed_kib: int
    domains: tuple[str, ...]

    @property
    def left_kib(self) -> int:
        """Capacity minus committed: room for more guests, negative when over-committed. [KiB]"""
        return self.capacity_kib - self.committed_kib

    @property
    def over_committed(self) -> bool:
        """Guests can take more than the node has: of its ordinary memory (capacity minus the
        huge-page pool), or of the pool."""
        normal_kib = self.committed_kib - self.hugepages_committed_kib
        return (
            normal_kib > self.capacity_kib - self.hugepages_kib
            or self.hugepages_committed_kib > self.hugepages_kib
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.node_id,
            "memory_kib": self.memory_kib,
            "capacity_kib": self.capacity_kib,
            "committed_kib": self.committed_kib,
            "left_kib": self.left_kib,
            "used_kib": self.used_kib,
            "free_kib": self.free_kib,
            "host_kernel_kib": self.host_kernel_kib,
            "hypervisor_reserve_kib": self.hypervisor_reserve_kib,
            "operator_reserve_kib": self.operator_reserve_kib,
            "hugepages_kib": self.hugepages_kib,
            "hugepages_committed_kib": self.hugepages_committed_kib,
            "over_committed": self.over_committed,
            "domains": list(self.domains),
        }


@dataclass(frozen=True)
class CheckDomain:
    """One domain of a checked host: its sizes, where it is placed, what it commits, and
    the hypervisor overhead predicted by the profile beside the one measured from /proc."""

    name: str
    state: str
    active: bool
    max_memory_kib: int
    current_memory_kib: int
    vcpus: int
    hugepage_kib: int | None
    numa_mode: str | None
    numa_nodeset: tuple[int, ...]
    node_kib: Mapping[int, int]  #: node -> KiB committed there (empty when inactive)
    committed_kib: int
    hypervisor: str
    predicted_overhead_kib: int
    measured: ProcessMemory | None
    measured_note: str | None
    balloon: BalloonStats | None
    kernel_need_kib: int | None

    @property
    def used_in_guest_kib(self) -> int | None:
        """What the guest uses by its own account: the balloon driver's ``available`` less
        ``usable`` (MemTotal less MemAvailable, ``virtio_balloon`` stats); None when not reported."""
        b = self.balloon
        if b is None or b.available_kib is None or b.usable_kib is None:
            return None
        return int(b.available_kib - b.usable_kib)

    def to_json(self) -> dict[str, Any]:
        m = self.measured
        b = self.balloon
        return {
            "name": self.name,
            "state": self.state,
            "active": self.active,
            "max_memory_kib": self.max_memory_kib,
            "current_memory_kib": self.current_memory_kib,
            "vcpus": self.vcpus,
            "hugepage_kib": self.hugepage_kib,
            "numa_mode": self.numa_mode,
            "numa_nodeset": list(self.numa_nodeset),
            "nodes": {str(k): v for k, v in sorted(self.node_kib.items())},
            "committed_kib": self.committed_kib,
            "kernel_need_kib": self.kernel_need_kib,
            "overhead": {
                "hypervisor": self.hypervisor,
                "predicted_kib": self.predicted_overhead_kib,
                "measured_kib": m.host_overhead_kib if m else None,
                "measured_rss_kib": m.overhead_rss_kib if m else None,
                "measured_pss_kib": m.overhead_pss_kib if m else None,
                "file_rss_kib": m.file_rss_kib if m else None,
                "page_tables_kib": m.page_tables_kib if m else None,
                "process_rss_kib": m.rss_kib if m else None,
                "process_pss_kib": m.pss_kib if m else None,
                "guest_ram_resident_kib": m.guest_ram_rss_kib if m else None,
                "pid": m.pid if m else None,
                "note": self.measured_note,
            },
            "balloon": None
            if b is None
            else {
                "current_kib": b.current_kib,
                "maximum_kib": b.maximum_kib,
                "available_kib": b.available_kib,
                "usable_kib": b.usable_kib,
                "unused_kib": b.unused_kib,
                "disk_caches_kib": b.disk_caches_kib,
                "rss_kib": b.rss_kib,
                "guest_reported": b.guest_reported,
            },
        }


@dataclass(frozen=True)
class HostCheck:
    """The result for one URI: either ``error`` or the analysis of its snapshot."""

    uri: str
    error: str | None = None
    bad_input: bool = False  #: the URI itself was malformed
    driver: str | None = None
    hostname: str | None = None
    libvirt_version: str | None = None
    memory_kib: int = 0
    cpu_count: int = 0  #: the host's CPUs (libvirt's, or the ``--host`` file's)
    vcpu_capacity: float = 0.0  #: vCPUs its domains may have: CPUs x vCPU ratio (``--host``'s, or 16)
    capacity_kib: int = 0
    committed_kib: int = 0
    used_kib: int | None = None
    free_kib: int | None = None
    nodes: tuple[CheckNode, ...] = ()
    domains: tuple[CheckDomain, ...] = ()
    headroom: Mapping[str, int] = field(default_factory=dict)
    headroom_binding: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    hypervisor: str | None = None
    host_kernel: str | None = None
    #: calibration assumed for the guests' kernels (libvirt does not say which kernel a guest
    #: runs): the domains' ``kernel_need_kib`` and the ballooning warnings come from it
    guest_kernel: str | None = None
    elapsed_s: float = 0.0
    capabilities_s: float = 0.0
    #: what the report lists, not in the JSON: the hypervisor profiles of the host and its
    #: domains, and the kernel calibrations assumed for the host and the guests
    hypervisor_profiles: tuple[HypervisorProfile, ...] = ()
    calibrations: tuple[Calibration, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def over_committed(self) -> bool:
        return any(node.over_committed for node in self.nodes)

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "ok": self.ok,
            "error": self.error,
            "driver": self.driver,
            "hostname": self.hostname,
            "libvirt_version": self.libvirt_version,
            "memory_kib": self.memory_kib,
            "cpu_count": self.cpu_count,
            "vcpu_capacity": whole(self.vcpu_capacity),
            "capacity_kib": self.capacity_kib,
            "committed_kib": self.committed_kib,
            "used_kib": self.used_kib,
            "free_kib": self.free_kib,
            "over_committed": self.over_committed,
            "nodes": [n.to_json() for n in self.nodes],
            "domains": [d.to_json() for d in self.domains],
            "headroom": dict(self.headroom),
            "headroom_binding": {k: list(v) for k, v in self.headroom_binding.items()},
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "hypervisor": self.hypervisor,
            "host_kernel": self.host_kernel,
            "guest_kernel": self.guest_kernel,
            "elapsed_s": round(self.elapsed_s, 3),
            "capabilities_s": round(self.capabilities_s, 3),
        }


@dataclass(frozen=True)
class CheckResult:
    """``planner check``: one :class:`HostCheck` per URI, in the order given."""

    hosts: tuple[HostCheck, ...]
    profiles: tuple[str, ...]  #: every profile with headroom: the host file's, then ``--profile``'s
    host_file: str | None = None  #: the ``--host`` file, as given
    requested_profiles: tuple[str, ...] = ()  #: the ``--profile`` values, as given
    #: each profile with headroom -> the guest profile it was read from (not in the JSON)
    guest_profiles: Mapping[str, GuestProfile] = field(default_factory=dict)
    input_files: tuple[InputFile, ...] = ()  #: the files read, with their sha256 (not in the JSON)

    @property
    def failed(self) -> bool:
        """Some host could not be checked."""
        return any(not h.ok for h in self.hosts)

    @property
    def bad_input(self) -> bool:
        """Some URI was malformed."""
        return any(h.bad_input for h in self.hosts)

    @property
    def over_committed(self) -> bool:
        return any(h.over_committed for h in self.hosts)

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": [h.to_json() for h in self.hosts],
            "profiles": list(self.profiles),
            "host_file": self.host_file,
        }
