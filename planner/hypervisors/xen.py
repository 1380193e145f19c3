"""Xen: per-guest overhead as libxl/``xl`` and xapi (XenServer, XCP-ng) account it; dom0 reserve.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §1.2: xen ``tools/libs/light/libxl_mem.c``
   ``libxl__domain_need_memory_calculate`` (need = target + shadow + extra, rounded up to
   2048 KiB), ``libxl_internal.h`` (``LIBXL_PV_EXTRA_MEMORY 1024``, ``LIBXL_HVM_EXTRA_MEMORY
   2048`` KiB), ``libxl__get_required_paging_memory`` (``4 * (256 * smp_cpus +
   ((type != PV) + !hap) * (maxmem_kb / 1024))`` KiB). Worked: PV 64 MiB -> 66 MiB, HVM
   (HAP) 64 MiB -> 68 MiB. The HVM device-model qemu runs in dom0 and libxl counts none of it.
.. [2] same, §1.3: xen-api ``ocaml/xapi-idl/memory/memory.ml``: ``overhead_mib = extra_internal
   + extra_external + shadow_mib + shim_mib``; ``shadow_mib = max 1 (int (mib_of_pages_used
   (256*vcpus + 2*static_max_mib) * mult))``. Worked: 64/128 MiB, 1 vCPU: HVM 4, PV 3 MiB.
.. [3] same, §1.4: Citrix Hypervisor 8.x docs, control domain memory "1 GiB plus 5% of the total
   physical memory ... up to an initial maximum of 8 GiB"; XenServer 6.0: "Xen hypervisor uses a
   fixed 128 MB".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from planner.hypervisors.common import ceil_div, on_node0, round_up
from planner.units import KIB_PER_MIB, PAGE_KIB

#: pages of 4 KiB per MiB: xapi's ``mib_of_pages_used`` rounds pages up to whole MiB [2]
_PAGES_PER_MIB = KIB_PER_MIB // PAGE_KIB


@dataclass(frozen=True)
class LibxlParams:
    """Parameters of the libxl model (values and sources in ``xen-pv.yaml`` / ``xen-hvm.yaml``)."""

    paging_pages_per_vcpu: int  #: 256 pages (1 MiB) per vCPU [1]
    paging_pages_per_mib: int  #: P2M/shadow pages per MiB of maxmem: PV 0, HVM+HAP 1, shadow 2 [1]
    extra_kib: int  #: LIBXL_PV_EXTRA_MEMORY / LIBXL_HVM_EXTRA_MEMORY [1]
    round_kib: int  #: need is rounded up to this [1]
    device_model_kib: int  #: qemu device model in dom0 per HVM guest (not counted by libxl) [1]
    xen_heap_kib: int  #: the hypervisor itself [3]
    dom0_base_kib: int  #: dom0 memory: base [3]
    dom0_fraction: float  #: dom0 memory: share of host RAM [3]
    dom0_max_kib: int  #: dom0 memory: cap [3]


@dataclass(frozen=True)
class XapiParams:
    """Parameters of the xapi model (values and sources in ``xenserver-*.yaml``)."""

    extra_internal_mib: int  #: [2]
    extra_external_mib: int  #: [2]
    shadow_multiplier: float  #: ``shadow_multiplier_default = 1.0`` [2]
    xen_heap_kib: int  #: [3]
    dom0_base_kib: int  #: [3]
    dom0_fraction: float  #: [3]
    dom0_max_kib: int  #: [3]


def libxl_paging_kib(guest_memory_kib: int, vcpu_count: int, params: LibxlParams) -> int:
    """Shadow/paging memory libxl gives a domain. [KiB]

    ``4 * (256 * vcpus + pages_per_mib * (maxmem_kb / 1024))`` KiB,
    ``libxl__get_required_paging_memory`` [1] (C integer division of maxmem).
    """
    maxmem_mib = guest_memory_kib // KIB_PER_MIB
    return PAGE_KIB * (params.paging_pages_per_vcpu * vcpu_count + params.paging_pages_per_mib * maxmem_mib)


def libxl_need_kib(guest_memory_kib: int, vcpu_count: int, params: LibxlParams) -> int:
    """Host memory ``xl`` needs free to start a domain. [KiB]

    ``libxl__domain_need_memory_calculate`` [1]: target + paging + extra, rounded up to
    ``round_kib`` (2048 KiB). PV 64 MiB, 1 vCPU -> 66 MiB; HVM with HAP -> 68 MiB.
    """
    need = guest_memory_kib + libxl_paging_kib(guest_memory_kib, vcpu_count, params) + params.extra_kib
    return round_up(need, params.round_kib)


def libxl_host_overhead_kib(guest_memory_kib: int, vcpu_count: int, params: LibxlParams) -> int:
    """Per-guest host overhead under libxl: its need beyond guest RAM, plus the dom0 device model. [KiB]"""
    return libxl_need_kib(guest_memory_kib, vcpu_count, params) - guest_memory_kib + params.device_model_kib


def xapi_shadow_mib(static_max_mib: int, vcpu_count: int, multiplier: float) -> int:
    """xapi ``shadow_mib`` [2]: ``max 1 (int (mib_of_pages_used (256*vcpus + 2*static_max) * mult))``."""
    pages = _PAGES_PER_MIB * vcpu_count + 2 * static_max_mib
    return max(1, int(ceil_div(pages, _PAGES_PER_MIB) * multiplier))


def xapi_overhead_mib(static_max_mib: int, vcpu_count: int, params: XapiParams) -> int:
    """xapi ``overhead_mib`` [2] (``shim_mib`` is 0 for HVM and PV). [MiB]

    64 and 128 MiB, 1 vCPU: HVM 4 MiB, PV 3 MiB; 1 GiB: HVM 11, PV 10.
    """
    shadow = xapi_shadow_mib(static_max_mib, vcpu_count, params.shadow_multiplier)
    return params.extra_internal_mib + params.extra_external_mib + shadow


def xapi_host_overhead_kib(guest_memory_kib: int, vcpu_count: int, params: XapiParams) -> int:
    """Per-guest host overhead under xapi: ``overhead_mib`` of the guest's static max. [KiB]"""
    static_max_mib = ceil_div(guest_memory_kib, KIB_PER_MIB)
    return xapi_overhead_mib(static_max_mib, vcpu_count, params) * KIB_PER_MIB


def dom0_kib(host_memory_kib: int, base_kib: int, fraction: float, max_kib: int) -> int:
    """Control-domain memory: ``min(base + fraction * host RAM, max)`` [3]. [KiB]"""
    return min(base_kib + math.ceil(fraction * host_memory_kib), max_kib)


def host_reserve_kib(
    node_memory_kib: Sequence[int], cpu_count: int, params: LibxlParams | XapiParams
) -> tuple[int, ...]:
    """Xen itself and dom0, on node 0 [3] (the same under libxl and xapi). [KiB per node]"""
    reserve = params.xen_heap_kib + dom0_kib(
        sum(node_memory_kib), params.dom0_base_kib, params.dom0_fraction, params.dom0_max_kib
    )
    return on_node0(reserve, len(node_memory_kib))
