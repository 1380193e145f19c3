"""planner tune --verify end to end on live boots: three changes and the recommendation, booted
under qemu through the command line.

A 96 MiB cloud-amd64 guest profile whose command line reserves a crash kernel and a 1 MiB log
buffer, and already carries the changes that move no MemTotal (cgroup.memory=nokmem,
coherent_pool=4K) and ihash_entries=1024: the command proposes removing crashkernel= and
log_buf_len= and shrinking the Dentry table, boots the baseline, those three and the merged
recommendation (five boots, two at a time under TCG, about 5 s each) and checks that MemTotal
moved as predicted, within 64 KiB.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.bootlab import fetch, qemu
from planner.cli import app

MIB = 1024
CMDLINE = "log_buf_len=1M crashkernel=16M cgroup.memory=nokmem coherent_pool=4K ihash_entries=1024"


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


def _profile(tmp_path: Path) -> Path:
    path = tmp_path / "cloud-96mib-kdump.yaml"
    doc = {
        "name": "cloud-96mib-kdump",
        "description": "96 MiB cloud-amd64 guest with kdump and a 1 MiB log buffer",
        "kernel": "debian12-cloud-amd64",
        "hypervisors": ["kvm-qemu"],
        "memory": "96MiB",
        "vcpus": 1,
        "cmdline": CMDLINE,
        "sources": {"memory": "test", "vcpus": "test"},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.qemu
def test_verify_three_changes_on_live_boots(cloud_kernel: Path, tmp_path: Path) -> None:
    out = tmp_path / "boots"
    args = ["tune", str(_profile(tmp_path)), "--verify", "--jobs", "2", "--accel", "tcg", "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (guest,) = data["guests"]
    wanted = {"crashkernel": 16 * MIB, "log_buf_len": 4608, "dhash_entries": 120}  # predicted MemTotal gain
    assert {c["key"]: c["totals_delta_kib"]["mem_total_kib"] for c in guest["candidates"]} == wanted
    (verified,) = data["verification"]
    assert verified["agrees"] and verified["failed"] == []
    assert [b["outcome"] for b in verified["boots"]] == ["dump"] * 5
    labels = [c["option"] for c in guest["candidates"]] + ["recommended"]
    assert [c["variant"] for c in verified["checks"]] == labels
    for check in verified["checks"]:
        deltas = {d["quantity"]: d for d in check["deltas"]}
        mem_total = deltas["mem_total_kib"]
        assert abs(mem_total["measured_kib"] - mem_total["predicted_kib"]) <= 64, check
        assert mem_total["measured_kib"] > 0, check  # each change gave MemTotal back
        assert deltas["reserved_kib"]["agrees"], check
    recommended = {d["quantity"]: d for d in verified["checks"][-1]["deltas"]}["mem_total_kib"]
    assert recommended["measured_kib"] >= sum(wanted.values()) - 64
    assert (out / "manifest.json").is_file()
    assert guest["guests_per_host_after"] > guest["guests_per_host_before"]  # 20 MiB less per guest
