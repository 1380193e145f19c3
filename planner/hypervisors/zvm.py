"""IBM z/VM: per-guest CP overhead (DAT tables) and the CP reserve.

References
----------
.. [1] ``reference/overhead-formulas-and-peers.md`` §1.9: z/VM control block ``PGM64``
   (vm.ibm.com/pubs/cp730/PGM64.HTML): ``PGMGBKLN = X'2000'`` = 8 KiB per PGMBK; one PGMBK
   holds 256 page-table entries describing 1 MiB of host virtual storage, so CP spends about
   8 KiB per in-use MiB (0.78 %), only for segments actually referenced.
.. [2] same, "Gaps": the z/VM per-user blocks (VMDBK etc.) and CP's own storage were not found
   in the sources consulted; they are parameters to measure (``CP QUERY FRAMES``,
   ``QUERY SXSPAGES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner.hypervisors.common import ceil_div, on_node0
from planner.units import KIB_PER_MIB


@dataclass(frozen=True)
class ZvmParams:
    """Parameters of the z/VM model (values and sources in ``zvm.yaml``)."""

    pgmbk_kib_per_mib: int  #: 8 KiB PGMBK per MiB in use [1]
    user_block_kib: int  #: per-user CP control blocks (VMDBK ...), unknown [2]
    cp_reserve_kib: int  #: CP nucleus, frame table, free storage; unknown [2]


def host_overhead_kib(guest_memory_kib: int, vcpu_count: int, params: ZvmParams) -> int:
    """CP storage one guest costs beyond its own: ``8 KiB * ceil(MiB in use) + user blocks``. [KiB]

    The guaranteed plan takes every MiB of the guest as in use [1].
    """
    return params.pgmbk_kib_per_mib * ceil_div(guest_memory_kib, KIB_PER_MIB) + params.user_block_kib


def host_reserve_kib(node_memory_kib: Sequence[int], cpu_count: int, params: ZvmParams) -> tuple[int, ...]:
    """CP's own storage [2], on node 0. [KiB per node]"""
    return on_node0(params.cp_reserve_kib, len(node_memory_kib))
