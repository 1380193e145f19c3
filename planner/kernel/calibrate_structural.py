"""Calibration constants read straight from the logs, and the build's configuration.

Per log (reference kernel-memory-facts.md §8): ``percpu: Embedded N pages/cpu``
(``mm/percpu.c pcpu_embed_first_chunk()`` @ v6.1), ``NODE_DATA(N) allocated`` (``arch/x86/mm/numa.c
alloc_node_data()``), the ``Freeing ... memory`` lines after the ``Memory:`` line (``free_initmem()``,
``free_initrd_mem()``, ``alternative_instructions()``), the THP mode; the hash-table rules from
the release (``mm/mm_init.c calc_nr_kernel_pages()`` from 6.10 on); and for a 2.6-era ``Memory:``
line the 2.6.18 rules (``arch/x86_64/mm/init.c mem_init()`` @ v2.6.18).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from planner.kernel.calibrate_samples import ARCH_DEFAULTS, Fit, Sample, freed_kib
from planner.kernel.layout import nr_kernel_pages
from planner.kernel.reserved import machine_layout
from planner.kernel.tuning_facts import parse_version


def most_common(values: Sequence[int]) -> int:
    """The most common value (the logs of one build agree; a stray boot does not move it)."""
    value, _ = Counter(values).most_common(1)[0]
    return value


def structural(fit: Fit, samples: list[Sample], runtime: list[Sample], era_2_6: bool) -> None:
    """Constants read straight from the logs, and the build's configuration."""
    arch = fit.draft.arch
    first = samples[0].evidence
    assert first.dmesg is not None and first.dmesg.memory is not None
    percpu_pages = [
        s.evidence.dmesg.percpu.pages_per_cpu for s in samples if s.evidence.dmesg and s.evidence.dmesg.percpu
    ]
    fit.set(
        "measured: 'percpu: Embedded N pages/cpu' x 4 KiB",
        percpu_kib_per_cpu=most_common([p * 4 for p in percpu_pages]) if percpu_pages else 0,
    )
    node_data = [kib for s in samples if s.evidence.dmesg for _, kib in s.evidence.dmesg.node_data]
    fit.set(
        "measured: 'NODE_DATA(N) allocated [mem A-B]'" if node_data else "not in the logs (no NUMA): 0",
        node_data_kib=most_common(node_data) if node_data else 0,
    )
    done = [s for s in runtime if s.evidence.dmesg and s.evidence.dmesg.run_init] or runtime
    fit.set(
        "measured: 'Freeing initrd memory' (reserved at the Memory: line, freed later)",
        initrd_kib=most_common([freed_kib(s, "initrd") for s in done]),
    )
    freed_init_kib = most_common([freed_kib(s, "init") for s in done])
    if era_2_6 and not any(s.evidence.dmesg and s.evidence.dmesg.freed for s in done):
        # an excerpt without the 'Freeing unused kernel memory' line: the Memory: line's init figure
        freed_init_kib = first.dmesg.memory.init_kib
    fit.set(
        "measured: every other 'Freeing ... memory' line after the Memory: line",
        freed_init_kib=freed_init_kib,
    )
    fit.set(
        "measured: 'Freeing SMP alternatives memory'",
        smp_alternatives_kib=max(freed_kib(s, "smp") for s in done),
    )
    thp_modes = [s.evidence.thp_mode for s in runtime if s.spec.memory_kib >= 768 * 1024]
    if era_2_6:
        fit.set("2.6-era kernel: no transparent hugepages", thp_available=False)
    elif thp_modes:
        fit.set(
            "measured: /sys/kernel/mm/transparent_hugepage/enabled at >= 768 MiB",
            thp_available=any(m in ("always", "madvise") for m in thp_modes),
        )
    else:
        fit.set("config default (no boot at >= 768 MiB to measure it)", thp_available=arch == "x86_64")
    fit.set("config: Debian 6.1 " + arch, **ARCH_DEFAULTS[arch])
    fit.set("config: CONFIG_LOG_BUF_SHIFT=17", log_buf_default_kib=128)
    version = parse_version(first.dmesg.release or "")
    if version is not None and version >= (6, 10):
        fit.set(
            "release >= 6.10: nr_kernel_pages from free memblock ranges "
            "(mm/mm_init.c calc_nr_kernel_pages())",
            hash_rules="6.10",
        )
    else:
        fit.set("config: alloc_large_system_hash() rules of 6.1", hash_rules="6.1")
    if era_2_6:
        _structural_2_6(fit, samples)


def _structural_2_6(fit: Fit, samples: list[Sample]) -> None:
    """A 2.6-era ``Memory:`` line (arch/x86_64/mm/init.c mem_init() @ v2.6.18): a physical PC with a
    flat memmap of 56-byte struct pages; the firmware keeps what the kernel never sees."""
    first = samples[0].evidence
    dmesg = first.dmesg
    assert dmesg is not None and dmesg.memory is not None
    present_kib = dmesg.memory.available_kib + dmesg.memory.reserved_kib
    buckets = {t.name: t.size_bytes // t.entries for t in dmesg.hash_tables if t.entries and t.size_printed}
    fit.draft = dataclasses.replace(fit.draft, machine="host")
    fit.set("2.6-era Memory: line: alloc_large_system_hash() rules of 2.6.18", hash_rules="2.6.18")
    fit.set("2.6.18 x86-64 struct page (include/linux/mm.h @ v2.6.18)", struct_page_bytes=56)
    fit.set("2.6.18 x86-64 THREAD_ORDER 1 (include/asm-x86_64/page.h)", thread_stack_kib=8)
    fit.set("2.6.18 x86-64: flat memmap per node (alloc_node_mem_map)", memmap_model="flat")
    fit.set(
        "measured: configured RAM - (available + reserved) of the Memory: line",
        firmware_kib=float((first.memory_kib or present_kib) - present_kib),
    )
    fit.set("2.6.18: no DMA atomic pools, no swiotlb below 4 GiB", dma_pool_count=0, swiotlb_available=False)
    fit.set(
        "measured: bytes / entries of the hash table line",
        tcp_ehash_bucket_bytes=buckets.get("TCP established", 16),
        tcp_bhash_bucket_bytes=buckets.get("TCP bind", 16),
        route_bucket_bytes=buckets.get("IP route cache", 8),
    )
    if dmesg.total_pages:
        # dma_reserve (pages below 16 MiB in use at boot) from the logged nr_kernel_pages
        layout = machine_layout(fit.draft, samples[0].spec.memory_kib, None, fit.params)
        without = nr_kernel_pages(layout, "2.6.18", struct_page_bytes=56, dma_reserve_pages=0)
        fit.set(
            "measured: modelled nr_kernel_pages - 'On node 0 totalpages'",
            dma_reserve_pages=max(without - dmesg.total_pages, 0),
        )
