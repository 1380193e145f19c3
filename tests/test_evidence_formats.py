"""Line formats of other kernel versions and corner cases of the console (one format per test).

Each input line is the kernel's format string filled in as that kernel prints it; the source is
named beside it (kernel-memory-facts.md §1-§6 quotes them).
"""

from __future__ import annotations

import pytest

from planner.errors import EvidenceError
from planner.evidence import (
    FreedMemory,
    MemoryRange,
    Percpu,
    parse_dmesg,
    parse_meminfo,
    parse_slabinfo,
    parse_slabtop,
    parse_zoneinfo,
)


def test_memory_line_i386_highmem() -> None:
    # 2.6.18 arch/i386/mm/init.c mem_init(): "..., %dk init, %ldk highmem)"
    line = (
        "Memory: 2071660k/2087104k available (2466k kernel code, 14000k reserved, 1039k data, 256k init, "
        "1187072k highmem)"
    )
    m = parse_dmesg(line + "\n").memory
    assert m is not None and m.format == "2.6"
    assert (m.available_kib, m.physical_kib, m.kernel_code_kib, m.reserved_kib) == (
        2071660,
        2087104,
        2466,
        14000,
    )
    assert (m.data_kib, m.init_kib, m.highmem_kib) == (1039, 256, 1187072)


def test_memory_line_2_6_27_absent() -> None:
    # 2.6.2x x86-64: "Memory: %luk/%luk available (%ldk kernel code, %ldk absent, %ldk reserved,
    # %ldk data, %ldk init)"
    line = (
        "Memory: 3051132k/3211264k available (5366k kernel code, 412k absent, 159720k reserved, "
        "3054k data, 712k init)"
    )
    m = parse_dmesg(line + "\n").memory
    assert m is not None and (m.absent_kib, m.reserved_kib, m.data_kib, m.init_kib) == (
        412,
        159720,
        3054,
        712,
    )


def test_memory_line_3_x_without_cma() -> None:
    # 3.10-era mem_init_print_info(): no cma-reserved item yet
    line = (
        "Memory: 8128436K/8386560K available (7338K kernel code, 1118K rwdata, 3248K rodata, 1260K init, "
        "1372K bss, 258124K reserved)"
    )
    m = parse_dmesg(line + "\n").memory
    assert m is not None and m.format == "6.x"
    assert (m.reserved_kib, m.cma_reserved_kib, m.bss_kib) == (258124, None, 1372)


def test_prefixes() -> None:
    text = (
        "<6>[    0.000000] percpu: Embedded 61 pages/cpu s212992 r8192 d28672 u2097152\n"
        "[    1.000000][    T1] Run /init as init process\n"
        "<4>Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\n"
        "[ 1234.567890] Out of memory: Killed process 77 (memhog)\n"
    )
    d = parse_dmesg(text)
    assert d.percpu == Percpu(61, 212992, 8192, 28672, 2097152)
    assert d.run_init and d.oom
    assert d.panic == "Attempted to kill init! exitcode=0x00000009"
    assert d.line_count == 4


def test_old_percpu_with_address() -> None:
    # 2.6.3x-3.x: "PERCPU: Embedded 26 pages/cpu @ffff88003fc00000 s76800 r8192 d21504 u2097152"
    d = parse_dmesg("PERCPU: Embedded 26 pages/cpu @ffff88003fc00000 s76800 r8192 d21504 u2097152\n")
    assert d.percpu == Percpu(26, 76800, 8192, 21504, 2097152)


def test_hash_table_placements() -> None:
    text = (
        "Dentry cache hash table entries: 8388608 (order: 14, 67108864 bytes, vmalloc hugepage)\n"
        "Inode-cache hash table entries: 4194304 (order: 13, 33554432 bytes, vmalloc)\n"
        "PID hash table entries: 4096 (order: 3, 32768 bytes)\n"
    )
    tables = parse_dmesg(text).hash_tables
    assert [(t.name, t.placement) for t in tables] == [
        ("Dentry cache", "vmalloc hugepage"),
        ("Inode-cache", "vmalloc"),
        ("PID", None),
    ]


