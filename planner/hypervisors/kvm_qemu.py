"""KVM/qemu: per-guest host overhead of the qemu process, measured.

References
----------
.. [1] ``reference/libvirt-recipes.md`` §3 "Host-side overhead of the qemu process": qemu
   started by libvirt 9.0 (qemu 7.2, TCG, 1 vCPU, idle): overhead RSS 94.2 MiB (PSS 80.6)
   flat from 72 to 512 MiB guests; +2.4 MiB per extra vCPU; of the 94 MiB, 40-46 MiB is the
   TCG translation cache, so "expect roughly 50 MiB RSS for a KVM guest" (an estimate);
   libvirtd 32.7 -> 33.7 MiB RSS, about 0.25 MiB per guest; "~13-23 MiB qemu binary and
   libraries, shared between qemu processes" (file-backed RSS: 23 MiB under libvirt).
.. [2] ``reference/overhead-formulas-and-peers.md`` §1.6 oVirt ``VmOverheadCalculatorImpl``
   ``pageTable (x86) = vmRam / 512``; §1.1 KubeVirt ``GetMemoryOverhead`` step 1, the same
   RAM/512 for page tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner.errors import InputError
from planner.hypervisors.common import ceil_div, on_node0


@dataclass(frozen=True)
class KvmQemuParams:
    """Parameters of the KVM/qemu overhead model (values and sources in the YAML profile)."""

    process_kib: int  #: qemu process memory beyond guest RAM, 1 vCPU, less shared_file_kib [1]
    per_extra_vcpu_kib: int  #: per vCPU beyond the first [1]
    page_table_ram_divisor: int  #: host page tables = guest RAM / this [2]
    per_guest_daemon_kib: int  #: libvirtd growth per guest [1]
    daemon_kib: int  #: libvirtd itself, once per host [1]
    #: qemu's file-backed pages (binary, libraries), resident once per host [1] [3]; 0 (a
    #: profile without it): counted per guest inside ``process_kib``
    shared_file_kib: int = 0

    def __post_init__(self) -> None:
        if self.page_table_ram_divisor < 1:
            raise InputError(
                f"expected a whole number >= 1; found {self.page_table_ram_divisor}",
                field="page_table_ram_divisor",
            )


def host_overhead_kib(guest_memory_kib: int, vcpu_count: int, params: KvmQemuParams) -> int:
    """Host memory one KVM/qemu guest costs beyond its own RAM. [KiB]

    ``process_kib + per_extra_vcpu_kib * (vcpu_count - 1) + ceil(guest_memory_kib /
    page_table_ram_divisor) + per_guest_daemon_kib``: the qemu process overhead RSS and
    its vCPU growth measured in [1], page tables for the guest RAM as in [2], and libvirtd's
    growth per guest [1].

    Parameters
    ----------
    guest_memory_kib
        Configured guest RAM. [KiB]
    vcpu_count
        Guest vCPUs.
    params
        Model parameters.
    """
    return (
        params.process_kib
        + params.per_extra_vcpu_kib * max(0, vcpu_count - 1)
        + ceil_div(guest_memory_kib, params.page_table_ram_divisor)
        + params.per_guest_daemon_kib
    )


def host_reserve_kib(
    node_memory_kib: Sequence[int], cpu_count: int, params: KvmQemuParams
) -> tuple[int, ...]:
    """libvirtd's own RSS [1] and qemu's file-backed pages, once per host [3], on node 0.
    [KiB per node]"""
    return on_node0(params.daemon_kib + params.shared_file_kib, len(node_memory_kib))


def capacity_reserve_kib(params: KvmQemuParams) -> int:
    """The part of the reserve a capacity-only host (a memory cgroup holding the qemu
    processes) pays: qemu's file-backed pages, charged to the cgroup whose qemu read them
    first [3], once. libvirtd runs outside it. [KiB]"""
    return params.shared_file_kib
