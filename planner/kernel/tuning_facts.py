"""What each memory-relevant kernel command-line option is, where it lives, since when, at what risk.

Data for :mod:`planner.kernel.tuning`. Each entry names the source file that parses
the option (``Documentation/admin-guide/kernel-parameters.txt`` @ v6.1 lists them all),
the kernel versions that honour it, and what a guest loses with the tuned value.
A version is "verified" when the commit that introduced it was read (commit id given);
"unverified" marks a release from memory of the history, not from a source read here.

Sources read (public mirrors of the kernel history):

[1] commit fff5d9922510 "swiotlb: Add swiotlb=noforce debug option" (2016-12, merged for
    v4.10, lib/swiotlb.c); commit 2726bf3ff252 "swiotlb: Make SWIOTLB_NO_FORCE perform no
    allocation" (2021-04, v5.13): before it ``noforce`` still allocated one 2 KiB slab.
[2] commit f86dcc5aa8c7 "udp: dynamically size hash tables at boot time" (2009-10, v2.6.33):
    ``uhash_entries=``, clamped to ``UDP_HTABLE_SIZE_MIN`` (256) .. 65536.
[3] commit 0818bf27c05b "resizable namespace.c hashes" (2014-03-30, v3.14/v3.15, also sent
    to stable): ``mhash_entries=``, ``mphash_entries=``.
[4] "smp: Use nr_cpus= to set nr_cpu_ids early", merged 2010-03-03 (v2.6.34 merge window),
    ``kernel/smp.c nrcpus()``: lowers ``nr_cpu_ids``, so per-CPU data is sized for fewer CPUs.
[5] commit faf65dde844a "percpu: rework memcg accounting" (2021-06, v5.14): every dynamic
    per-CPU chunk carries an ``obj_cgroups`` vector (8 bytes per 4-byte unit slot, twice the
    unit size) "unless the kernel memory accounting is disabled globally by a boot option"
    (``cgroup.memory=nokmem``, ``mem_cgroup_kmem_disabled()``, same series).
[6] ``kernel/dma/pool.c`` (David Rientjes' 2020-04 series, v5.8): ``coherent_pool=`` sets the
    size of each atomic DMA pool (kernel, DMA, DMA32), default 128 KiB per GiB of RAM,
    128 KiB .. 4 MiB; the pools grow on demand from a worker (``atomic_pool_work``).
[7] reference kernel-memory-facts.md §1.3 (the 2.6.18 tree and v6.1 callers of
    ``alloc_large_system_hash()``): ``dhash_entries=``, ``ihash_entries=``,
    ``thash_entries=`` and ``rhash_entries=`` in 2.6.18; the IPv4 route cache and its
    ``rhash_entries=`` table were removed in v3.6.
[8] Debian 12 kernel configurations (``/boot/config-6.1.0-*``): CONFIG_CMA not set on amd64
    and cloud-amd64, ``=y`` on s390x with CONFIG_VMCP_CMA_SIZE=4 and no CONFIG_DMA_CMA (so
    s390x has ``vmcp_cma=`` but no ``cma=``); CONFIG_LOG_BUF_SHIFT=17; CONFIG_MEMCG_KMEM=y.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.kernel.calibration import Calibration

#: a kernel version as numbers: (6, 1), (2, 6, 18)
Version = tuple[int, ...]


@dataclass(frozen=True)
class OptionFacts:
    """One command-line option: its parser, the versions that honour it, what it costs."""

    key: str  # as written before '=': "dhash_entries", "swiotlb", "cgroup.memory"
    source: str  # the file and function that parse it
    versions: str  # as shown to a person, with "verified"/"unverified"
    risk: str  # one line: what the guest loses
    since: Version = (0,)  # first version that honours it (0: as old as the planner's models)
    until: Version | None = None  # first version that no longer has it

    def exists_in(self, version: Version | None) -> bool:
        """Whether a kernel of ``version`` honours the option (unknown versions: assumed yes)."""
        if version is None:
            return True
        return version >= self.since and (self.until is None or version < self.until)


_HASH_RISK = (
    "lookups in this table walk longer chains once more objects are cached than it has "
    "buckets: slower {what} under a workload that touches many of them"
)

OPTIONS: dict[str, OptionFacts] = {
    facts.key: facts
    for facts in (
        OptionFacts(
            "dhash_entries",
            "fs/dcache.c set_dhash_entries(), dcache_init_early()",
            "2.6.18 .. 6.x (2.6.18 tree and v6.1 read [7]); older: unverified",
            _HASH_RISK.format(what="path lookups (dentries)"),
        ),
        OptionFacts(
            "ihash_entries",
            "fs/inode.c set_ihash_entries(), inode_init_early()",
            "2.6.18 .. 6.x (2.6.18 tree and v6.1 read [7]); older: unverified",
            _HASH_RISK.format(what="inode lookups"),
        ),
        OptionFacts(
            "thash_entries",
            "net/ipv4/tcp.c set_thash_entries(), tcp_init()",
            "2.6.18 .. 6.x (read [7]); also sizes tcp_listen_portaddr_hash and TCP bind in 6.1",
            _HASH_RISK.format(what="TCP socket lookups (established and bound ports)"),
        ),
        OptionFacts(
            "uhash_entries",
            "net/ipv4/udp.c set_uhash_entries(), udp_table_init()",
            "v2.6.33 .. 6.x (commit f86dcc5aa8c7, verified [2])",
            _HASH_RISK.format(what="UDP socket lookups"),
            since=(2, 6, 33),
        ),
        OptionFacts(
            "mhash_entries",
            "fs/namespace.c set_mhash_entries(), mnt_init()",
            "v3.14/v3.15 .. 6.x (commit 0818bf27c05b, verified [3])",
            _HASH_RISK.format(what="mount lookups"),
            since=(3, 14),
        ),
        OptionFacts(
            "mphash_entries",
            "fs/namespace.c set_mphash_entries(), mnt_init()",
            "v3.14/v3.15 .. 6.x (commit 0818bf27c05b, verified [3])",
            _HASH_RISK.format(what="mountpoint lookups"),
            since=(3, 14),
        ),
        OptionFacts(
            "rhash_entries",
            "net/ipv4/route.c set_rhash_entries(), ip_rt_init()",
            "2.6.18 .. 3.5: the IPv4 route cache was removed in v3.6 (read [7])",
            _HASH_RISK.format(what="IPv4 route-cache lookups"),
            until=(3, 6),
        ),
        OptionFacts(
            "swiotlb",
            "kernel/dma/swiotlb.c setup_io_tlb_npages() (lib/swiotlb.c before v4.17, unverified)",
            "noforce: v4.10 .. 6.x (commit fff5d9922510, verified [1]); allocates nothing since "
            "v5.13 (commit 2726bf3ff252), one 2 KiB slab before",
            "no bounce buffer: DMA from a device that cannot address RAM above 4 GiB fails "
            "(fine for virtio without an IOMMU; not for 32-bit-only emulated or passed-through devices)",
            since=(4, 10),
        ),
        OptionFacts(
            "crashkernel",
            "kernel/crash_core.c parse_crashkernel() @ v6.1, reserve_crashkernel() per arch",
            "kdump era (2.6.13, unverified) .. 6.x",
            "no kdump: a kernel crash leaves no vmcore to analyse",
        ),
        OptionFacts(
            "log_buf_len",
            "kernel/printk/printk.c log_buf_len_setup(), setup_log_buf()",
            "2.6.x .. 6.x (unverified); since the lockless ring (v5.10, unverified) a buffer costs "
            "4.5x its text size (measured on 6.1: 1 MiB -> 4608 KiB)",
            "the kernel log keeps only the built-in buffer (CONFIG_LOG_BUF_SHIFT, 128 KiB on Debian): "
            "early boot messages can be overwritten on a chatty boot",
        ),
        OptionFacts(
            "nr_cpus",
            "kernel/smp.c nrcpus() (caps nr_cpu_ids)",
            "v2.6.34 .. 6.x (merged 2010-03-03, verified [4])",
            "no CPU hot-add beyond this count: a guest defined with more possible vCPUs "
            "(maxcpus) cannot bring them online",
            since=(2, 6, 34),
        ),
        OptionFacts(
            "transparent_hugepage",
            "mm/huge_memory.c setup_transparent_hugepage(); mm/khugepaged.c "
            "set_recommended_min_free_kbytes()",
            "v2.6.38 .. 6.x (THP merged in 2.6.38, unverified)",
            "no transparent huge pages: more TLB misses (and nested page walks) for large, "
            "hot memory; khugepaged no longer raises min_free_kbytes",
            since=(2, 6, 38),
        ),
        OptionFacts(
            "cma",
            "kernel/dma/contiguous.c early_cma() (CONFIG_DMA_CMA)",
            "v3.5 .. 6.x where CONFIG_DMA_CMA=y (unverified); Debian 12 amd64/s390x: absent [8]",
            "no contiguous DMA area: large physically contiguous DMA buffers may fail to allocate",
            since=(3, 5),
        ),
        OptionFacts(
            "vmcp_cma",
            "drivers/s390/char/vmcp.c early_parse_vmcp_cma() (z/VM only)",
            "v4.14 .. 6.x on s390x (unverified); Debian 12 s390x: 4 MiB [8]",
            "vmcp (CP commands from Linux under z/VM) falls back to ordinary pages for big responses",
            since=(4, 14),
        ),
        OptionFacts(
            "cgroup.memory",
            "mm/memcontrol.c cgroup_memory() ('nokmem'); mm/percpu.c pcpu_alloc_chunk()",
            "nokmem: v4.6 .. 6.x (unverified); it drops the per-CPU chunk map since v5.14 "
            "(commit faf65dde844a, verified [5])",
            "kernel memory (slab, per-CPU, stacks, socket buffers) is no longer charged to memory "
            "cgroups: a container's kernel allocations escape its memory.max",
            since=(4, 6),
        ),
        OptionFacts(
            "coherent_pool",
            "kernel/dma/pool.c early_coherent_pool(), dma_atomic_pool_init()",
            "v5.8 .. 6.x for every architecture (kernel/dma/pool.c, read [6]); ARM only before",
            "smaller atomic DMA pools: GFP_ATOMIC coherent allocations (non-coherent devices, "
            "encrypted guests) rely on the pools growing from a worker and can fail under a burst",
            since=(5, 8),
        ),
    )
}


#: the dotted numbers a kernel release starts with (``6.12.95`` of ``6.12.95+deb12-cloud-amd64``)
_VERSION_RE = re.compile(r"(\d+(?:\.\d+)+)")


def parse_version(text: str) -> Version | None:
    """The version a ``uname -r`` (or ``Linux version`` line) starts with: ``6.1.0-56-cloud-amd64``
    -> (6, 1, 0); ``6.12.95+deb12-cloud-amd64`` -> (6, 12, 95); ``2.6.18-rc4`` -> (2, 6, 18);
    else ``None``. The one reader of a kernel release in the planner."""
    m = _VERSION_RE.match(text.strip())
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


def kernel_version(calibration: Calibration) -> Version | None:
    """The calibration's kernel version: its release (``uname -r``), its ``Linux version`` line,
    or, for a calibration that states no release, the era its hash-table rules follow
    (``hash_rules: 2.6.18``, the seed's partial calibration)."""
    for text in (calibration.kernel_release, calibration.linux_version):
        if (version := parse_version(text)) is not None:
            return version
    return (
        parse_version(calibration.parameters.hash_rules)
        if calibration.parameters.hash_rules == "2.6.18"
        else None
    )