def test_freeing_lines_of_old_kernels() -> None:
    text = (
        "Freeing SMP alternatives: 36k freed\n"  # 2.6.18 arch/i386/kernel/alternative.c
        "Freeing initrd memory: 7684K (ffff88003f7fe000 - ffff88003ff7f000)\n"  # 3.x
        "Freeing unused kernel memory: 220k freed\n"  # 2.6.18 free_initmem()
    )
    d = parse_dmesg(text)
    assert d.freed == (
        FreedMemory("SMP alternatives", 36, 1),
        FreedMemory("initrd", 7684, 2),
        FreedMemory("unused kernel", 220, 3),
    )
    assert d.run_init  # 2.6: free_initmem() runs right before init


def test_swiotlb_and_crashkernel_variants() -> None:
    assert parse_dmesg("Placing 64MB software IO TLB between ffff810000 - ffff814000\n").swiotlb_kib == 65536
    assert (
        parse_dmesg(
            "software IO TLB [mem 0xbbffd000-0xbfffd000] (64MB) mapped at "
            "[ffff8800bbffd000-ffff8800bfffcfff]\n"
        ).swiotlb_kib
        == 65536
    )
    text = (
        "crashkernel reserved: 0x000000006f000000 - 0x0000000077000000 (128 MB)\n"
        "crashkernel low memory reserved: 0x7b000000 - 0x8b000000 (256 MB)\n"
    )
    assert parse_dmesg(text).crashkernel_kib == 384 * 1024


def test_node_ranges_and_modern_e820() -> None:
    text = (
        "[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable\n"
        "[    0.000000] Zone ranges:\n"
        "[    0.000000]   DMA      [mem 0x0000000000001000-0x0000000000ffffff]\n"
        "[    0.000000]   DMA32    [mem 0x0000000001000000-0x0000000007fdffff]\n"
        "[    0.000000]   Normal   empty\n"
        "[    0.000000] Early memory node ranges\n"
        "[    0.000000]   node   0: [mem 0x0000000000001000-0x000000000009efff]\n"
        "[    0.000000]   node   0: [mem 0x0000000000100000-0x0000000007fdffff]\n"
        "[    0.000000] Initmem setup node 0 [mem 0x0000000000001000-0x0000000007fdffff]\n"
        "[    0.000000]   node   1: [mem 0x0000000100000000-0x000000013fffffff]\n"
    )
    d = parse_dmesg(text)
    assert d.e820 == (MemoryRange(0x100000, 0x7FE0000, "usable"),)
    # only the lines right after the header are node ranges (end inclusive -> exclusive)
    assert d.node_ranges == (MemoryRange(0x1000, 0x9F000, "node0"), MemoryRange(0x100000, 0x7FE0000, "node0"))
    # 158 + 32480 pages = 32638 present pages = 130552 KiB (kernel-memory-facts §1.4)
    assert sum(r.size_bytes for r in d.node_ranges) // 4096 == 32638
    assert d.arch == "x86_64"  # e820 + a DMA32 zone range


def test_cut_final_line_numbers_are_not_read() -> None:
    # the last line has no newline: a number at its end may have lost digits
    assert parse_dmesg("Built 1 zonelists, mobility grouping on.  Total pages: 3196").total_pages is None
    assert parse_dmesg("Built 1 zonelists, mobility grouping on.  Total pages: 31968\n").total_pages == 31968
    assert parse_dmesg("Mount-cache hash table entries: 25").hash_tables == ()
    cut_percpu = "percpu: Embedded 61 pages/cpu s212992 r8192 d28672 u20"
    assert parse_dmesg(cut_percpu).percpu is None
    assert parse_meminfo("MemTotal: 1 kB\nHugePages_Total:       1").get("HugePages_Total") is None
    assert parse_meminfo("MemTotal: 1 kB\nHugePages_Total:       1\n")["HugePages_Total"] == 1


