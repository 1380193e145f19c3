"""Per-CPU chunk geometry: the unit size, and the memcg map each dynamic chunk carries.

Sources (``mm/percpu.c`` @ v6.1 unless named):

[1] ``pcpu_build_alloc_info()``: ``min_unit_size = max(size_sum, PCPU_MIN_UNIT_SIZE)``,
    ``alloc_size = roundup(min_unit_size, atom_size)``; the units per allocation ``upa``
    start at ``alloc_size / min_unit_size`` (lowered until it divides ``alloc_size`` into
    page-aligned units) and go down while the units left empty stay at most a third of the
    CPUs, keeping the ``upa`` with the fewest allocations; ``unit_size = alloc_size / upa``.
[2] ``atom_size``: ``PMD_SIZE`` (2 MiB) on x86-64 (``arch/x86/kernel/setup_percpu.c
    setup_per_cpu_areas()``), ``PAGE_SIZE`` with the generic ``setup_per_cpu_areas()``
    (s390x).
[3] ``pcpu_alloc_chunk()``: since v5.14 (commit faf65dde844a) every dynamic chunk gets an
    ``obj_cgroups`` vector of ``pcpu_chunk_map_bits(chunk)`` pointers, one per
    ``PCPU_MIN_ALLOC_SIZE`` (4 bytes) of a unit: 8 / 4 = twice the unit size, from
    ``pcpu_mem_zalloc()`` (vmalloc above a page), unless ``cgroup.memory=nokmem``.

Checked against the bootlab logs: ``percpu: Embedded 61 pages/cpu ... u2097152`` with one
possible CPU and ``u524288`` with four (cloud-amd64), ``Embedded 32 pages/cpu ... u131072``
(s390x); ``cgroup.memory=nokmem`` at 128 MiB, 1 vCPU, lowers VmallocUsed by 4104 KiB
(tests/data/bootlab/tune/cloud-amd64/128MiB-1cpu-nokmem.log against -base.log).
"""

from __future__ import annotations

from planner.units import PAGE_KIB

#: PCPU_MIN_UNIT_SIZE: 32 KiB (include/linux/percpu.h)
PCPU_MIN_UNIT_KIB = 32
#: [2] the embedding allocation's atom per architecture [KiB]
PCPU_ATOM_KIB = {"x86_64": 2048, "s390x": PAGE_KIB}
#: [3] obj_cgroups bytes per byte of unit: sizeof(pointer) / PCPU_MIN_ALLOC_SIZE
MEMCG_MAP_BYTES_PER_UNIT_BYTE = 8 // 4


def percpu_unit_kib(arch: str, size_sum_kib: int, possible_cpu_count: int) -> int:
    """The per-CPU unit size for ``possible_cpu_count`` CPUs on one NUMA node [1]. [KiB]

    ``size_sum_kib`` is the first chunk per CPU (static + reserved + dynamic, the
    calibration's ``percpu_kib_per_cpu``).
    """
    cpus = max(possible_cpu_count, 1)
    min_unit_kib = max(-(-size_sum_kib // PAGE_KIB) * PAGE_KIB, PCPU_MIN_UNIT_KIB)
    atom_kib = PCPU_ATOM_KIB.get(arch, PAGE_KIB)
    alloc_kib = -(-min_unit_kib // atom_kib) * atom_kib
    max_upa = alloc_kib // min_unit_kib
    while max_upa > 1 and (alloc_kib % max_upa or (alloc_kib // max_upa) % PAGE_KIB):
        max_upa -= 1
    best_upa, last_allocs = 1, None
    for upa in range(max_upa, 0, -1):
        if alloc_kib % upa or (alloc_kib // upa) % PAGE_KIB:
            continue
        allocs = -(-cpus // upa)
        if allocs * upa - cpus > cpus // 3:
            continue
        if last_allocs is not None and allocs > last_allocs:
            break
        last_allocs, best_upa = allocs, upa
    return alloc_kib // best_upa


def memcg_percpu_map_kib(arch: str, size_sum_kib: int, possible_cpu_count: int) -> int:
    """The ``obj_cgroups`` vector of one dynamic per-CPU chunk [3]: twice the unit size. [KiB]"""
    return MEMCG_MAP_BYTES_PER_UNIT_BYTE * percpu_unit_kib(arch, size_sum_kib, possible_cpu_count)
