"""Bad input gives one EvidenceError naming file, line and field, saying what was expected and found."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from planner.errors import EvidenceError, InputError
from planner.evidence import (
    load_evidence,
    parse_bundle_text,
    parse_dmesg,
    parse_meminfo,
    parse_size,
    parse_slabinfo,
    parse_slabtop,
    parse_zoneinfo,
    require_arch,
    require_memory_line,
)

REF = Path(__file__).parent / "data" / "reference-6.1"
MEMORY_LINE = (
    "[    0.000000] Memory: 80308K/130552K available (14343K kernel code, 2327K rwdata, 8348K rodata, "
    "2612K init, 5436K bss, 49984K reserved, 0K cma-reserved)"
)
EXPECTED_MEMORY = (
    "expected 'Memory: AK/PK available (NK kernel code, NK rwdata, NK rodata, NK init, NK bss, "
    "NK reserved, NK cma-reserved)'"
)


def test_evidence_error_is_an_input_error() -> None:
    assert issubclass(EvidenceError, InputError) and issubclass(EvidenceError, ValueError)


def test_truncated_memory_line() -> None:
    text = "[    0.000000] Kernel command line: quiet\n" + MEMORY_LINE[:90]
    with pytest.raises(EvidenceError) as info:
        parse_dmesg(text, "boot.log")
    err = info.value
    assert (err.file, err.line, err.field) == ("boot.log", 2, "Memory")
    assert str(err).startswith(
        f"boot.log:2: Memory: truncated 'Memory:' line: {EXPECTED_MEMORY} or the 2.6 form "
    )
    assert str(err).endswith(
        "found 'Memory: 80308K/130552K available (14343K kernel code, 2327K rwdata, 8348K r'"
    )


def test_malformed_memory_line_names_missing_items() -> None:
    text = "[    0.000000] Memory: 80308K/130552K available (14343K kernel code, 2327K rwdata)\n"
    with pytest.raises(EvidenceError) as info:
        parse_dmesg(text, "boot.log")
    assert str(info.value) == (
        f"boot.log:1: Memory: malformed 'Memory:' line: {EXPECTED_MEMORY}; found "
        "'Memory: 80308K/130552K available (14343K kernel code, 2327K rwdata)' "
        "(missing 'rodata', 'init', 'bss', 'reserved')"
    )


def test_memory_line_with_unknown_item() -> None:
    text = MEMORY_LINE.replace("0K cma-reserved", "12K bogus") + "\n"
    with pytest.raises(EvidenceError, match=r"boot.log:1: Memory: malformed .*\(unexpected 'bogus'\)$"):
        parse_dmesg(text, "boot.log")


def test_two_different_memory_lines() -> None:
    text = MEMORY_LINE + "\n" + MEMORY_LINE.replace("80308K", "80312K") + "\n"
    with pytest.raises(
        EvidenceError, match=r"^b:2: Memory: a second, different 'Memory:' line \(the first is at line 1\)"
    ):
        parse_dmesg(text, "b")
    # the same line twice (a duplicated console line) is one Memory line
    assert parse_dmesg(MEMORY_LINE + "\n" + MEMORY_LINE + "\n", "b").memory is not None


def test_two_boots_in_one_log() -> None:
    text = "Linux version 6.1.0-56-cloud-amd64 (x)\nLinux version 6.1.0-56-cloud-amd64 (x)\n"
    with pytest.raises(EvidenceError) as info:
        parse_dmesg(text, "b")
    assert str(info.value) == (
        "b:2: Linux version: a second 'Linux version' line (the first is at line 1): expected one boot per "
        "log; pass the '==== dmesg' section of a capture, or split the log"
    )


def test_unknown_architecture() -> None:
    text = "[    0.000000] Linux version 6.1.0-9-arm64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP\n"
    with pytest.raises(EvidenceError) as info:
        parse_dmesg(text, "arm.log")
    assert str(info.value) == (
        "arm.log:1: Linux version: unknown architecture: expected a kernel for x86_64 or s390x; "
        "found aarch64 (from release '6.1.0-9-arm64')"
    )
    ok = parse_dmesg("Linux version 4.18.0-513.el8.x86_64 (mockbuild@x) (gcc 8.5)\n", "el8.log")
    assert (ok.release, ok.arch) == ("4.18.0-513.el8.x86_64", "x86_64")
    assert parse_dmesg("Linux version 6.1.0-50-s390x (x)\n").arch == "s390x"


def test_require_arch() -> None:
    d = parse_dmesg("Linux version 2.6.18-rc4 (ak@linux) (gcc version 4.0.2)\n", "old.log")
    assert d.release == "2.6.18-rc4" and d.arch is None
    with pytest.raises(EvidenceError) as info:
        require_arch(d, "old.log")
    assert str(info.value).startswith("old.log: arch: unknown architecture: expected a 'Linux version' line")
    assert str(info.value).endswith("found release '2.6.18-rc4'")
    assert require_arch(parse_dmesg((REF / "s390x-128M-1cpu.txt").read_text()), "s") == "s390x"


def test_require_memory_line_says_what_is_left() -> None:
    text = (
        "[    0.100000] Dentry cache hash table entries: 16384 (order: 5, 131072 bytes, linear)\n"
        "[    0.100000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
        "[    0.200000] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"
    )
    d = parse_dmesg(text, "early.log")
    assert d.panic == "VFS: Unable to mount root fs on unknown-block(0,0)"
    with pytest.raises(EvidenceError) as info:
        require_memory_line(d, "early.log")
    assert str(info.value) == (
        "early.log: Memory: expected a 'Memory: AK/PK available (...)' line; found none "
        "(the boot stopped before mem_init?); hash tables and e820 ranges can still be read"
    )
    with pytest.raises(EvidenceError, match=r"found none \(the log is empty\)$"):
        require_memory_line(parse_dmesg(""), "empty.log")
    full = parse_dmesg((REF / "cloud-amd64-128M-1cpu.txt").read_text())
    assert require_memory_line(full, "x") is full.memory


def test_malformed_hash_table_line() -> None:
    text = "[    0.1] Dentry cache hash table entries: 16384 (order: 5, 131072 bytes, sideways)\n"
    with pytest.raises(EvidenceError) as info:
        parse_dmesg(text, "h")
    assert str(info.value) == (
        "h:1: hash table: malformed hash table line: expected 'NAME hash table entries: N (order: O, B bytes"
        "[, linear|vmalloc|vmalloc hugepage])'; found 'Dentry cache hash table entries: 16384 (order: 5, "
        "131072 bytes, sideways)'"
    )


def test_binary_input() -> None:
    with pytest.raises(EvidenceError) as info:
        parse_dmesg("abc\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 10, "bin")
    assert (
        str(info.value)
        == "bin:1: expected a text log; found binary data (110 of 140 characters are not printable)"
    )


def test_damaged_memory_line_is_refused() -> None:
    damaged = MEMORY_LINE.replace("130552K", "130\x00552K")
    with pytest.raises(
        EvidenceError, match=r"^d:1: Memory: damaged 'Memory:' line: it contains non-printing bytes"
    ):
        parse_dmesg(damaged + "\n", "d")


def test_meminfo_errors() -> None:
    with pytest.raises(EvidenceError) as info:
        parse_meminfo("MemTotal:       1004104 kB\nMemFree:        5785", "meminfo")
    assert str(info.value) == (
        "meminfo:2: MemFree: expected 'MemFree: 5785 kB'; found no 'kB' after the value (truncated?)"
    )
    with pytest.raises(EvidenceError) as info:
        parse_meminfo("MemTotal:       1004104 kB\nMemTotal:       1004104 kB\n", "meminfo")
    assert (
        str(info.value)
        == "meminfo:2: MemTotal: expected each field once; found 'MemTotal' again (first at line 1)"
    )
    with pytest.raises(EvidenceError) as info:
        parse_meminfo("MemTotal:       1004104 kB\nfoo bar\n", "meminfo")
    assert str(info.value) == "meminfo:2: expected 'Name: value kB' (or 'HugePages_Name: count'); found 'foo'"
    with pytest.raises(EvidenceError, match="found no meminfo field"):
        parse_meminfo("\n...\n", "meminfo")


def test_slabinfo_errors() -> None:
    with pytest.raises(EvidenceError) as info:
        parse_slabinfo("slabinfo - version: 1.1\n", "slabinfo")
    assert str(info.value) == "slabinfo:1: expected slabinfo version '2.1' or '2.1 (statistics)'; found '1.1'"
    row = "kmalloc-8  100 100 8 512 1 : tunables 0 0 0 : slabdata 1"
    with pytest.raises(EvidenceError) as info:
        parse_slabinfo(f"slabinfo - version: 2.1\n# name ...\n{row}\n", "slabinfo")
    assert str(info.value) == (
        "slabinfo:3: malformed slabinfo row: expected 'name active_objs num_objs objsize objperslab "
        f"pagesperslab : tunables L B S : slabdata A N S'; found '{row}'"
    )
    with pytest.raises(
        EvidenceError, match=r"^slabinfo:1: expected 'slabinfo - version: 2.1'; found 'MemTotal:"
    ):
        parse_slabinfo("MemTotal: 1 kB\n", "slabinfo")


def test_slabtop_errors() -> None:
    header = "  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME\n"
    with pytest.raises(EvidenceError) as info:
        parse_slabtop(header + "20560 20560 100% 0.24K 1285 16\n", "slabtop")
    assert str(info.value) == (
        "slabtop:2: truncated slabtop row: expected 8 columns (OBJS ACTIVE USE OBJ SIZE SLABS OBJ/SLAB "
        "CACHE SIZE NAME); found '20560 20560 100% 0.24K 1285 16'"
    )
    with pytest.raises(EvidenceError) as info:
        parse_slabtop(header + "20560 20560 100% 0.24K 1285 16 5140 dentry\n", "slabtop")
    assert (
        str(info.value)
        == "slabtop:2: CACHE SIZE: malformed slabtop row: expected CACHE SIZE column; found '5140'"
    )
    with pytest.raises(EvidenceError, match="truncated slabtop output: the last line has no newline"):
        parse_slabtop(header + "20560 20560 100% 0.24K 1285 16 5140K dentry_ca", "slabtop")
    with pytest.raises(EvidenceError, match="expected slabtop output"):
        parse_slabtop("hello\n", "slabtop")


def test_zoneinfo_errors() -> None:
    # a 2.6.18 zone: no 'managed' line
    old = (
        "Node 0, zone      DMA\n  pages free     1\n        min      13\n        low      16\n"
        "        high     19\n        active   0\n        spanned  4096\n        present  2619\n"
    )
    with pytest.raises(EvidenceError) as info:
        parse_zoneinfo(old, "zoneinfo")
    assert str(info.value) == (
        "zoneinfo:1: node0.DMA: zone DMA of node 0: expected the lines 'pages free', 'min', 'low', 'high', "
        "'spanned', 'present', 'managed' (kernels >= 3.8); found no 'managed' (truncated?)"
    )
    with pytest.raises(
        EvidenceError, match=r"^zoneinfo:1: expected 'Node N, zone NAME' first; found 'pages free"
    ):
        parse_zoneinfo("  pages free 3\n", "zoneinfo")
    with pytest.raises(EvidenceError, match="found none"):
        parse_zoneinfo("", "zoneinfo")


def test_size_errors() -> None:
    with pytest.raises(EvidenceError) as info:
        parse_size("text data bss dec hex filename\n4791288 1185948 626328 6603565 64c32c vmlinux\n", "size")
    assert str(info.value) == (
        "size:2: size: expected dec = hex = text + data + bss = 6603564 (64c32c); found dec 6603565, hex "
        "64c32c in '4791288 1185948 626328 6603565 64c32c vmlinux'"
    )
    with pytest.raises(EvidenceError, match=r"^size:1: expected Berkeley 'size' output"):
        parse_size("vmlinux  :\nsection  size  addr\n", "size")
    two = "text data bss dec hex filename\n1 1 1 3 3 a.o\n1 1 1 3 3 b.o\n"
    with pytest.raises(EvidenceError, match=r"expected one row for vmlinux; found 2 rows \(a.o, b.o\)"):
        parse_size(two, "size")
    assert parse_size(two.replace("b.o", "build/vmlinux"), "size").filename == "build/vmlinux"


def test_bundle_section_errors() -> None:
    with pytest.raises(EvidenceError) as info:
        parse_bundle_text("==== /proc/sys/vm/min_free_kbytes\nabc\n", "b")
    assert str(info.value) == "b:2: min_free_kbytes: expected an integer (kB); found 'abc'"
    with pytest.raises(EvidenceError) as info:
        parse_bundle_text("==== /sys/kernel/mm/transparent_hugepage/enabled\nalways madvise never\n", "b")
    assert str(info.value) == (
        "b:2: transparent_hugepage: expected a value such as 'always [madvise] never'; "
        "found 'always madvise never'"
    )
    # an error inside a section is located at the line of the whole file
    with pytest.raises(EvidenceError, match=r"^b:5: MemFree: expected 'MemFree: 12 kB'"):
        parse_bundle_text("live\n==== uname -a\nLinux\n==== /proc/meminfo\nMemFree: 12\n", "b")


def test_silent_reset_capture() -> None:
    text = (
        "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)\r\nBooting from ROM...\r\n"
        "Probing EDD (edd=off to disable)... o\x1bc\x1b[?7l\x1b[2J"
    )
    with pytest.raises(EvidenceError) as info:
        parse_bundle_text(text, "64MiB-1cpu.log")
    assert str(info.value) == (
        "64MiB-1cpu.log: expected a kernel log (dmesg or a console capture); found 3 lines and none the "
        "planner reads ('Linux version', 'Memory:', '... hash table entries:', 'BIOS-e820:' ...), the last "
        "being 'Probing EDD (edd=off to disable)... o' "
        "(a guest that reset before the kernel printed anything?)"
    )


def test_file_errors(tmp_path: Path) -> None:
    gz = tmp_path / "boot.log.gz"
    gz.write_bytes(gzip.compress(b"Memory: 1k/1k available"))
    with pytest.raises(EvidenceError) as info:
        load_evidence(gz)
    assert (
        str(info.value)
        == f"{gz}:1: expected a text log; found gzip-compressed data (starts with b'\\x1f\\x8b')"
    )
    with pytest.raises(
        EvidenceError, match="expected a log file or a directory of evidence files; found nothing"
    ):
        load_evidence(tmp_path / "missing.log")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(EvidenceError) as info:
        load_evidence(empty_dir)
    assert str(info.value) == (
        f"{empty_dir}: expected files named dmesg, meminfo, slabinfo, slabtop, zoneinfo, size "
        "in the directory; found none"
    )
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with pytest.raises(EvidenceError, match=r"empty.log: expected a kernel log; found an empty file$"):
        load_evidence(empty)


def test_manifest_errors(tmp_path: Path) -> None:
    log = tmp_path / "boot.log"
    log.write_text(MEMORY_LINE + "\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{bad")
    with pytest.raises(EvidenceError, match=r"manifest.json:1: expected JSON; found Expecting property name"):
        load_evidence(log)
    manifest.write_text('{"boots": [{"log": "boot.log", "memory_kib": "128M"}]}')
    with pytest.raises(EvidenceError) as info:
        load_evidence(log)
    assert str(info.value) == f"{manifest}: memory_kib: expected a positive integer; found '128M'"
    # a manifest that does not list this log is ignored
    manifest.write_text('{"other.log": {"memory_kib": 1}}')
    assert load_evidence(log).memory_kib is None


def test_bootlab_directory_skips_failed_boots_only(tmp_path: Path) -> None:
    """load_logs skips a boot that failed (with its reason) but raises for one that dumped."""
    from planner.evidence.logset import load_logs

    bootlab = Path(__file__).parent / "data" / "bootlab" / "cloud-amd64"
    for name in ("64MiB-1cpu.log", "128MiB-1cpu.log"):
        (tmp_path / name).write_bytes((bootlab / name).read_bytes())
    manifest = tmp_path / "manifest.json"

    def write_manifest(memory_kib: object) -> None:
        manifest.write_text(
            '{"boots": [{"log": "64MiB-1cpu.log", "outcome": "silent-reset", "memory_kib": 65536},'
            f' {{"log": "128MiB-1cpu.log", "outcome": "dump", "memory_kib": {memory_kib}}}]}}'
        )

    write_manifest(131072)
    logs = load_logs([tmp_path])
    assert [e.memory_kib for e in logs.evidences] == [131072]
    assert logs.skipped == ((str(tmp_path / "64MiB-1cpu.log"), "silent-reset: no kernel output"),)
    write_manifest('"lots"')
    with pytest.raises(EvidenceError) as info:
        load_logs([tmp_path])
    assert str(info.value) == f"{manifest}: memory_kib: expected a positive integer; found 'lots'"
    write_manifest(131072)
    (tmp_path / "128MiB-1cpu.log").write_bytes(gzip.compress(b"not a log"))
    with pytest.raises(EvidenceError, match=r"128MiB-1cpu.log:1: expected a text log; found gzip"):
        load_logs([tmp_path])
