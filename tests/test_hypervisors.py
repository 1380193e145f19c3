"""Hypervisor overhead models against the worked numbers of overhead-formulas-and-peers.md."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.hypervisors import build_params, esxi, xen
from planner.inputs.profiles import list_profile_names, load_hypervisor_profile
from planner.units import KIB_PER_GIB, KIB_PER_MIB

PROFILES = Path(__file__).parent.parent / "profiles" / "hypervisors"


@pytest.mark.parametrize(
    ("profile", "guest_mib", "total_mib"),
    [
        # §1.2 "Worked numbers (verified here)": PV 64 -> 66, 128 -> 130; HVM+HAP 64 -> 68, 128 -> 132
        ("xen-pv", 64, 66),
        ("xen-pv", 128, 130),
        ("xen-hvm", 64, 68),
        ("xen-hvm", 128, 132),
    ],
)
def test_libxl_need_matches_the_worked_numbers(profile: str, guest_mib: int, total_mib: int) -> None:
    params = load_hypervisor_profile(profile).params
    assert xen.libxl_need_kib(guest_mib * KIB_PER_MIB, 1, params) == total_mib * KIB_PER_MIB


def test_libxl_shadow_mode_gives_the_same_after_rounding() -> None:
    # §1.2: "Shadow mode gives the same after 2 MiB rounding" (2 pages per MiB instead of 1)
    hap = load_hypervisor_profile("xen-hvm").params
    shadow = build_params("xen-libxl", {**hap.__dict__, "paging_pages_per_mib": 2})
    assert xen.libxl_need_kib(64 * KIB_PER_MIB, 1, shadow) == 68 * KIB_PER_MIB


@pytest.mark.parametrize(
    ("profile", "guest_mib", "overhead_mib"),
    [
        # §1.3 "Worked numbers (verified here)": 64 and 128 MiB, 1 vCPU: HVM 4, PV 3; 1 GiB: HVM 11, PV 10
        ("xenserver-hvm", 64, 4),
        ("xenserver-hvm", 128, 4),
        ("xenserver-pv", 64, 3),
        ("xenserver-pv", 128, 3),
        ("xenserver-hvm", 1024, 11),
        ("xenserver-pv", 1024, 10),
    ],
)
def test_xapi_overhead_matches_the_worked_numbers(profile: str, guest_mib: int, overhead_mib: int) -> None:
    hyp = load_hypervisor_profile(profile)
    assert xen.xapi_overhead_mib(guest_mib, 1, hyp.params) == overhead_mib
    assert hyp.host_overhead_kib(guest_mib * KIB_PER_MIB, 1) == overhead_mib * KIB_PER_MIB


ESXI_TABLE = {  # §1.8 vSphere 6.5/6.7 "Sample Overhead Memory on Virtual Machines", MB
    256: (20.29, 24.28, 32.23, 48.16),
    1024: (25.90, 29.91, 37.86, 53.82),
    4096: (48.64, 52.72, 60.67, 76.78),
    16384: (139.62, 143.98, 151.93, 168.60),
}


@pytest.mark.parametrize("memory_mb", sorted(ESXI_TABLE))
@pytest.mark.parametrize(("column", "vcpus"), list(enumerate([1, 2, 4, 8])))
def test_esxi_table_points_are_exact(memory_mb: int, column: int, vcpus: int) -> None:
    params = load_hypervisor_profile("esxi").params
    assert esxi.overhead_mib(memory_mb, vcpus, params) == pytest.approx(
        ESXI_TABLE[memory_mb][column], abs=1e-9
    )


def test_esxi_interpolates_between_points() -> None:
    params = load_hypervisor_profile("esxi").params
    # halfway between the 256 and 1024 MB rows at 1 vCPU
    assert esxi.overhead_mib(640, 1, params) == pytest.approx((20.29 + 25.90) / 2)
    # 3 vCPUs: halfway between the 2 and 4 vCPU columns of the 4096 MB row
    assert esxi.overhead_mib(4096, 3, params) == pytest.approx((52.72 + 60.67) / 2)
    # below the smallest row: the smallest row (an upper bound; the table has no value there)
    assert esxi.overhead_mib(64, 1, params) == pytest.approx(20.29)
    # beyond the largest row: extrapolated from the last two rows
    slope = (139.62 - 48.64) / (16384 - 4096)
    assert esxi.overhead_mib(32768, 1, params) == pytest.approx(139.62 + slope * 16384)


@pytest.mark.parametrize(("guest_mib", "overhead_kib"), [(64, 512), (128, 1024), (1024, 8192)])
def test_zvm_pgmbk_is_8_kib_per_mib(guest_mib: int, overhead_kib: int) -> None:
    # §1.9 / §0 table: 8 KiB PGMBK per MiB: 64 MiB -> 512 KiB, 128 MiB -> 1 MiB
    assert load_hypervisor_profile("zvm").host_overhead_kib(guest_mib * KIB_PER_MIB, 1) == overhead_kib


def test_qemu_tcg_profile_is_the_measured_overhead() -> None:
    # libvirt-recipes.md §3: overhead RSS 94.2 MiB (1 vCPU), +2.4 MiB per extra vCPU; page tables
    # RAM/512; of the 94.2 MiB, 23 MiB of file pages (qemu and its libraries) count once per host
    hyp = load_hypervisor_profile("qemu-tcg")
    one = hyp.host_overhead_kib(256 * KIB_PER_MIB, 1)
    assert one == pytest.approx((94.2 - 23) * KIB_PER_MIB + 256 * KIB_PER_MIB / 512 + 256, abs=1)
    assert hyp.params.shared_file_kib == 23 * KIB_PER_MIB
    assert hyp.host_reserve_kib([4 * KIB_PER_GIB], 2) == (hyp.params.daemon_kib + 23 * KIB_PER_MIB,)
    # a capacity-only host (a cgroup holding the qemu processes) pays the file pages, not libvirtd
    assert hyp.capacity_reserve_kib() == 23 * KIB_PER_MIB
    # kvm-qemu's 50 MiB is an RSS estimate, not split: no shared term
    assert load_hypervisor_profile("kvm-qemu").capacity_reserve_kib() == 0
    four = hyp.host_overhead_kib(256 * KIB_PER_MIB, 4)
    # measured 101.3 MiB at 4 vCPUs against 94.1 at 1
    assert (four - one) / KIB_PER_MIB == pytest.approx(101.3 - 94.1, abs=0.1)


def test_dom0_reserve_follows_the_citrix_rule() -> None:
    # §1.4 Citrix Hypervisor 8.x: 1 GiB + 5 % of RAM, at most 8 GiB; plus Xen's 128 MB
    hyp = load_hypervisor_profile("xen-pv")
    five_percent_kib = math.ceil(0.05 * 64 * KIB_PER_GIB)
    assert hyp.host_reserve_kib([64 * KIB_PER_GIB], 16) == (
        128 * KIB_PER_MIB + KIB_PER_GIB + five_percent_kib,
    )
    assert hyp.host_reserve_kib([512 * KIB_PER_GIB, 512 * KIB_PER_GIB], 64) == (
        128 * KIB_PER_MIB + 8 * KIB_PER_GIB,
        0,
    )


def test_every_shipped_parameter_names_a_source() -> None:
    for name in list_profile_names("hypervisors"):
        hyp = load_hypervisor_profile(name)
        assert hyp.sources, name
        for param, src in hyp.sources.items():
            assert len(src.source) > 20, f"{name}.{param}"


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(list_profile_names("hypervisors")),
    st.integers(1, 64 * KIB_PER_GIB),
    st.integers(1, 2 * KIB_PER_GIB),
    st.integers(1, 32),
    st.integers(0, 32),
)
def test_host_cost_is_monotone_in_ram_and_overhead_in_vcpus(
    name: str, memory_kib: int, extra_kib: int, vcpus: int, extra_vcpus: int
) -> None:
    # The overhead beyond RAM alone is not monotone in RAM under libxl (need is rounded up to
    # 2 MiB), but what a guest costs the host, RAM + overhead, is.
    hyp = load_hypervisor_profile(name)
    base = hyp.host_overhead_kib(memory_kib, vcpus)
    assert base >= 0
    bigger = memory_kib + extra_kib
    assert bigger + hyp.host_overhead_kib(bigger, vcpus) >= memory_kib + base
    assert hyp.host_overhead_kib(memory_kib, vcpus + extra_vcpus) >= base


def test_build_params_rejects_unknown_and_missing_parameters() -> None:
    with pytest.raises(InputError, match="unknown parameter for model zvm; expected one of") as err:
        build_params("zvm", {"pgmbk_kib_per_mib": 8, "user_block_kib": 0, "cp_reserve_kib": 0, "typo": 1})
    assert err.value.field == "typo"
    with pytest.raises(InputError, match="model zvm needs parameter"):
        build_params("zvm", {"pgmbk_kib_per_mib": 8})
    with pytest.raises(InputError, match="expected one of esxi, kvm-qemu"):
        build_params("hyperv", {})


def test_a_parameter_check_names_its_parameter(tmp_path: Path) -> None:
    text = (PROFILES / "kvm-qemu.yaml").read_text()
    assert "    value: 512\n" in text
    path = tmp_path / "kvm.yaml"
    path.write_text(text.replace("    value: 512\n", "    value: 0\n"))
    line = text.splitlines().index("    value: 512") + 1
    with pytest.raises(InputError) as err:
        load_hypervisor_profile(str(path))
    assert str(err.value) == (
        f"{path}:{line}: parameters.page_table_ram_divisor: expected a whole number >= 1; found 0"
    )
    table = {"table_memory_mib": [256, 1024], "table_vcpu_count": [1, 2]}
    values = {**table, "table_overhead_mib": [[20.29, 24.28], [25.90, 29.91]], "system_kib": 0}
    with pytest.raises(InputError, match=r"^free_reserve_fraction: expected a number below 1; found 1\.5$"):
        build_params("esxi", {**values, "free_reserve_fraction": 1.5})


@pytest.mark.parametrize("name", ["kvm-qemu", "qemu-tcg"])
def test_libvirtd_with_four_guests_is_the_measured_rss(name: str) -> None:
    # libvirt-recipes.md §3: "libvirtd itself: 32.7 -> 33.7 MiB RSS" with four guests running;
    # the daemon's own reserve and its growth per guest must add up to that, not count it twice.
    params = load_hypervisor_profile(name).params
    assert params.daemon_kib / KIB_PER_MIB == pytest.approx(32.7, abs=0.05)
    assert (params.daemon_kib + 4 * params.per_guest_daemon_kib) / KIB_PER_MIB == pytest.approx(
        33.7, abs=0.05
    )
