"""`planner fleet --from-check`: the running fleet read from libvirt test-driver hosts (read-only,
as `planner check`), its headroom re-derived from the check's own figures, N+1 moves applied."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app

DATA = Path(__file__).resolve().parent / "data" / "libvirt"
runner = CliRunner()

pytestmark = pytest.mark.usefixtures("_libvirt")


@pytest.fixture
def _libvirt() -> None:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")


def _host(tmp_path: Path, name: str, extra_mib: int, vcpus: int = 1) -> str:
    """host-two-nodes.xml (2 nodes of 2 and 4 GiB, 16 CPUs, three running guests) plus one guest of
    extra_mib and ``vcpus``."""
    text = (DATA / "host-two-nodes.xml").read_text()
    guest = (
        f"<domain type='test'><name>extra</name><memory unit='MiB'>{extra_mib}</memory><vcpu>{vcpus}</vcpu>"
        "<numatune><memory mode='strict' nodeset='1'/></numatune>"
        "<os><type arch='x86_64'>hvm</type></os></domain>\n</node>"
    )
    path = tmp_path / f"{name}.xml"
    path.write_text(text.replace("</node>", guest) if extra_mib else text)
    return f"test://{path}"


def _json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_headroom_and_failover_of_live_hosts(tmp_path: Path) -> None:
    uris = [_host(tmp_path, "a", 0), _host(tmp_path, "b", 1024), _host(tmp_path, "c", 2048)]
    args = [a for u in uris for a in ("--from-check", u)]
    d = _json("fleet", *args, "--failures", "1")
    checked = _json("check", *uris)["hosts"]
    assert d["existing_hosts"] == 3 and d["plan"] is None
    # every running domain is in a profile of its committed memory; the stopped one in none
    running = Counter(dm["committed_kib"] for h in checked for dm in h["domains"] if dm["active"])
    assert set(running) == {demand["memory_kib"] for demand in d["profiles"].values()}
    # headroom: each profile alone, per node floor(left / demand), from the check's own node figures
    hr = {h["name"]: h for h in d["headroom"]["hosts"]}
    for uri, h in zip(uris, checked, strict=True):
        mine = hr[uri] if uri in hr else hr[h["hostname"]]
        for name, demand in d["profiles"].items():
            want = sum((n["capacity_kib"] - n["committed_kib"]) // demand["memory_kib"] for n in h["nodes"])
            assert mine["more"][name] == want, (uri, name)
    # N+1: each failed host's running domains move, to survivors only
    rep = d["failover"]
    assert rep["host_sets"] == rep["host_sets_checked"] == 3
    for s in rep["worst"]:
        if s["verdict"] == "survives":
            moved: Counter[str] = Counter()
            for m in s["moves"]:
                assert m["from_host"] in s["failed"] and m["to_host"] not in s["failed"]
                moved[m["profile"]] += m["count"]
            assert moved == Counter(s["displaced"])


def test_an_over_committed_live_host_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fleet", "--from-check", "test:///default"])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "over-committed" in result.stderr


def test_a_fleet_file_and_from_check_together_is_bad_input(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "fleet" / "kvm-pool.yaml"
    result = runner.invoke(app, ["fleet", str(example), "--from-check", _host(tmp_path, "a", 0)])
    assert result.exit_code == 2 and "found both" in result.stderr


def _expected_headroom(h: dict[str, Any], demand: dict[str, float]) -> int:
    """Each profile alone, from the check's own figures: per node floor(left / memory), the sum
    capped by the host's vCPUs left (CPUs x ratio - the running domains' vCPUs) / the profile's."""
    by_memory = sum((n["capacity_kib"] - n["committed_kib"]) // demand["memory_kib"] for n in h["nodes"])
    vcpus_left = h["vcpu_capacity"] - sum(d["vcpus"] for d in h["domains"] if d["active"])
    return int(min(by_memory, vcpus_left // demand["vcpu_count"]))


def test_domain_vcpus_bind_as_in_check(tmp_path: Path) -> None:
    """Three hosts of 16 CPUs (x 16, check's default ratio) each running a 200-vCPU guest: their
    memory would take any one failed host's guests, their vCPUs cannot."""
    uris = [_host(tmp_path, n, 128, vcpus=200) for n in "abc"]
    d = _json("fleet", *(a for u in uris for a in ("--from-check", u)), "--failures", "1")
    checked = _json("check", *uris)["hosts"]
    assert {h["vcpu_capacity"] for h in checked} == {16 * 16}
    for name, demand in d["profiles"].items():
        assert demand["vcpu_count"] == int(name.split("-")[-1].removesuffix("vcpu"))
    hr = {h["name"]: h for h in d["headroom"]["hosts"]}
    wide = next(p for p in d["profiles"] if p.endswith("-200vcpu"))
    for uri, h in zip(uris, checked, strict=True):
        for name, demand in d["profiles"].items():
            assert hr[uri]["more"][name] == _expected_headroom(h, demand), (uri, name)
        assert hr[uri]["more"][wide] == 0 and hr[uri]["blocked_by"][wide] == ["host.vcpu_count"]
    # N+1: a failed host's guests need 204 vCPUs, the two others have 2 x 52 left; memory would do
    free_memory = sum(n["capacity_kib"] - n["committed_kib"] for n in checked[1]["nodes"])
    displaced = [dm for dm in checked[0]["domains"] if dm["active"]]
    assert sum(dm["committed_kib"] for dm in displaced) < free_memory
    rep = d["failover"]
    assert rep["survives"] is False and rep["held_back"]["vcpu_count"] == sum(dm["vcpus"] for dm in displaced)


def _capacity_only(tmp_path: Path, vcpu_ratio: float) -> Path:
    """A capacity-only host file of ample memory: only the vCPUs (2 CPUs x vcpu_ratio) can bind."""
    path = tmp_path / "host.yaml"
    path.write_text(
        f"host: {{capacity: 64GiB, cpus: 2, vcpu_ratio: {vcpu_ratio}, hypervisor: kvm-qemu}}\n"
        "guests: [{profile: kvm-cloud-512mib}]\n"
    )
    return path


def test_vcpus_of_the_default_test_host_bind(tmp_path: Path) -> None:
    """test:///default's running 2-vCPU domain on 2 CPUs x 2.5: one more fits by vCPUs (5 - 2 = 3),
    six would by memory."""
    host = str(_capacity_only(tmp_path, 2.5))
    d = _json("fleet", "--from-check", "test:///default", "--host", host)
    (checked,) = _json("check", "test:///default", "--host", host)["hosts"]
    assert checked["vcpu_capacity"] == 5
    ((name, demand),) = d["profiles"].items()
    assert demand["vcpu_count"] == 2
    (h,) = d["headroom"]["hosts"]
    assert h["more"][name] == _expected_headroom(checked, demand) == 1
    assert h["blocked_by"][name] == ["host.vcpu_count"]


def test_vcpus_beyond_the_ratio_are_one_line(tmp_path: Path) -> None:
    host = str(_capacity_only(tmp_path, 0.5))
    result = runner.invoke(app, ["fleet", "--from-check", "test:///default", "--host", host])
    assert result.exit_code == 3 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "2 vCPUs, more than the 1 it allows (2 CPUs x vCPU ratio 0.5)" in result.stderr
