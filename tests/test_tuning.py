"""planner tune: the issue's known facts on real boots, the candidate lists, the recommendation.

Boot logs: tests/data/bootlab/tune/ (kernels, command lines and commands in its README).
Each pair is two boots of one kernel at one size, with and without a change; the measured
difference is compared with the model's (:func:`planner.kernel.tuning_check.check_change`):
``reserved`` and MemTotal within 64 KiB (the issue's criterion), hash tables exactly.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import pytest

from planner.errors import EvidenceError, InputError
from planner.evidence import load_evidence
from planner.inputs.calibrations import load_calibration
from planner.kernel.calibration import Calibration
from planner.kernel.cmdline import parse_cmdline
from planner.kernel.host import predict_host
from planner.kernel.model import GuestSpec, predict
from planner.kernel.percpu import memcg_percpu_map_kib, percpu_unit_kib
from planner.kernel.runtime import dma_pools_kib
from planner.kernel.tuning import HASH_MIN_ENTRIES, tune_guest, tune_host, tuned_hash_entries
from planner.kernel.tuning_check import ChangeCheck, check_change, describe_change
from planner.kernel.tuning_facts import OPTIONS, kernel_version, parse_version
from planner.kernel.tuning_results import Change, apply_changes

DATA = Path(__file__).parent / "data" / "bootlab" / "tune"
MIB = 1024
GIB = 1024 * 1024
TOLERANCE_KIB = 64
#: MemAvailable of two identical boots differs by up to ~630 KiB (512 MiB, default against
#: 1 MiB log buffer: measured +5188 for a +4608 change); judged at 768 KiB or 5 %
MEM_AVAILABLE_NOISE_KIB = 768

CALIBRATION = {"cloud-amd64": "debian12-cloud-amd64", "amd64": "debian12-amd64", "s390x": "debian12-s390x"}


def _cal(name: str) -> Calibration:
    return load_calibration(name)


def _check(kernel_dir: str, baseline: str, changed: str) -> ChangeCheck:
    return check_change(
        _cal(CALIBRATION[kernel_dir]),
        load_evidence(DATA / kernel_dir / f"{baseline}.log"),
        load_evidence(DATA / kernel_dir / f"{changed}.log"),
    )


# --- the known facts: measured in the committed logs AND predicted by the model ----------
@pytest.mark.parametrize(
    ("kernel_dir", "baseline", "changed", "saved_kib"),
    [
        # hash tables at 1024 entries at 512 MiB: 752 KiB of reserved (Dentry 504 + Inode 248)
        ("cloud-amd64", "512MiB-1cpu-base", "512MiB-1cpu-hash1024", 752),
        # swiotlb=noforce at 4 GiB: the 64 MiB bounce buffer and its slots
        ("cloud-amd64", "4GiB-1cpu-base", "4GiB-1cpu-swiotlb-noforce", 66316),
        # the default log buffer against log_buf_len=1M, on all three kernels
        ("cloud-amd64", "512MiB-1cpu-base", "512MiB-1cpu-logbuf-default", 4608),
        ("amd64", "512MiB-1cpu-base", "512MiB-1cpu-logbuf-default", 4608),
        ("s390x", "512MiB-1cpu-base", "512MiB-1cpu-logbuf-default", 4608),
        ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-logbuf-default", 4608),
        ("s390x", "64MiB-1cpu-base", "64MiB-1cpu-logbuf-default", 4608),
    ],
)
def test_known_fact_measured_and_predicted(
    kernel_dir: str, baseline: str, changed: str, saved_kib: int
) -> None:
    check = _check(kernel_dir, baseline, changed)
    reserved, mem_total = check.delta("reserved_kib"), check.delta("mem_total_kib")
    assert (reserved.measured_kib, mem_total.measured_kib) == (-saved_kib, saved_kib)  # the logs
    assert abs(reserved.predicted_kib + saved_kib) <= TOLERANCE_KIB  # the model
    assert abs(mem_total.predicted_kib - saved_kib) <= TOLERANCE_KIB
    assert check.agrees


def test_known_fact_hash_tables_table_by_table() -> None:
    """Each resized table as dmesg prints it, against the model's alloc_large_system_hash()."""
    check = _check("cloud-amd64", "512MiB-1cpu-base", "512MiB-1cpu-hash1024")
    tables = {
        d.quantity: (d.measured_kib, d.predicted_kib) for d in check.deltas if d.quantity.startswith("hash:")
    }
    assert tables == {
        "hash:Dentry cache": (-504, -504),  # 65536 -> 1024 entries of 8 bytes
        "hash:Inode-cache": (-248, -248),  # 32768 -> 1024
        "hash:TCP established": (-24, -24),  # 4096 -> 1024
        "hash:TCP bind": (-96, -96),  # follows TCP established: 4096 -> 1024 entries of 32 bytes
        "hash:tcp_listen_portaddr_hash": (12, 12),  # thash_entries= also sizes it: 256 -> 1024 (grows)
    }
    assert check.label == "+dhash_entries=1024 +ihash_entries=1024 +thash_entries=1024 +uhash_entries=256"


