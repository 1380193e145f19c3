"""planner tune --verify on live boots: three changes and the recommendation, booted under qemu.

A 96 MiB cloud-amd64 guest whose command line reserves a crash kernel and a 1 MiB log buffer:
the library proposes removing both and shrinking the Dentry table (among others); the test
boots the baseline, those three changes and the merged recommendation, two at a time under
TCG (about 5 s each), and checks that MemTotal moved as predicted, within 64 KiB.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from planner.bootlab import fetch, qemu
from planner.bootlab.tune import verify_tuning
from planner.inputs.calibrations import load_calibration
from planner.kernel.model import GuestSpec
from planner.kernel.tuning import tune_guest

MIB = 1024


@pytest.fixture(scope="module")
def cloud_kernel() -> Path:
    if shutil.which(qemu.QEMU_BINARY["x86_64"]) is None:
        pytest.skip(
            f"{qemu.QEMU_BINARY['x86_64']} not installed (Debian package {qemu.QEMU_PACKAGE['x86_64']})"
        )
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not available: cannot fetch the Debian cloud kernel")
    try:
        return fetch.kernel_in_package(fetch.fetch_package("linux-image-cloud-amd64"))
    except fetch.FetchError as err:
        pytest.skip(f"cannot fetch linux-image-cloud-amd64: {err}")


@pytest.mark.qemu
def test_verify_three_changes_on_live_boots(cloud_kernel: Path, tmp_path: Path) -> None:
    cal = load_calibration("debian12-cloud-amd64")
    spec = GuestSpec(96 * MIB, 1, cmdline="log_buf_len=1M crashkernel=16M")
    result = tune_guest(cal, spec)
    wanted = {"crashkernel": 16 * MIB, "log_buf_len": 4608, "dhash_entries": 120}  # predicted MemTotal gain
    changes = [c.change for c in result.candidates if c.change.key in wanted]
    assert sorted(c.key for c in changes) == sorted(wanted)
    for c in result.candidates:
        if c.change.key in wanted:
            assert c.totals_delta_kib["mem_total_kib"] == wanted[c.change.key]
    out = tmp_path / "boots"
    verification = verify_tuning(
        result, spec, cal, out, kernel=str(cloud_kernel), changes=changes, jobs=2, accel="tcg", timeout_s=120
    )
    assert not verification.failed, verification.failed
    assert [r.outcome for r in verification.records] == ["dump"] * 5
    assert [label for label, _ in verification.checks] == [c.label for c in changes] + ["recommended"]
    for label, check in verification.checks:
        mem_total = check.delta("mem_total_kib")
        assert mem_total.agrees, (label, mem_total)
        assert mem_total.measured_kib > 0, (label, mem_total)  # each change gave MemTotal back
        assert check.delta("reserved_kib").agrees, label
    recommended = dict(verification.checks)["recommended"].delta("mem_total_kib")
    assert recommended.measured_kib >= 16 * MIB + 4608 + 120 - 64
    assert (out / "manifest.json").is_file() and verification.agrees
