"""Debian 6.1 dmesg excerpts (tests/data/reference-6.1, verbatim from bootlab-debian-6.1.md §4).

Expected values are read off the quoted log lines (comments show them). Cross-checks against
the reference's own tables (§3, §6.1) are marked as such.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from planner.evidence import (
    Dmesg,
    Percpu,
    infer_memory_kib,
    parse_bundle_text,
    parse_dmesg,
)
from planner.evidence.records import Evidence

REF = Path(__file__).parent / "data" / "reference-6.1"


def _dmesg(name: str) -> Dmesg:
    return parse_dmesg((REF / name).read_text(), name)


def _tables(d: Dmesg) -> dict[str, tuple[int, int, int, str | None]]:
    return {t.name: (t.entries, t.order, t.size_bytes, t.placement) for t in d.hash_tables}


def _memory_kib(d: Dmesg, machine: str | None) -> int | None:
    return infer_memory_kib(Evidence(source="t", sha256="", dmesg=d, machine=machine))


CLOUD_128_TABLES = {
    "Dentry cache": (16384, 5, 131072, "linear"),
    "Inode-cache": (8192, 4, 65536, "linear"),
    "Mount-cache": (512, 0, 4096, "linear"),
    "Mountpoint-cache": (512, 0, 4096, "linear"),
    "futex": (256, 2, 16384, "linear"),
    "Dquot-cache": (512, 0, 4096, None),  # VFS: Dquot-cache hash table entries: 512 (order 0, 4096 bytes)
    "IP idents": (2048, 2, 16384, "linear"),
    "tcp_listen_portaddr_hash": (256, 0, 4096, "linear"),
    "Table-perturb": (65536, 6, 262144, "linear"),
    "TCP established": (1024, 1, 8192, "linear"),
    "TCP bind": (1024, 3, 32768, "linear"),
    "MPTCP token": (256, 1, 6144, "linear"),
    "UDP": (256, 1, 8192, "linear"),
    "UDP-Lite": (256, 1, 8192, "linear"),
}


def test_cloud_amd64_128m() -> None:
    d = _dmesg("cloud-amd64-128M-1cpu.txt")
    m = d.memory
    assert m is not None
    # Memory: 80308K/130552K available (14343K kernel code, 2327K rwdata, 8348K rodata, 2612K init,
    #         5436K bss, 49984K reserved, 0K cma-reserved)
    assert m.format == "6.x"
    assert (m.available_kib, m.physical_kib) == (80308, 130552)
    assert (m.kernel_code_kib, m.rwdata_kib, m.rodata_kib, m.init_kib, m.bss_kib) == (
        14343,
        2327,
        8348,
        2612,
        5436,
    )
    assert (m.reserved_kib, m.cma_reserved_kib, m.data_kib, m.highmem_kib) == (49984, 0, None, None)
    assert m.line_number == 8
    # 14 '... hash table entries' lines: 13 from alloc_large_system_hash() and VFS Dquot-cache
    assert len(d.hash_tables) == 14
    assert _tables(d) == CLOUD_128_TABLES
    dentry = d.hash_table("Dentry cache")
    assert dentry is not None and dentry.timestamp_s == 0.0 and dentry.line_number == 6
    mount = d.hash_table("Mount-cache")
    assert mount is not None and mount.timestamp_s == pytest.approx(0.656505)
    # percpu: Embedded 61 pages/cpu s212992 r8192 d28672 u2097152
    assert d.percpu == Percpu(61, 212992, 8192, 28672, 2097152)
    # Built 1 zonelists, mobility grouping on.  Total pages: 31968
    assert d.total_pages == 31968
    # printk: log_buf_len: 1048576 bytes
    assert d.log_buf_len_bytes == 1048576
    # Kernel command line: console=ttyS0 loglevel=8 log_buf_len=1M panic=-1 (trailing blank dropped)
    assert d.command_line == "console=ttyS0 loglevel=8 log_buf_len=1M panic=-1"
    # Freeing SMP alternatives memory: 36K ... Freeing unused kernel image (rodata/data gap) memory: 1892K
    assert [(f.what, f.size_kib) for f in d.freed] == [
        ("SMP alternatives", 36),
        ("initrd", 1008),
        ("unused decrypted", 2036),
        ("unused kernel image (initmem)", 2612),
        ("unused kernel image (text/rodata gap)", 2040),
        ("unused kernel image (rodata/data gap)", 1892),
    ]
    assert d.freed_kib == 9624  # reference §3.2: "cloud 9624"
    assert d.run_init and not d.deferred_init and not d.oom and d.panic is None
    assert (d.swiotlb_kib, d.crashkernel_kib, d.nr_cpu_ids, d.max_memory_kib) == (None, None, None, None)
    # the excerpt has no 'Linux version' line and no DMA32 line: the architecture is not derivable
    assert d.release is None and d.arch is None
    # reference §6.1 row 128M-1cpu: MemTotal 90192 = B - reserved + freed (quirk §3.2)
    assert m.physical_kib - m.reserved_kib + d.freed_kib == 90192
    assert _memory_kib(d, "pc") == 128 * 1024
    assert _memory_kib(d, None) is None  # no e820 lines in the excerpt and no machine type


def test_cloud_amd64_8g_swiotlb() -> None:
    d = _dmesg("cloud-amd64-8192M-1cpu.txt")
    m = d.memory
    assert m is not None
    # Memory: 3167816K/8388088K available (... 257420K reserved, 0K cma-reserved)
    assert (m.available_kib, m.physical_kib, m.reserved_kib, m.cma_reserved_kib) == (
        3167816,
        8388088,
        257420,
        0,
    )
    # software IO TLB: mapped [mem 0x00000000bbee4000-0x00000000bfee4000] (64MB)
    assert d.swiotlb_kib == 64 * 1024
    # node 0 deferred pages initialised in 292ms
    assert d.deferred_init
    assert d.total_pages == 2064096
    t = _tables(d)
    assert t["Dentry cache"] == (1048576, 11, 8388608, "linear")
    assert t["Inode-cache"] == (524288, 10, 4194304, "linear")
    assert t["TCP bind"] == (65536, 9, 2097152, "linear")
    assert t["MPTCP token"] == (8192, 6, 196608, "linear")
    assert len(d.hash_tables) == 14
    assert d.freed_kib == 9624
    assert _memory_kib(d, "pc") == 8192 * 1024


def test_amd64_1g() -> None:
    d = _dmesg("amd64-1024M-1cpu.txt")
    m = d.memory
    assert m is not None
    # Memory: 260860K/1048056K available (14343K kernel code, 2338K rwdata, 9132K rodata, 2824K init,
    #         17344K bss, 77972K reserved, 0K cma-reserved)
    assert (m.available_kib, m.physical_kib) == (260860, 1048056)
    assert (m.kernel_code_kib, m.rwdata_kib, m.rodata_kib, m.init_kib, m.bss_kib) == (
        14343,
        2338,
        9132,
        2824,
        17344,
    )
    assert (m.reserved_kib, m.cma_reserved_kib) == (77972, 0)
    # percpu: Embedded 62 pages/cpu s217088 r8192 d28672 u2097152
    assert d.percpu == Percpu(62, 217088, 8192, 28672, 2097152)
    assert d.total_pages == 257760
    assert _tables(d)["Dentry cache"] == (131072, 8, 1048576, "linear")
    assert d.freed_kib == 9052  # reference §3.2: "amd64 9052"
    assert [f.size_kib for f in d.freed if f.what.startswith("unused kernel image")] == [2824, 2040, 1108]
    assert d.deferred_init and d.run_init
    assert _memory_kib(d, "pc") == 1024 * 1024


def test_s390x_128m() -> None:
    d = _dmesg("s390x-128M-1cpu.txt")
    m = d.memory
    assert m is not None
    # Memory: 101856K/131072K available (10116K kernel code, 1688K rwdata, 2568K rodata, 3604K init, 692K bss,
    #         29216K reserved, 0K cma-reserved)
    assert (m.available_kib, m.physical_kib) == (101856, 131072)
    assert (m.kernel_code_kib, m.rwdata_kib, m.rodata_kib, m.init_kib, m.bss_kib) == (
        10116,
        1688,
        2568,
        3604,
        692,
    )
    assert (m.reserved_kib, m.cma_reserved_kib) == (29216, 0)
    # setup: Linux is running under KVM in 64-bit mode / setup: The maximum memory size is 128MB
    assert d.arch == "s390x"
    assert d.max_memory_kib == 128 * 1024
    # percpu: Embedded 32 pages/cpu s90624 r8192 d32256 u131072
    assert d.percpu == Percpu(32, 90624, 8192, 32256, 131072)
    assert d.total_pages == 32256
    # s390x has no 'Command line:' line, only 'Kernel command line:'
    assert d.command_line == "console=ttysclp0 loglevel=8 log_buf_len=1M panic=-1"
    assert d.log_buf_len_bytes == 1048576
    # timestamps do not start at 0 on s390x: the first hash table is at 2.786429 s
    assert d.hash_tables[0].timestamp_s == pytest.approx(2.786429)
    # futex hash table entries: 256 (order: 4, 65536 bytes, linear)  (256-byte cache lines)
    assert _tables(d)["futex"] == (256, 4, 65536, "linear")
    assert len(d.hash_tables) == 14
    assert [(f.what, f.size_kib) for f in d.freed] == [
        ("initrd", 980),
        ("unused early sccb", 12),
        ("unused kernel image (initmem)", 3604),
    ]
    assert d.freed_kib == 4596  # reference §3.2: "s390x 4596"
    assert d.swiotlb_kib is None and d.run_init
    # reference §6.1 s390x 128M-1cpu: MemTotal 106476; B - reserved + freed falls 24 kB short on s390x (§3.2)
    assert m.physical_kib - m.reserved_kib + d.freed_kib == 106476 - 24
    assert _memory_kib(d, None) == 128 * 1024  # rule 1: the maximum memory size


def test_s390x_8g() -> None:
    d = _dmesg("s390x-8192M-1cpu.txt")
    m = d.memory
    assert m is not None
    # Memory: 2339024K/8388608K available (... 185172K reserved, 0K cma-reserved)
    assert (m.available_kib, m.physical_kib, m.reserved_kib) == (2339024, 8388608, 185172)
    assert d.max_memory_kib == 8192 * 1024 and d.arch == "s390x"
    assert d.deferred_init
    assert d.total_pages == 2064384
    assert _tables(d)["Dentry cache"] == (1048576, 11, 8388608, "linear")
    assert _memory_kib(d, "s390-ccw-virtio") == 8192 * 1024


def test_tuning_crashkernel() -> None:
    d = _dmesg("cloud-amd64-512M-1cpu-crashkernel128M.txt")
    # Reserving 128MB of memory at 368MB for crashkernel (System RAM: 511MB)
    assert d.crashkernel_kib == 128 * 1024
    # setup_percpu: NR_CPUS:8192 nr_cpumask_bits:1 nr_cpu_ids:1 nr_node_ids:1
    assert d.nr_cpu_ids == 1
    assert d.command_line == "console=ttyS0 loglevel=8 log_buf_len=1M panic=-1 crashkernel=128M"
    m = d.memory
    assert m is not None and (m.available_kib, m.physical_kib, m.reserved_kib) == (219832, 523768, 187776)
    # reference §3.5: crashkernel=128M is exactly +131072 over the 512M-1cpu baseline (56704, §6.1)
    assert m.reserved_kib - d.crashkernel_kib == 56704
    assert [t.name for t in d.hash_tables] == ["Dentry cache", "Inode-cache", "TCP established", "UDP"]
    assert d.e820 == ()  # 'e820: remove ...' is not a firmware map line


def test_tuning_hash_entries() -> None:
    d = _dmesg("cloud-amd64-512M-1cpu-hash1024.txt")
    # dhash_entries=1024 ihash_entries=1024 thash_entries=1024 uhash_entries=256
    t = _tables(d)
    assert t["Dentry cache"] == (1024, 1, 8192, "linear")
    assert t["Inode-cache"] == (1024, 1, 8192, "linear")
    assert t["TCP established"] == (1024, 1, 8192, "linear")
    assert t["UDP"] == (256, 1, 8192, "linear")
    assert d.memory is not None and d.memory.reserved_kib == 55952
    assert d.command_line is not None and "uhash_entries=256" in d.command_line


def test_tuning_mem_option() -> None:
    d = _dmesg("cloud-amd64-512M-1cpu-mem256M.txt")
    m = d.memory
    assert m is not None and (m.available_kib, m.physical_kib, m.reserved_kib) == (209268, 261752, 52224)
    assert d.command_line is not None and d.command_line.endswith("mem=256M")
    # 'user: [mem ...]' lines are the mem=-edited map, not the firmware's: not read as e820
    assert d.e820 == ()
    # with mem= the physpages rule would give 256 MiB for a -m 512 guest: refused, and no e820 here
    assert _memory_kib(d, "pc") is None


def test_tuning_maxcpus() -> None:
    d = _dmesg("cloud-amd64-512M-1cpu-maxcpus8.txt")
    assert d.nr_cpu_ids == 8
    assert d.percpu == Percpu(61, 212992, 8192, 28672, 262144)
    assert d.memory is not None and d.memory.reserved_kib == 58412
    assert d.memory.reserved_kib - 56704 == 7 * 244  # reference §3: 244 KiB per extra possible CPU


def test_tuning_swiotlb_noforce() -> None:
    d = _dmesg("cloud-amd64-4096M-1cpu-swiotlb-noforce.txt")
    # software IO TLB: No low mem
    assert d.swiotlb_kib == 0
    m = d.memory
    assert m is not None and (m.available_kib, m.physical_kib, m.reserved_kib) == (3233352, 4193784, 119436)
    assert _memory_kib(d, "pc") == 4096 * 1024


def test_tuning_default_log_buffer() -> None:
    d = _dmesg("cloud-amd64-512M-1cpu-defaultlogbuf.txt")
    assert d.log_buf_len_bytes is None
    assert d.command_line == "console=ttyS0 loglevel=8  panic=-1"
    assert d.memory is not None and d.memory.reserved_kib == 52096
    assert 56704 - d.memory.reserved_kib == 4608  # reference §1.2: log_buf_len=1M adds exactly 4608 kB


# --- a synthetic console capture built from the excerpts ---------------------------------------------
SEABIOS = "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)\r\nBooting from ROM...\r\n"
EDD = "Probing EDD (edd=off to disable)... o\x1bc\x1b[?7l\x1b[2J"
#: /proc/meminfo values of the reference's §6.1 row cloud-amd64 128M-1cpu, in 6.1's 16-column format
MEMINFO_128 = (
    ("MemTotal", 90192, "kB"),
    ("MemFree", 63716, "kB"),
    ("MemAvailable", 69324, "kB"),
    ("Slab", 14492, "kB"),
    ("SUnreclaim", 5536, "kB"),
    ("KernelStack", 736, "kB"),
    ("PageTables", 52, "kB"),
    ("Percpu", 256, "kB"),
    ("HugePages_Total", 0, ""),
    ("Hugepagesize", 2048, "kB"),
)
SLABINFO = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> "
    "<batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n"
    "inode_cache         10920  10920    600   27    4 : tunables    0    0    0 "
    ": slabdata    405    405      0\n"
    "dentry              10878  10878    192   21    1 : tunables    0    0    0 "
    ": slabdata    518    518      0\n"
)
ZONEINFO = (
    "Node 0, zone      DMA\n  per-node stats\n      nr_inactive_anon 0\n  pages free     3840\n"
    "        boost    0\n        min      22\n        low      27\n        high     32\n"
    "        spanned  4095\n"
    "        present  3998\n        managed  3840\n        cma      0\n"
    "        protection: (0, 81, 81, 81, 81)\n      nr_free_pages 3840\n  pagesets\n    cpu: 0\n"
    "              count: 0\n              high:  0\n              batch: 1\n  vm stats threshold: 2\n"
    "  node_unreclaimable:  0\n  start_pfn:           1\n"
    "Node 0, zone    DMA32\n  pages free     12089\n        boost    0\n        min      262\n"
    "        low      327\n        high     392\n        spanned  28640\n        present  28640\n"
    "        managed  20741\n        cma      0\n        protection: (0, 0, 0, 0, 0)\n  pagesets\n"
    "    cpu: 0\n              count: 185\n              high:  171\n              batch: 63\n"
    "Node 0, zone   Normal\n  pages free     0\n        boost    0\n        min      0\n        low      0\n"
    "        high     0\n        spanned  0\n        present  0\n        managed  0\n        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
)


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


UNAME_CLOUD = "Linux (none) 6.1.0-56-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 x86_64 GNU/Linux"


def _capture(
    excerpt: str,
    *,
    dump: bool = True,
    thp: str = "always madvise [never]",
    x86_console: bool = True,
    uname: str = UNAME_CLOUD,
) -> str:
    """A console capture as the bootlab recipe makes it (reference §1.1, quirk §5.3)."""
    meminfo = "".join(
        f"{name + ':':<16}{value:>8}{' ' + unit if unit else ''}\n" for name, value, unit in MEMINFO_128
    )
    crlf = _crlf if x86_console else str
    parts = [SEABIOS, EDD, crlf(excerpt)] if x86_console else [excerpt]
    if dump:
        sections = [
            ("uname -a", uname + "\n"),
            ("/proc/cmdline", "console=ttyS0 loglevel=8 log_buf_len=1M panic=-1\n"),
            ("dmesg", excerpt),
            ("/proc/meminfo", meminfo),
            ("/proc/slabinfo", SLABINFO),
            ("/proc/zoneinfo", ZONEINFO),
            ("/proc/vmstat", "nr_free_pages 15929\n"),
            ("/proc/sys/vm/min_free_kbytes", "1135\n"),
            ("/sys/kernel/mm/transparent_hugepage/enabled", thp + "\n"),
            ("/sys/devices/system/cpu/possible", "0\n"),
            ("/sys/devices/system/cpu/online", "0\n"),
            ("/proc/meminfo (again, end of dump)", meminfo.replace("63716", "63668")),
        ]
        body = "\n######## PROBE-DUMP-BEGIN ########\n"
        for name, content in sections:
            body += f"\n==== {name}\n{content}"
        body += "\n######## PROBE-DUMP-END ########\n"
        parts.append(crlf(body))
    return "".join(parts)


def test_console_capture_uses_dump_dmesg() -> None:
    excerpt = (REF / "cloud-amd64-128M-1cpu.txt").read_text()
    text = _capture(excerpt)
    ev = parse_bundle_text(text, "capture.log", machine="pc")
    d = ev.dmesg
    assert d is not None and d.memory is not None
    # the live copy is not counted: 14 hash tables, not 28; 6 frees, not 12
    assert len(d.hash_tables) == 14 and _tables(d) == CLOUD_128_TABLES
    assert d.freed_kib == 9624 and len(d.freed) == 6
    # line numbers point into the capture, at the dump's copy of the line
    lines = text.split("\r\n")
    assert lines[d.memory.line_number - 1].startswith("[    0.000000] Memory: 80308K/130552K")
    assert d.memory.line_number > lines.index("######## PROBE-DUMP-BEGIN ########")
    assert ev.sections == (
        "uname -a",
        "/proc/cmdline",
        "dmesg",
        "/proc/meminfo",
        "/proc/slabinfo",
        "/proc/zoneinfo",
        "/proc/vmstat",
        "/proc/sys/vm/min_free_kbytes",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/devices/system/cpu/possible",
        "/sys/devices/system/cpu/online",
        "/proc/meminfo (again, end of dump)",
    )
    assert ev.uname is not None and ev.uname.startswith("Linux (none) 6.1.0-56-cloud-amd64")
    assert ev.cmdline == "console=ttyS0 loglevel=8 log_buf_len=1M panic=-1"
    assert ev.min_free_kbytes == 1135 and ev.thp_mode == "never"
    assert ev.meminfo is not None and ev.meminfo["MemTotal"] == 90192 and ev.meminfo["HugePages_Total"] == 0
    assert ev.meminfo_end is not None and ev.meminfo_end["MemFree"] == 63668
    # quirk §3.2: MemTotal = B - reserved + freed, exactly, on x86
    assert d.memory.physical_kib - d.memory.reserved_kib + d.freed_kib == ev.meminfo["MemTotal"]
    assert ev.slabinfo is not None and [c.name for c in ev.slabinfo.caches] == ["inode_cache", "dentry"]
    assert ev.slabinfo.caches[0].cache_kib == 405 * 4 * 4
    assert ev.zoneinfo is not None and [z.name for z in ev.zoneinfo.zones] == ["DMA", "DMA32", "Normal"]
    assert ev.zoneinfo.pcp_kib == 740  # reference §6.1 row: pcp 740 kB
    assert (ev.vcpu_count, ev.possible_cpu_count, ev.machine) == (1, 1, "pc")
    assert ev.memory_kib == 128 * 1024
    assert len(ev.sha256) == 64


def test_console_capture_failed_boot_uses_live_console() -> None:
    excerpt = (REF / "cloud-amd64-128M-1cpu.txt").read_text()
    panic = "[    3.351234] Kernel panic - not syncing: System is deadlocked on memory\n"
    cut = (
        excerpt[: excerpt.index("[    1.841379]")]
        + "[    3.350000] Out of memory and no killable processes...\n"
        + panic
    )
    ev = parse_bundle_text(_capture(cut, dump=False), "failed.log")
    d = ev.dmesg
    assert d is not None and d.memory is not None and d.memory.reserved_kib == 49984
    assert d.panic == "System is deadlocked on memory" and d.oom and not d.run_init
    assert ev.sections == () and ev.meminfo is None
    assert [f.what for f in d.freed] == ["SMP alternatives"]


def test_console_capture_s390x_without_thp() -> None:
    excerpt = (REF / "s390x-128M-1cpu.txt").read_text()
    missing = "cat: can't open '/sys/kernel/mm/transparent_hugepage/enabled': No such file or directory"
    uname = "Linux (none) 6.1.0-50-s390x #1 SMP Debian 6.1.176-1 s390x GNU/Linux"
    text = _capture(excerpt, thp=missing, x86_console=False, uname=uname)
    assert "\r" not in text and "\x1b" not in text
    ev = parse_bundle_text(text, "s390x.log")
    assert ev.thp_mode is None
    assert ev.dmesg is not None and ev.dmesg.arch == "s390x" and len(ev.dmesg.hash_tables) == 14
    assert ev.memory_kib == 128 * 1024


def test_manifest_hook(tmp_path: Path) -> None:
    excerpt = (REF / "cloud-amd64-128M-1cpu.txt").read_text()
    log = tmp_path / "128MiB-1cpu.log"
    log.write_bytes(_capture(excerpt).encode())
    from planner.evidence import load_evidence

    # no manifest: vCPUs from the dump, no machine type, so no memory rule applies (the excerpt has no e820)
    ev = load_evidence(log)
    assert (ev.memory_kib, ev.vcpu_count, ev.machine) == (None, 1, None)
    (tmp_path / "manifest.json").write_text(
        '{"boots": [{"log": "other.log", "memory_kib": 1}, '
        '{"log": "128MiB-1cpu.log", "memory_kib": 131072, "vcpu_count": 1, "machine": "pc"}]}'
    )
    ev = load_evidence(log)
    assert (ev.memory_kib, ev.vcpu_count, ev.machine) == (131072, 1, "pc")
    # explicit values win over the manifest
    ev = load_evidence(log, memory_kib=262144, vcpu_count=2)
    assert (ev.memory_kib, ev.vcpu_count, ev.machine) == (262144, 2, "pc")
    # the manifest gives only the machine: memory is inferred with the pc rule
    (tmp_path / "manifest.json").write_text('[{"file": "128MiB-1cpu.log", "machine": "pc"}]')
    assert load_evidence(log).memory_kib == 131072
    assert load_evidence(log).sha256 == __import__("hashlib").sha256(log.read_bytes()).hexdigest()


def test_infer_memory_from_e820_matches_pc_rule() -> None:
    """The e820 rule and the pc physpages rule agree on a qemu pc firmware map (lines as in bootlab logs)."""
    e820 = (
        "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
        "[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n"
        "[    0.000000] BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved\n"
        "[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable\n"
        "[    0.000000] BIOS-e820: [mem 0x00000000bffe0000-0x00000000bfffffff] reserved\n"
        "[    0.000000] BIOS-e820: [mem 0x00000000feffc000-0x00000000feffffff] reserved\n"
        "[    0.000000] BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved\n"
        "[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000023fffffff] usable\n"
        "[    0.000000] BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] reserved\n"
    )
    d = parse_dmesg(e820 + (REF / "cloud-amd64-8192M-1cpu.txt").read_text(), "8g.txt")
    assert d.e820[0].end == 0x9FC00 and d.e820[-1].kind == "reserved"  # end inclusive -> exclusive
    assert d.e820[3].size_bytes == 0xBFFE0000 - 0x100000
    assert d.arch is None  # e820 lines without a DMA32 zone line: 32-bit x86 is not excluded
    by_e820 = _memory_kib(d, None)
    by_pc = _memory_kib(d, "pc")
    assert by_e820 == by_pc == 8192 * 1024
    assert _memory_kib(replace(d, memory=None), "pc") == 8192 * 1024  # falls through to e820
