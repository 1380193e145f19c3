"""The structural kernel model against measured values.

Golden numbers come from real Debian 6.1 boots under qemu 7.2 TCG, as tabulated
in ../shared/reference/bootlab-debian-6.1.md (§3, §6.1, §6.2) and the LOG128
boot of kernel-memory-facts.md §1.4; each case names its row. Tolerance is
exact unless stated: these terms are computed, not fitted.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.errors import InputError
from planner.kernel.cmdline import crashkernel_kib, log_buffer_kib, parse_cmdline, swiotlb_kib
from planner.kernel.hashtables import hash_tables
from planner.kernel.layout import clip_layout, guest_layout, host_layout, memmap_kib, nr_kernel_pages
from planner.kernel.watermarks import ZoneManaged, mem_available_kib, watermarks

# (MiB, physpages "B" of the Memory: line, dmesg "Total pages") cloud-amd64 §6.1 and §4
X86_PC = [
    (76, 77304, None),
    (128, 130552, 31968),
    (512, 523768, None),
    (4096, 4193784, None),
    (8192, 8388088, 2064096),
]
S390X = [(128, 131072, 32256), (8192, 8388608, 2064384)]


@pytest.mark.parametrize(("mib", "physpages_kib", "total_pages"), X86_PC)
def test_x86_pc_layout(mib: int, physpages_kib: int, total_pages: int | None) -> None:
    layout = guest_layout("x86_64", mib * 1024, "pc")
    assert layout.present_kib == physpages_kib
    if total_pages is not None:
        assert nr_kernel_pages(layout) == total_pages


@pytest.mark.parametrize(("mib", "physpages_kib", "total_pages"), S390X)
def test_s390x_layout(mib: int, physpages_kib: int, total_pages: int) -> None:
    layout = guest_layout("s390x", mib * 1024)
    assert layout.present_kib == physpages_kib
    assert nr_kernel_pages(layout) == total_pages


@pytest.mark.parametrize(
    ("arch", "mib", "memmap"),
    [
        ("x86_64", 128, 2048),
        ("x86_64", 3072, 49152),
        ("x86_64", 4096, 65536),
        ("x86_64", 8192, 131072),
        ("s390x", 64, 4096),
        ("s390x", 512, 8192),
        ("s390x", 8192, 131072),
    ],
)
def test_memmap_per_section(arch: str, mib: int, memmap: int) -> None:
    # §3.1: 2048 KiB per 128 MiB section on x86 (qemu pc >3.5 GiB: 24 low + the rest above 4 GiB);
    # 4096 KiB per 256 MiB section on s390x.
    assert memmap_kib(guest_layout(arch, mib * 1024)) == memmap


def test_mem_limit_clips_address_space() -> None:
    # §4 "512M-1cpu-mem256M": Memory: 209268K/261752K
    layout = clip_layout(guest_layout("x86_64", 512 * 1024), 256 * 1024)
    assert layout.present_kib == 261752


HASH_COLUMNS = [
    "Dentry cache",
    "Inode-cache",
    "Mount-cache",
    "futex",
    "IP idents",
    "TCP established",
    "TCP bind",
    "tcp_listen_portaddr_hash",
    "UDP",
    "MPTCP token",
    "Table-perturb",
]
# §6.2, bytes, 1 vCPU (cloud-amd64; amd64 identical; s390x identical but futex 65536)
HASH_ROWS = {
    76: [131072, 65536, 4096, 16384, 16384, 8192, 32768, 4096, 8192, 6144, 262144],
    192: [262144, 131072, 4096, 16384, 32768, 16384, 65536, 4096, 8192, 6144, 262144],
    384: [524288, 262144, 8192, 16384, 65536, 32768, 131072, 4096, 8192, 12288, 262144],
    768: [1048576, 524288, 16384, 16384, 131072, 65536, 262144, 8192, 16384, 24576, 262144],
    2048: [2097152, 1048576, 32768, 16384, 262144, 131072, 524288, 16384, 32768, 49152, 262144],
    8192: [8388608, 4194304, 131072, 16384, 1048576, 524288, 2097152, 65536, 131072, 196608, 262144],
}
S390X_SMALL = {  # §6.2 s390x rows below the x86 minimum
    64: [65536, 32768, 4096, 65536, 16384, 4096, 16384, 4096, 8192, 6144, 262144],
    46: [65536, 32768, 4096, 65536, 16384, 4096, 16384, 4096, 8192, 6144, 262144],
}


@pytest.mark.parametrize("mib", sorted(HASH_ROWS))
@pytest.mark.parametrize("arch", ["x86_64", "s390x"])
def test_hash_tables_exact(arch: str, mib: int) -> None:
    expected = list(HASH_ROWS[mib])
    if arch == "s390x":
        expected[3] = 65536  # 256-byte cache lines
    tables = {
        t.name: t.size_bytes for t in hash_tables(arch, nr_kernel_pages(guest_layout(arch, mib * 1024)))
    }
    assert [tables[name] for name in HASH_COLUMNS] == expected


@pytest.mark.parametrize("mib", sorted(S390X_SMALL))
def test_hash_tables_small_s390x(mib: int) -> None:
    tables = {
        t.name: t.size_bytes for t in hash_tables("s390x", nr_kernel_pages(guest_layout("s390x", mib * 1024)))
    }
    assert [tables[name] for name in HASH_COLUMNS] == S390X_SMALL[mib]


def test_hash_cmdline_overrides() -> None:
    # §4 "512M-1cpu-hash1024": Dentry 1024 (8192 bytes), Inode 1024, TCP established 1024 (8192)
    cmd = "dhash_entries=1024 ihash_entries=1024 thash_entries=1024 uhash_entries=256"
    tables = {
        t.name: t
        for t in hash_tables("x86_64", nr_kernel_pages(guest_layout("x86_64", 512 * 1024)), cmdline=cmd)
    }
    assert tables["Dentry cache"].size_bytes == 8192
    assert tables["Inode-cache"].size_bytes == 8192
    assert tables["TCP established"].entries == 1024
    assert tables["UDP"].entries == 256


def test_futex_scales_with_possible_cpus() -> None:
    # §3.3: the futex hash doubles with the number of possible CPUs (256 -> 512 -> 1024 entries)
    pages = nr_kernel_pages(guest_layout("x86_64", 128 * 1024))
    entries = [
        {t.name: t.entries for t in hash_tables("x86_64", pages, possible_cpu_count=n)}["futex"]
        for n in (1, 2, 4)
    ]
    assert entries == [256, 512, 1024]


def test_adaptive_scaling_above_64gib() -> None:
    # kernel-memory-facts.md §1.5: dentry 64 MiB at 64 GiB and still 64 MiB at 128 GiB (adapt +1)
    for gib in (64, 128):
        layout = host_layout("x86_64", [gib * 1024 * 1024])
        dentry = next(t for t in hash_tables("x86_64", nr_kernel_pages(layout)) if t.name == "Dentry cache")
        assert dentry.size_bytes == 64 * 1024 * 1024


def test_swiotlb_crashkernel_log_buffer() -> None:
    assert swiotlb_kib(None, needed=True) == 66316  # §3.1
    assert swiotlb_kib("noforce", needed=True) == 0
    assert swiotlb_kib(None, needed=False) == 0
    assert guest_layout("x86_64", 4096 * 1024).above_4g
    assert not guest_layout("x86_64", 3072 * 1024).above_4g
    assert crashkernel_kib("128M", None, 523768, 0) == 131072  # §5.6
    assert crashkernel_kib("384M-:128M", None, 523768, 0) == 131072  # Debian kdump-tools default
    assert crashkernel_kib("384M-:128M", None, 261752, 0) == 0
    assert crashkernel_kib("1G-4G:192M,4G-:256M", None, 8 * 1024 * 1024, 0) == 262144
    assert log_buffer_kib(1024, 128) == 4608  # §1.2: log_buf_len=1M adds exactly 4608 kB
    assert log_buffer_kib(64, 128) == 0


def test_bad_cmdline_values_are_clear() -> None:
    with pytest.raises(InputError, match="crashkernel="):
        crashkernel_kib("lots", None, 523768, 0)
    with pytest.raises(InputError, match="nr_cpus="):
        parse_cmdline("nr_cpus=many")


@pytest.mark.parametrize(
    ("totalram_kib", "min_free"),
    # §6.1 cloud-amd64 min_free_kbytes; totalram at the Memory: line = physpages - reserved
    [(77304 - 49984, 661), (130552 - 49984, 1135), (523768 - 56704, 2733), (1048056 - 65664, 45056)],
)
def test_min_free_kbytes(totalram_kib: int, min_free: int) -> None:
    zones = [ZoneManaged(0, "DMA", 3840), ZoneManaged(0, "DMA32", totalram_kib // 4 - 3840)]
    wm = watermarks(zones, thp_available=True, pageblock_pages=512)
    assert wm.min_free_kbytes == min_free


def test_thp_three_zones() -> None:
    # §3.4: 67584 kB with DMA, DMA32 and Normal populated
    zones = [ZoneManaged(0, "DMA", 3840), ZoneManaged(0, "DMA32", 700000), ZoneManaged(0, "Normal", 1300000)]
    assert watermarks(zones, thp_available=True, pageblock_pages=512).min_free_kbytes == 67584
    assert watermarks(zones, thp_available=False, pageblock_pages=512).min_free_kbytes < 67584


@given(st.integers(min_value=16 * 1024, max_value=64 * 1024 * 1024), st.booleans())
def test_watermarks_monotone(managed_kib: int, thp: bool) -> None:
    zones = [ZoneManaged(0, "DMA", 3840), ZoneManaged(0, "DMA32", managed_kib // 4)]
    wm = watermarks(zones, thp_available=thp, pageblock_pages=512)
    assert 128 <= wm.min_free_kbytes <= 262144
    assert all(lo <= hi for lo, hi in zip(wm.low_pages, wm.high_pages, strict=True))
    assert 0 <= mem_available_kib(managed_kib, wm) <= managed_kib


def test_host_layout_per_node() -> None:
    layout = host_layout("x86_64", [32 * 1024 * 1024, 32 * 1024 * 1024])
    assert layout.node_count == 2
    assert layout.node_present_kib(0) == layout.node_present_kib(1) == 32 * 1024 * 1024
    assert layout.node_section_count(0) == layout.node_section_count(1) == 256