def test_meminfo_2_6_format() -> None:
    # 2.6.18 fs/proc/proc_misc.c: "MemTotal:     %8lu kB\n" (14-column labels)
    text = (
        "MemTotal:      1004104 kB\nMemFree:        578576 kB\nHighTotal:           0 kB\n"
        "VmallocChunk: 34359436543 kB\n"
    )
    assert parse_meminfo(text).fields_kib == {
        "MemTotal": 1004104,
        "MemFree": 578576,
        "HighTotal": 0,
        "VmallocChunk": 34359436543,
    }


def test_slabinfo_statistics() -> None:
    text = (
        "slabinfo - version: 2.1 (statistics)\n"
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> "
        ": tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> "
        "<sharedavail> : globalstat <listallocs> <maxobjs> <grown> <reaped> <error> <maxfreeable> "
        "<nodeallocs> <remotefrees> <alienoverflow> : cpustat <allochit> <allocmiss> <freehit> <freemiss>\n"
        "ext3_inode_cache   12528  12534   1384    2    1 : tunables   24   12    8 "
        ": slabdata   6267   6267      0"
        " : globalstat   13080  12534  6267    0    0    0    0    0    0 "
        ": cpustat  10344   1313   1141      0\n"
    )
    slab = parse_slabinfo(text)
    assert slab.version == "2.1 (statistics)"
    (c,) = slab.caches
    assert (c.name, c.active_objs, c.num_objs, c.obj_size_bytes, c.objs_per_slab, c.pages_per_slab) == (
        "ext3_inode_cache",
        12528,
        12534,
        1384,
        2,
        1,
    )
    assert (c.active_slabs, c.num_slabs, c.cache_kib) == (6267, 6267, 25068)
    # a plain 2.1 row is refused under the statistics header, and the other way round
    with pytest.raises(EvidenceError, match="malformed slabinfo row"):
        parse_slabinfo(text.split(" : globalstat   13080")[0] + "\n")
    with pytest.raises(EvidenceError, match="malformed slabinfo row"):
        parse_slabinfo(text.replace("version: 2.1 (statistics)", "version: 2.1"))


def test_slabtop_interactive_screen() -> None:
    # slabtop without -o draws with ANSI escapes; the summary and rows are the same
    text = (
        "\x1b[?1049h\x1b[1;1H Active / Total Objects (% used)    : 85349 / 88654 (96.3%)\n"
        " Minimum / Average / Maximum Object : 0.02K / 0.46K / 128.00K\n\n"
        "\x1b[7m  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME                   \x1b[m\n"
        " 20560  20560 100%    0.24K   1285       16      5140K dentry_cache\n"
    )
    slab = parse_slabtop(text)
    assert slab.summary == {"Active / Total Objects (% used)": (85349, 88654)}
    assert [(c.name, c.cache_kib) for c in slab.caches] == [("dentry_cache", 5140)]


def test_zoneinfo_pcp_sum_over_cpus() -> None:
    text = (
        "Node 0, zone    DMA32\n  pages free     12089\n        min      262\n        low      327\n"
        "        high     392\n        spanned  1044480\n        present  28640\n        managed  28192\n"
        "        protection: (0, 0, 1024, 1024)\n  pagesets\n    cpu: 0\n              count: 60\n"
        "              high:  171\n              batch: 63\n    cpu: 1\n              count: 125\n"
        "              high:  171\n              batch: 63\n"
    )
    (z,) = parse_zoneinfo(text).zones
    assert (z.node, z.name, z.free_pages, z.min_pages, z.low_pages, z.high_pages) == (
        0,
        "DMA32",
        12089,
        262,
        327,
        392,
    )
    assert (z.spanned_pages, z.present_pages, z.managed_pages) == (1044480, 28640, 28192)
    assert z.protection_pages == (0, 0, 1024, 1024)
    assert z.pcp_count_pages == 185  # pageset 'high:' lines are not the zone's high watermark