# every other verified change: (kernel, baseline, changed, measured MemTotal delta)
OTHER_CHANGES = [
    ("cloud-amd64", "512MiB-1cpu-base", "512MiB-1cpu-crashkernel128M", -131072),
    ("cloud-amd64", "1GiB-1cpu-base", "1GiB-1cpu-thp-never", 0),
    ("cloud-amd64", "512MiB-1cpu-possible4", "512MiB-1cpu-possible4-nr_cpus1", 768),
    ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-nokmem", 0),
    ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-coherent_pool4K", 0),
    ("cloud-amd64", "128MiB-1cpu-base", "128MiB-1cpu-dhash-ihash1024", 176),
    ("s390x", "64MiB-1cpu-base", "64MiB-1cpu-dhash-ihash1024", 80),
    ("s390x", "64MiB-1cpu-base", "64MiB-1cpu-nokmem", 0),
    ("cloud-amd64", "128MiB-1cpu-tune00-baseline", "128MiB-1cpu-tune01-cgroup.memory_nokmem", 0),
    ("cloud-amd64", "128MiB-1cpu-tune00-baseline", "128MiB-1cpu-tune02-coherent_pool_4K", 0),
    ("cloud-amd64", "128MiB-1cpu-tune00-baseline", "128MiB-1cpu-tune03-dhash_entries_1024", 120),
    ("cloud-amd64", "128MiB-1cpu-tune00-baseline", "128MiB-1cpu-tune04-ihash_entries_1024", 56),
    ("cloud-amd64", "128MiB-1cpu-tune00-baseline", "128MiB-1cpu-tune99-recommended", 176),
    ("s390x", "64MiB-1cpu-tune00-baseline", "64MiB-1cpu-tune01-cgroup.memory_nokmem", 0),
    ("s390x", "64MiB-1cpu-tune00-baseline", "64MiB-1cpu-tune02-dhash_entries_1024", 56),
    ("s390x", "64MiB-1cpu-tune00-baseline", "64MiB-1cpu-tune03-ihash_entries_1024", 24),
    ("s390x", "64MiB-1cpu-tune00-baseline", "64MiB-1cpu-tune99-recommended", 80),
]


