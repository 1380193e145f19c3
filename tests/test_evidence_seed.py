"""The seed talk's excerpts (tests/data/seed, verbatim; see its README) parse field by field.

Every expected value below is read off the quoted log line in the comment above it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.evidence import (
    MemoryRange,
    load_evidence,
    parse_dmesg,
    parse_meminfo,
    parse_size,
    parse_slabtop,
)

SEED = Path(__file__).parent / "data" / "seed"


@pytest.fixture(scope="module")
def seed_dmesg_text() -> str:
    return (SEED / "dmesg.txt").read_text()


def test_memory_line_2_6(seed_dmesg_text: str) -> None:
    dmesg = parse_dmesg(seed_dmesg_text, "dmesg.txt")
    m = dmesg.memory
    assert m is not None
    # Memory: 1003884k/1039360k available (3384k kernel code, 34360k reserved, 2355k data, 220k init)
    assert m.format == "2.6"
    assert (m.available_kib, m.physical_kib) == (1003884, 1039360)
    assert (m.kernel_code_kib, m.reserved_kib, m.data_kib, m.init_kib) == (3384, 34360, 2355, 220)
    assert (m.rwdata_kib, m.rodata_kib, m.bss_kib, m.cma_reserved_kib, m.highmem_kib, m.absent_kib) == (
        None,
    ) * 6
    assert m.line_number == 20  # dmesg.txt line 20 is the Memory: line
    assert seed_dmesg_text.splitlines()[m.line_number - 1].startswith("Memory: 1003884k/")


def test_hash_tables_2_6(seed_dmesg_text: str) -> None:
    tables = parse_dmesg(seed_dmesg_text, "dmesg.txt").hash_tables
    # PID hash table entries: 4096 (order: 12, 32768 bytes)
    # Dentry cache hash table entries: 131072 (order: 8, 1048576 bytes)
    # Inode-cache hash table entries: 65536 (order: 7, 524288 bytes)
    # Mount-cache hash table entries: 256
    # IP route cache hash table entries: 32768 (order: 6, 262144 bytes)
    # TCP established hash table entries: 65536 (order: 9, 3670016 bytes)
    # TCP bind hash table entries: 32768 (order: 8, 1835008 bytes)
    # (TCP: Hash tables configured ... is not a table)
    assert [(t.name, t.entries, t.order, t.size_bytes, t.size_printed) for t in tables] == [
        ("PID", 4096, 12, 32768, True),
        ("Dentry cache", 131072, 8, 1048576, True),
        ("Inode-cache", 65536, 7, 524288, True),
        ("Mount-cache", 256, 0, 4096, False),  # one page, 2.6.18 fs/namespace.c mnt_init()
        ("IP route cache", 32768, 6, 262144, True),
        ("TCP established", 65536, 9, 3670016, True),
        ("TCP bind", 32768, 8, 1835008, True),
    ]
    assert all(t.placement is None and t.timestamp_s is None for t in tables)
    assert [t.line_number for t in tables] == list(range(21, 28))


def test_e820_2_6_end_exclusive(seed_dmesg_text: str) -> None:
    dmesg = parse_dmesg(seed_dmesg_text, "dmesg.txt")
    # BIOS-e820: 0000000000000000 - 000000000009fc00 (usable)
    # ...
    # BIOS-e820: 00000000ffe00000 - 0000000100000000 (reserved)
    assert dmesg.e820 == (
        MemoryRange(0x0, 0x9FC00, "usable"),
        MemoryRange(0x9FC00, 0xA0000, "reserved"),
        MemoryRange(0xE0000, 0x100000, "reserved"),
        MemoryRange(0x100000, 0x3F5BF000, "usable"),
        MemoryRange(0x3F5BF000, 0x3F5CC000, "reserved"),
        MemoryRange(0x3F5CC000, 0x3F652000, "usable"),
        MemoryRange(0x3F652000, 0x3F6EB000, "ACPI NVS"),
        MemoryRange(0x3F6EB000, 0x3F6EF000, "usable"),
        MemoryRange(0x3F6EF000, 0x3F6FF000, "ACPI data"),
        MemoryRange(0x3F6FF000, 0x3F700000, "usable"),
        MemoryRange(0x3F700000, 0x40000000, "reserved"),
        MemoryRange(0xFFE00000, 0x100000000, "reserved"),
    )
    usable_bytes = sum(r.size_bytes for r in dmesg.e820 if r.kind == "usable")
    # the talk: "BIOS 10.05MB (0.98% of total)" lost of 1 GiB; the usable ranges sum to 1013.91 MiB
    # (the talk's own rounding of 1013.95 is not reproducible to the last digit)
    assert usable_bytes == 0x9FC00 + (0x3F5BF000 - 0x100000) + (0x3F652000 - 0x3F5CC000) + 0x4000 + 0x1000
    assert usable_bytes / 2**20 == pytest.approx(1024 - 10.05, abs=0.05)


def test_zones_and_total_pages(seed_dmesg_text: str) -> None:
    dmesg = parse_dmesg(seed_dmesg_text, "dmesg.txt")
    # On node 0 totalpages: 251483
    # DMA zone: 1415 pages, LIFO batch:0
    # DMA32 zone: 250068 pages, LIFO batch:31
    assert dmesg.total_pages == 251483
    assert dmesg.node_total_pages == ((0, 251483),)
    assert [(z.zone, z.pages) for z in dmesg.zones] == [("DMA", 1415), ("DMA32", 250068)]
    # no 'Linux version' line; BIOS-e820 lines and a DMA32 zone exist only on x86-64
    assert dmesg.linux_version is None and dmesg.release is None
    assert dmesg.arch == "x86_64"
    assert dmesg.freed == () and not dmesg.run_init and dmesg.panic is None


def test_slabtop_wrapped_rows() -> None:
    slab = parse_slabtop((SEED / "slabtop.txt").read_text(), "slabtop.txt")
    assert slab.version == "slabtop"
    # Active / Total Objects (% used) : 85349 / 88654 (96.3%); Slabs (wrapped) : 12340 / 12340;
    # Caches : 94 / 136; Size (wrapped) : 40022.52K / 40466.88K; Min/Avg/Max Object : 0.02K / 0.46K / 128.00K
    assert slab.summary == {
        "Active / Total Objects (% used)": (85349, 88654),
        "Active / Total Slabs (% used)": (12340, 12340),
        "Active / Total Caches (% used)": (94, 136),
        "Active / Total Size (% used)": (40022.52, 40466.88),
    }
    assert slab.object_size_kib == (0.02, 0.46, 128.0)
    assert len(slab.caches) == 15
    dentry = slab.caches[0]
    # 20560 20560 100% 0.24K 1285 / 16 / 5140K dentry_cache
    assert (dentry.name, dentry.num_objs, dentry.active_objs, dentry.num_slabs, dentry.objs_per_slab) == (
        "dentry_cache",
        20560,
        20560,
        1285,
        16,
    )
    assert dentry.cache_kib == 5140
    assert dentry.obj_size_bytes == round(0.24 * 1024)
    assert dentry.pages_per_slab is None
    # 12534 12528 99% 1.35K 6267 / 2 25068K ext3_inode_cache  (a row wrapped after 5 columns)
    ext3 = slab.caches[1]
    assert (
        ext3.name,
        ext3.num_objs,
        ext3.active_objs,
        ext3.num_slabs,
        ext3.objs_per_slab,
        ext3.cache_kib,
    ) == (
        "ext3_inode_cache",
        12534,
        12528,
        6267,
        2,
        25068,
    )
    # 1395 1395 100% 0.25K 93 / 15 / 372K skbuff_head_cache
    last = slab.caches[-1]
    assert (last.name, last.num_objs, last.num_slabs, last.objs_per_slab, last.cache_kib) == (
        "skbuff_head_cache",
        1395,
        93,
        15,
        372,
    )
    # every cache of this 2.6.18 excerpt uses one-page slabs: CACHE SIZE = SLABS * 4 KiB
    assert all(c.cache_kib == 4 * c.num_slabs for c in slab.caches)
    assert slab.total_kib == sum(c.cache_kib for c in slab.caches)


def test_meminfo_wrapped_labels() -> None:
    meminfo = parse_meminfo((SEED / "meminfo.txt").read_text(), "meminfo.txt")
    # MemTotal: / 1004104 kB; MemFree: / 578576 kB; ...; CommitLimit: 1032156 kB; Committed_AS: 194788 kB
    assert meminfo.fields_kib == {
        "MemTotal": 1004104,
        "MemFree": 578576,
        "Buffers": 16436,
        "Cached": 249040,
        "SwapCached": 0,
        "Active": 166312,
        "Inactive": 186184,
        "LowTotal": 1004104,
        "LowFree": 578576,
        "SwapTotal": 530104,
        "SwapFree": 530104,
        "Dirty": 2248,
        "Writeback": 0,
        "AnonPages": 86940,
        "Mapped": 37172,
        "Slab": 50008,
        "PageTables": 4932,
        "CommitLimit": 1032156,
        "Committed_AS": 194788,
    }
    assert meminfo["MemTotal"] == 1004104 and "Slab" in meminfo and meminfo.get("SReclaimable") is None


def test_size_berkeley() -> None:
    size = parse_size((SEED / "size.txt").read_text(), "size.txt")
    # text data bss dec hex filename / 4791288 1185948 626328 6603564 64c32c vmlinux
    assert (size.text_bytes, size.data_bytes, size.bss_bytes, size.dec_bytes, size.filename) == (
        4791288,
        1185948,
        626328,
        6603564,
        "vmlinux",
    )


def test_seed_directory_bundle() -> None:
    """The seed directory loads as one Evidence (files dmesg/meminfo/slabtop/size with .txt)."""
    ev = load_evidence(SEED)
    assert ev.dmesg is not None and ev.dmesg.memory is not None
    assert ev.meminfo is not None and ev.meminfo["MemTotal"] == 1004104
    assert ev.slabinfo is not None and ev.slabinfo.version == "slabtop"
    assert ev.size is not None and ev.size.text_bytes == 4791288
    assert ev.zoneinfo is None
    assert len(ev.sha256) == 64
    # e820 rule: highest range below 3.5 GiB ends at 0x40000000 -> the machine's 1 GiB
    assert ev.memory_kib == 1024 * 1024
    # the 2.6 second figure is end_pfn (holes included): 1039360k = 0x3f700000 (last usable end)
    assert ev.dmesg.memory.physical_kib * 1024 == 0x3F700000