@pytest.mark.parametrize(("kernel_dir", "baseline", "changed", "mem_total_kib"), OTHER_CHANGES)
def test_verified_change(kernel_dir: str, baseline: str, changed: str, mem_total_kib: int) -> None:
    """MemTotal and reserved within 64 KiB, every table exact, MemAvailable within the boot noise."""
    check = _check(kernel_dir, baseline, changed)
    assert check.delta("mem_total_kib").measured_kib == mem_total_kib
    assert check.agrees, [d for d in check.deltas if d.agrees is False]
    avail = check.delta("mem_available_kib")
    assert abs(avail.error_kib) <= max(MEM_AVAILABLE_NOISE_KIB, abs(avail.measured_kib) // 20), avail


def test_runtime_hogs_measured_where_the_model_puts_them() -> None:
    """nokmem: VmallocUsed falls by the per-CPU chunk's memcg map, twice the unit (dmesg ``u``);
    coherent_pool=4K: three 4 KiB pools instead of three of 128 KiB (dmesg ``DMA: preallocated``)."""
    for kernel_dir, size, unit_bytes in (("cloud-amd64", "128MiB", 2097152), ("s390x", "64MiB", 131072)):
        base = load_evidence(DATA / kernel_dir / f"{size}-1cpu-base.log")
        nokmem = load_evidence(DATA / kernel_dir / f"{size}-1cpu-nokmem.log")
        assert base.dmesg is not None and base.dmesg.percpu is not None
        assert base.dmesg.percpu.unit_bytes == unit_bytes
        assert base.meminfo is not None and nokmem.meminfo is not None
        drop = base.meminfo["VmallocUsed"] - nokmem.meminfo["VmallocUsed"]
        cal = _cal(CALIBRATION[kernel_dir])
        map_kib = memcg_percpu_map_kib(cal.arch, cal.parameters.percpu_kib_per_cpu, 1)
        assert map_kib == 2 * unit_bytes // 1024
        assert abs(drop - map_kib) <= 8  # measured 4104 (model 4096) and 256 (256)
    text = (DATA / "cloud-amd64" / "128MiB-1cpu-coherent_pool4K.log").read_text(errors="replace")
    pools = re.findall(r"\] DMA: preallocated (\d+) KiB", text.split("==== dmesg")[1])
    assert pools == ["4", "4", "4"]
    assert dma_pools_kib(3, 90000, 4) == 12 and dma_pools_kib(3, 90000) == 384


def test_percpu_unit_matches_the_dmesg_percpu_lines() -> None:
    """``pcpu_build_alloc_info()``: 2 MiB atoms on x86-64 shared by the possible CPUs."""
    four = load_evidence(DATA / "cloud-amd64" / "512MiB-1cpu-possible4.log")
    assert four.dmesg is not None and four.dmesg.percpu is not None
    assert percpu_unit_kib("x86_64", 244, 4) * 1024 == four.dmesg.percpu.unit_bytes == 524288
    assert [percpu_unit_kib("x86_64", 244, n) for n in (1, 2, 4, 8, 32)] == [2048, 1024, 512, 256, 256]
    assert [percpu_unit_kib("s390x", 128, n) for n in (1, 4)] == [128, 128]


# --- command line parsing the model relies on ----------------------------------------------------
def test_cmdline_options_for_tuning() -> None:
    assert parse_cmdline("possible_cpus=4 nr_cpus=1").possible_cpu_count(1) == 1
    assert parse_cmdline("nr_cpus=1 possible_cpus=4").possible_cpu_count(1) == 1  # a cap, in any order
    assert parse_cmdline("nr_cpus=8").possible_cpu_count(4) == 4  # never raises the machine's count
    assert parse_cmdline("possible_cpus=6").possible_cpu_count(2) == 6
    assert parse_cmdline("cgroup.memory=nosocket,nokmem").kmem_accounting is False
    assert parse_cmdline("cgroup.memory=nosocket").kmem_accounting is True
    assert parse_cmdline("coherent_pool=4K").coherent_pool_kib == 4
    assert parse_cmdline("cma=0").cma_kib == 0 and parse_cmdline("vmcp_cma=0M").cma_kib == 0
    assert parse_cmdline("cma=64M@0-4G").cma_kib == 64 * MIB


def test_apply_changes_replaces_and_removes_every_token_of_a_key() -> None:
    line = "console=ttyS0 crashkernel=256M,high crashkernel=64M,low dhash_entries=4096 quiet"
    changes = [
        Change("crashkernel", "crashkernel=256M,high", remove=True),
        Change("dhash_entries", "dhash_entries=1024"),
    ]
    assert apply_changes(line, changes) == "console=ttyS0 quiet dhash_entries=1024"
    assert describe_change(line, apply_changes(line, changes)) == (
        "+dhash_entries=1024 -crashkernel=256M,high -crashkernel=64M,low -dhash_entries=4096"
    )


def test_hash_rule_and_versions() -> None:
    assert [tuned_hash_entries(m, "dhash_entries") for m in (64 * MIB, 512 * MIB, 4 * GIB, 64 * GIB)] == [
        1024,
        1024,
        4096,
        65536,
    ]
    assert tuned_hash_entries(1 * GIB, "uhash_entries") == 1024  # one per MiB
    assert tuned_hash_entries(128 * MIB, "uhash_entries") == 256  # UDP_HTABLE_SIZE_MIN, not 1024
    assert tuned_hash_entries(128 * MIB, "dhash_entries", min_entries=64) == 128
    assert HASH_MIN_ENTRIES == 1024
    assert parse_version("6.1.0-56-cloud-amd64") == (6, 1, 0) and parse_version("2.6.18-rc4") == (2, 6, 18)
    assert parse_version("") is None and parse_version("linux") is None
    assert OPTIONS["uhash_entries"].exists_in((2, 6, 32)) is False and OPTIONS["uhash_entries"].exists_in(
        (2, 6, 33)
    )
    assert OPTIONS["rhash_entries"].exists_in((3, 6)) is False and OPTIONS["rhash_entries"].exists_in(
        (2, 6, 18)
    )
    assert kernel_version(_cal("linux-2.6.18-seed")) == (2, 6, 18)  # no release: the era of its rules


# --- candidate lists -----------------------------------------------------------------------------
def test_candidates_cloud_amd64_128mib() -> None:
    result = tune_guest(_cal("debian12-cloud-amd64"), GuestSpec(128 * MIB, 1))
    by_option = {c.change.label: c for c in result.candidates}
    assert list(by_option) == [
        "cgroup.memory=nokmem",
        "coherent_pool=4K",
        "dhash_entries=1024",
        "ihash_entries=1024",
    ]
    # the terms are exact: the memcg map (2 x 2 MiB unit), 3 pools of 128 -> 4 KiB, table bytes
    assert by_option["cgroup.memory=nokmem"].terms_kib == {"vmalloc": 4096}
    assert by_option["coherent_pool=4K"].terms_kib == {"runtime_other": 372}
    assert by_option["dhash_entries=1024"].terms_kib["hash_tables_early"] == 120  # 16384 -> 1024 entries
    assert by_option["ihash_entries=1024"].terms_kib["hash_tables_early"] == 56  # 8192 -> 1024
    for c in result.candidates:  # what the kernel keeps less: the named term, give or take the watermarks
        main = max(c.terms_kib.values())
        assert c.saving_kib > 0 and abs(c.saving_kib - main) <= 16, c
        assert c.facts.risk and c.facts.versions and c.facts.source
    assert by_option["dhash_entries=1024"].totals_delta_kib["mem_total_kib"] == 120
    assert [(t.name, t.entries_before, t.entries_after) for t in by_option["dhash_entries=1024"].tables] == [
        ("Dentry cache", 16384, 1024)
    ]
    skipped = {s.key: s.reason for s in result.skipped}
    assert skipped["swiotlb"] == "no bounce buffer at this size (no RAM above 4 GiB)"
    assert skipped["thash_entries"] == "TCP established already has 1024 entries at this size"
    assert skipped["crashkernel"] == "no crashkernel= to remove"
    assert skipped["cma"] == "CONFIG_CMA is not set in this build"
    assert skipped["transparent_hugepage"].startswith("THP is off already: totalram below 512 MiB")
    assert skipped["nr_cpus"] == "no more CPUs possible than online"


def test_candidates_s390x_64mib() -> None:
    result = tune_guest(_cal("debian12-s390x"), GuestSpec(64 * MIB, 1))
    assert [(c.change.label, max(c.terms_kib.values())) for c in result.candidates] == [
        ("cgroup.memory=nokmem", 256),  # 2 x the 128 KiB unit (PAGE_SIZE atoms)
        ("dhash_entries=1024", 56),  # 8192 -> 1024 entries
        ("ihash_entries=1024", 24),  # 4096 -> 1024
    ]
    skipped = {s.key: s.reason for s in result.skipped}
    assert skipped["swiotlb"] == "this build and machine allocate no swiotlb"
    assert skipped["transparent_hugepage"] == "no THP in this build/machine"
    assert skipped["coherent_pool"] == "no DMA atomic pools in this build"
    assert skipped["vmcp_cma"].startswith("no CMA area on this machine")


def test_existing_cmdline_is_taken_into_account() -> None:
    cal = _cal("debian12-cloud-amd64")
    result = tune_guest(
        cal, GuestSpec(128 * MIB, 1, cmdline="quiet dhash_entries=2048 log_buf_len=1M crashkernel=16M")
    )
    labels = [c.change.label for c in result.candidates]
    assert "remove crashkernel=16M" in labels and "remove log_buf_len=1M" in labels
    assert not any(label.startswith("dhash_entries") for label in labels)
    assert {s.key: s.reason for s in result.skipped}["dhash_entries"] == "already on the command line"
    removal = next(c for c in result.candidates if c.change.key == "crashkernel")
    assert removal.terms_kib["crashkernel"] == 16 * MIB
    assert "quiet" in result.recommendation.cmdline and "crashkernel" not in result.recommendation.cmdline
    zvm = tune_guest(_cal("debian12-s390x"), GuestSpec(64 * MIB, 1, machine="zvm"))
    assert {s.key: s.reason for s in zvm.skipped}["vmcp_cma"].endswith(
        "serve movable (user) pages: no saving"
    )


def test_recommendation_is_predict_with_the_merged_cmdline() -> None:
    cal = _cal("debian12-cloud-amd64")
    spec = GuestSpec(512 * MIB, 1, 4, "console=ttyS0 log_buf_len=1M")
    result = tune_guest(cal, spec)
    rec = result.recommendation
    assert rec.after.prediction == predict(
        cal, dataclasses.replace(spec, cmdline=rec.cmdline), out_of_range="ignore"
    )
    assert rec.before.prediction == predict(cal, spec, out_of_range="ignore")
    assert rec.saving_kib == rec.before.kernel_kib - rec.after.kernel_kib > 0
    assert (
        rec.after.totals_kib["mem_available_kib"] - rec.before.totals_kib["mem_available_kib"]
        == rec.saving_kib
    )
    # nr_cpus=1 costs alone (the memcg map grows as fewer CPUs share the 2 MiB atom) and
    # saves with cgroup.memory=nokmem, which drops that map: predicted together, not summed
    assert "nr_cpus" in {s.key for s in result.skipped}
    assert [c.label for c in rec.combined_only] == ["nr_cpus=1"]
    assert rec.saving_kib > rec.summed_kib
    assert rec.cmdline.startswith("console=ttyS0 ") and "log_buf_len" not in rec.cmdline


def test_workload_lowers_usable_not_the_savings() -> None:
    cal = _cal("debian12-cloud-amd64")
    plain = tune_guest(cal, GuestSpec(128 * MIB, 1))
    loaded = tune_guest(cal, GuestSpec(128 * MIB, 1), workload_kernel_kib=2048)
    assert loaded.baseline.totals_kib["usable_kib"] == plain.baseline.totals_kib["usable_kib"] - 2048
    assert loaded.recommendation.saving_kib == plain.recommendation.saving_kib


def test_host_64gib_candidates() -> None:
    cal = _cal("debian12-amd64")
    result = tune_host(cal, [64 * GIB], 32)
    by_key = {c.change.key: c for c in result.candidates}
    assert by_key["swiotlb"].terms_kib["swiotlb"] == 66316
    assert by_key["dhash_entries"].change.option == "dhash_entries=65536"  # one bucket per MiB
    assert by_key["dhash_entries"].terms_kib["hash_tables"] == (8388608 - 65536) * 8 // 1024
    assert by_key["transparent_hugepage"].terms_kib == {"reserves": by_key["transparent_hugepage"].saving_kib}
    rec = result.recommendation
    assert rec.after.prediction == predict_host(cal, [64 * GIB], 32, rec.cmdline)
    assert rec.saving_kib == result.baseline.kernel_kib - rec.after.kernel_kib > 150 * MIB
    assert result.to_json()["recommendation"]["cmdline"] == rec.cmdline


def test_2_6_18_seed_gets_the_talks_options_only() -> None:
    """The talk's list (dhash/ihash/thash/rhash_entries=) on its own kernel; newer options are gated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tune_guest(_cal("linux-2.6.18-seed"), GuestSpec(1024 * MIB, 1))
    assert sorted(c.change.key for c in result.candidates) == [
        "dhash_entries",
        "ihash_entries",
        "rhash_entries",
        "thash_entries",
    ]
    assert {s.key: s.reason for s in result.skipped}["cgroup.memory"].startswith("not in Linux 2.6.18: ")


def test_check_change_refuses_boots_of_different_sizes() -> None:
    cal = _cal("debian12-cloud-amd64")
    a = load_evidence(DATA / "cloud-amd64" / "128MiB-1cpu-base.log")
    b = load_evidence(DATA / "cloud-amd64" / "512MiB-1cpu-base.log")
    with pytest.raises(
        EvidenceError,
        match=r"memory_kib: expected the same memory_kib as the baseline .* \(131072\); found 524288",
    ):
        check_change(cal, a, b)


def test_verification_variants() -> None:
    from planner.bootlab.tune import kernel_package, verification_variants

    cal = _cal("debian12-cloud-amd64")
    spec = GuestSpec(512 * MIB, 1, 4, "quiet")
    result = tune_guest(cal, spec)
    variants = verification_variants(result, spec)
    assert variants[0].tag == "tune00-baseline" and variants[0].cmdline == "quiet possible_cpus=4"
    assert variants[1].tag == "tune01-cgroup.memory_nokmem" and variants[1].cmdline.endswith(
        "cgroup.memory=nokmem"
    )
    assert variants[-1].label == "recommended" and "nr_cpus=1" in variants[-1].cmdline
    assert len(variants) == len(result.candidates) + 2
    assert kernel_package(cal) == "linux-image-cloud-amd64"
    assert kernel_package(_cal("debian12-s390x")) == "linux-image-s390x:s390x"
    with pytest.raises(InputError, match="a host kernel cannot be booted here"):
        verification_variants(tune_host(cal, [64 * GIB], 32), spec)


def test_same_usable_memory_is_the_smallest_resized_guest() -> None:
    """A 128 MiB guest with the recommended line keeps its usable memory at 124 MiB (not 123):
    what the packing can give back to the host per guest."""
    cal = _cal("debian12-cloud-amd64")
    spec = GuestSpec(128 * MIB, 1)
    rec = tune_guest(cal, spec).recommendation
    assert rec.same_usable_memory_kib == 124 * MIB
    target = predict(cal, spec).mem_available_kib
    for mib, enough in ((124, True), (123, False)):
        tuned = dataclasses.replace(spec, memory_kib=mib * MIB, cmdline=rec.cmdline)
        assert (predict(cal, tuned, out_of_range="ignore").mem_available_kib >= target) is enough
    # never below the smallest size seen to boot (76 MiB), however much is saved
    big_saving = tune_guest(cal, GuestSpec(96 * MIB, 1, cmdline="log_buf_len=1M crashkernel=16M"))
    assert big_saving.recommendation.saving_kib > 20 * MIB
    assert big_saving.recommendation.same_usable_memory_kib == 76 * MIB == cal.min_boot_memory_kib
    assert tune_host(cal, [64 * GIB], 32).recommendation.same_usable_memory_kib is None
