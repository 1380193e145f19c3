"""Issue 14 items 4 and 5: capacity-only hosts, and the expected scenario's boot footprint from
the kernel model (a profile's measured ``boot_footprint:`` first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner import api
from planner.cli import app
from planner.errors import OutOfRangeWarning
from planner.inputs.calibrations import load_calibration
from planner.inputs.profiles import load_guest_profile, load_hypervisor_profile
from planner.inputs.schema import host_file_schema
from planner.kernel.footprint import boot_footprint_kib
from planner.report.text import fit_text
from planner.units import KIB_PER_MIB, format_kib

EXAMPLES = Path(__file__).parent.parent / "examples"
runner = CliRunner()
MIB = KIB_PER_MIB


def _host(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "host.yaml"
    path.write_text(text)
    return path


def _error(path: Path) -> str:
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


# --- item 4: capacity-only hosts ------------------------------------------------------------------
def test_the_capacity_only_example_counts_overhead_and_shared_files_but_no_host_kernel() -> None:
    result = api.fit(EXAMPLES / "capacity-only-cgroup.yaml")
    out = result.to_json()
    assert out["capacity_only"] and out["host_kernel"] is None
    (node,) = out["nodes"]
    assert node["memory_kib"] == 1536 * MIB and node["capacity_kib"] == (1536 - 23) * MIB
    assert node["host_kernel_kib"] == node["operator_reserve_kib"] == 0
    # of qemu-tcg's reserve only qemu's file pages, charged once to the cgroup (libvirtd is outside)
    tcg = load_hypervisor_profile("qemu-tcg")
    assert node["hypervisor_reserve_kib"] == tcg.params.shared_file_kib == 23 * MIB
    # each guest costs its size plus qemu-tcg's per-guest overhead (the qemu process is in the cgroup)
    cost = 256 * MIB + tcg.host_overhead_kib(256 * MIB, 1)
    assert out["per_guest"]["kvm-cloud-256mib"]["host_cost_kib"] == cost
    assert out["total_guests"] == (1536 - 23) * MIB // cost == 4
    # expected: the profile's measured 120 MiB footprint resident, plus the same overhead
    scenario = out["scenario"]
    assert scenario["resident_kib"]["kvm-cloud-256mib"] == 120 * MIB
    assert scenario["total_guests"] == (1536 - 23) * MIB // (cost - 136 * MIB) == 7
    text = fit_text(result)
    assert "1.5 GiB for guests (capacity-only)" in text and "capacity given" in text


def test_fit_capacity_is_the_capacity_only_host_file() -> None:
    """The call ``planner density`` compares its booted count with (issue 14 item 3)."""
    direct = api.fit_capacity("kvm-cloud-256mib", 1536 * MIB, 2)
    assert direct.host_file == "<capacity-only host of 1.5 GiB>"
    from_file = api.fit(EXAMPLES / "capacity-only-cgroup.yaml")
    assert direct.capacity_only
    assert direct.guaranteed.total_guests == from_file.guaranteed.total_guests
    assert direct.scenario is not None and from_file.scenario is not None
    assert direct.scenario.total_guests == from_file.scenario.total_guests
    assert direct.scenario.resident_kib == from_file.scenario.resident_kib
    # a larger capacity never fits fewer guests, guaranteed <= expected at every size
    counts = [api.fit_capacity("kvm-cloud-128mib", mib * MIB, 2) for mib in (256, 512, 1024, 1536, 4096)]
    guaranteed = [r.guaranteed.total_guests for r in counts]
    expected = [r.scenario.total_guests for r in counts if r.scenario is not None]
    assert guaranteed == sorted(guaranteed) and expected == sorted(expected)
    assert all(g <= e for g, e in zip(guaranteed, expected, strict=True))
    assert guaranteed[0] == 1  # 128 MiB + 94 MiB of TCG qemu fit once in 256 MiB


def test_fit_capacity_overrides_and_vcpus() -> None:
    result = api.fit_capacity(
        "kvm-cloud-128mib", 1536 * MIB, memory_kib=256 * MIB, vcpu_count=2, workload_user_kib=64 * MIB
    )
    (pg,) = result.per_guest.values()
    assert (pg.guest_memory_kib, pg.vcpu_count, pg.workload_user_kib) == (256 * MIB, 2, 64 * MIB)
    # not the profile's 128 MiB, 1 vCPU: its measured 114 MiB does not hold, the model does
    cal = load_calibration("debian12-cloud-amd64")
    assert (pg.boot_footprint_source, pg.boot_footprint_kib) == (
        "model",
        boot_footprint_kib(cal, 256 * MIB, 2),
    )
    assert pg.boot_footprint_kib is not None and result.scenario is not None
    resident = min(256 * MIB, pg.boot_footprint_kib + 64 * MIB + pg.workload_kernel_kib)
    assert result.scenario.resident_kib[pg.name] == resident
    assert result.scenario.total_guests == 1536 * MIB // (resident + pg.host_overhead_kib)
    # no cpu_count: vCPUs never bind; one CPU at one vCPU each: one 1-vCPU guest
    assert not any("vcpu" in b for b in result.guaranteed.binding + result.scenario.binding)
    assert api.fit_capacity("kvm-cloud-128mib", 4096 * MIB, 1, vcpu_ratio=1.0).guaranteed.total_guests == 1


def test_capacity_per_node_and_reserves_inside_it(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        "host:\n  node_capacity: [1GiB, 512MiB]\n  cpus: 4\n  hypervisor: kvm-qemu\n"
        "  hypervisor_reserve: 40MiB\n  operator_reserve: 64MiB\n"
        "guests:\n  - profile: kvm-cloud-128mib\n",
    )
    out = api.fit(path).to_json()
    memory = [n["memory_kib"] for n in out["nodes"]]
    assert memory == [1024 * MIB, 512 * MIB]
    # a stated hypervisor reserve applies (on node 0, as the models place it); the operator's is split
    assert [n["hypervisor_reserve_kib"] for n in out["nodes"]] == [40 * MIB, 0]
    assert [n["operator_reserve_kib"] for n in out["nodes"]] == [32 * MIB, 32 * MIB]
    assert all(n["host_kernel_kib"] == 0 for n in out["nodes"])


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        (
            "  memory: 4GiB\n",
            3,
            "host.capacity: expected either memory (the host's RAM, its kernel modelled) or capacity "
            "(a capacity-only host); found both",
        ),
        (
            "  kernel: debian12-amd64\n",
            5,
            "host.kernel: expected no kernel on a capacity-only host (the capacity is what the host kernel "
            "leaves for guests; give memory: instead of capacity: to model the host); found 'debian12-amd64'",
        ),
        (
            "  hugepages: {page_size: 2MiB, per_node: 64MiB}\n",
            5,
            "host.hugepages: expected no hugepages on a capacity-only host (a hugepage pool lies outside "
            "the capacity; give memory: instead of capacity: to model the host); found a hugepage pool",
        ),
    ],
    ids=["memory", "kernel", "hugepages"],
)
def test_a_capacity_only_host_refuses_the_ram_forms(
    tmp_path: Path, extra: str, line: int, message: str
) -> None:
    path = _host(
        tmp_path,
        "host:\n  cpus: 4\n  capacity: 1GiB\n  hypervisor: kvm-qemu\n"
        + extra
        + "guests:\n  - profile: kvm-cloud-128mib\n",
    )
    assert _error(path) == f"planner: error: {path}:{line}: {message}\n"


def test_capacity_that_does_not_add_up_and_a_missing_size(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        "host:\n  capacity: 1GiB\n  node_capacity: [512MiB, 256MiB]\n  cpus: 4\n  hypervisor: kvm-qemu\n"
        "guests:\n  - profile: kvm-cloud-128mib\n",
    )
    assert _error(path) == (
        f"planner: error: {path}:2: host.capacity: expected the sum of node_capacity (768 MiB); found 1 GiB\n"
    )
    path = _host(
        tmp_path, "host:\n  cpus: 4\n  hypervisor: kvm-qemu\nguests:\n  - profile: kvm-cloud-128mib\n"
    )
    assert _error(path) == (
        f"planner: error: {path}:1: host.memory: required field is missing; expected host.memory "
        "(or host.node_memory, or host.capacity for a capacity-only host)\n"
    )


def test_a_reserve_as_large_as_the_capacity_names_it(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        "host:\n  capacity: 256MiB\n  cpus: 4\n  hypervisor: kvm-qemu\n  operator_reserve: 256MiB\n"
        "guests:\n  - profile: kvm-cloud-128mib\n",
    )
    assert _error(path).startswith(f"planner: error: {path}:5: host.operator_reserve: expected less than")


def test_the_schema_documents_the_capacity_form() -> None:
    host = host_file_schema()["$defs"]["HostModel"]
    assert {"capacity", "node_capacity"} <= set(host["properties"])
    assert "cgroup" in host["properties"]["capacity"]["description"]
    # one form or the other: no RAM key beside a capacity key
    pairs = {tuple(sorted(c["required"])) for c in host["not"]["anyOf"]}
    assert pairs == {
        ("capacity", "memory"),
        ("memory", "node_capacity"),
        ("capacity", "node_memory"),
        ("node_capacity", "node_memory"),
    }


def test_check_with_a_capacity_only_host_file(tmp_path: Path) -> None:
    """test:///default holds one 8 GiB guest: a 4 GiB capacity is over-committed, 16 GiB is not,
    and neither subtracts a host kernel."""
    for gib, over in ((4, True), (16, False)):
        path = _host(
            tmp_path,
            f"host:\n  capacity: {gib}GiB\n  cpus: 16\n  hypervisor: kvm-qemu\n"
            "guests:\n  - profile: kvm-cloud-128mib\n",
        )
        (host,) = api.check(["test:///default"], host_path=path).hosts
        assert host.ok and host.host_kernel is None
        assert host.memory_kib == host.capacity_kib == gib * 1024 * MIB
        assert host.over_committed is over
        assert any("capacity-only host file" in n for n in host.notes)


# --- item 5: the expected scenario's boot footprint -------------------------------------------------
def test_expected_resident_uses_the_profile_then_the_kernel_model() -> None:
    result = api.fit(EXAMPLES / "kvm-two-nodes.yaml")
    out = result.to_json()
    pg = out["per_guest"]
    cal = load_calibration("debian12-cloud-amd64")
    # measured in the profile (libvirt-recipes.md §3): 114 and 124 MiB
    assert (
        pg["kvm-cloud-128mib"]["boot_footprint_source"],
        pg["kvm-cloud-128mib"]["boot_footprint_kib"],
    ) == (
        "profile",
        114 * MIB,
    )
    assert pg["kvm-cloud-512mib"]["boot_footprint_source"] == "profile"
    # no measurement in the profile: the kernel model at the guest's size and vCPUs
    for name in ("kvm-cloud-2gib-2vcpu", "kvm-web-auto"):
        g = pg[name]
        assert g["boot_footprint_source"] == "model"
        assert g["boot_footprint_kib"] == boot_footprint_kib(cal, g["guest_memory_kib"], g["vcpu_count"])
    # bootlab measured 152 MiB for the cloud kernel at 2 GiB, 2 vCPUs (kernel-accuracy.md): within 8 MiB
    assert abs(pg["kvm-cloud-2gib-2vcpu"]["boot_footprint_kib"] - 152 * MIB) < 8 * MIB
    resident = out["scenario"]["resident_kib"]
    ksm = 16 * MIB
    g = pg["kvm-cloud-2gib-2vcpu"]
    assert resident["kvm-cloud-2gib-2vcpu"] == g["boot_footprint_kib"] - ksm  # idle: no workload
    g = pg["kvm-web-auto"]
    expected = min(
        g["guest_memory_kib"], g["boot_footprint_kib"] + g["workload_user_kib"] + g["workload_kernel_kib"]
    )
    assert resident["kvm-web-auto"] == expected - ksm
    assert not any("full size as resident" in n for n in out["notes"])
    text = fit_text(result)
    assert "kvm-cloud-128mib 114.0 MiB (measured, in its profile)" in text
    assert "kvm-cloud-2gib-2vcpu 1" in text and "(kernel model)" in text


def test_a_measured_footprint_holds_only_at_the_profiles_own_size(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        "host:\n  capacity: 4GiB\n  cpus: 4\n  hypervisor: kvm-qemu\nguests:\n"
        "  - profile: kvm-cloud-128mib\n  - profile: kvm-cloud-128mib\n    name: bigger\n    memory: 1GiB\n"
        "  - profile: kvm-cloud-128mib\n    name: wider\n    vcpus: 2\n"
        "scenario:\n  name: expected\n  resident: expected\n",
    )
    pg = api.fit(path).to_json()["per_guest"]
    cal = load_calibration("debian12-cloud-amd64")
    assert pg["kvm-cloud-128mib"]["boot_footprint_source"] == "profile"
    assert pg["bigger"]["boot_footprint_source"] == pg["wider"]["boot_footprint_source"] == "model"
    assert pg["bigger"]["boot_footprint_kib"] == boot_footprint_kib(cal, 1024 * MIB, 1)
    assert pg["wider"]["boot_footprint_kib"] == boot_footprint_kib(cal, 128 * MIB, 2)


def test_no_footprint_anywhere_counts_the_full_size_with_a_note(tmp_path: Path) -> None:
    """linux-2.6.18-seed has no footprint fitted (no bootlab capture of qemu's resident RAM)."""
    seed = load_calibration("linux-2.6.18-seed")
    assert boot_footprint_kib(seed, 1024 * MIB, 1) is None
    (tmp_path / "old.yaml").write_text(
        "name: old-1gib\ndescription: a 2.6.18 guest\nkernel: linux-2.6.18-seed\nhypervisors: [kvm-qemu]\n"
        "memory: 1GiB\nvcpus: 1\nsources: {memory: test, vcpus: test}\n"
    )
    path = _host(
        tmp_path,
        "host:\n  capacity: 4GiB\n  cpus: 4\n  hypervisor: kvm-qemu\nguests:\n  - profile: old.yaml\n"
        "scenario:\n  name: expected\n  resident: expected\n",
    )
    with pytest.warns(OutOfRangeWarning, match="partial calibration"):
        out = api.fit(path).to_json()
    g = out["per_guest"]["old-1gib"]
    assert g["boot_footprint_kib"] is None and g["boot_footprint_source"] is None
    assert out["scenario"]["resident_kib"]["old-1gib"] == 1024 * MIB
    assert any(
        "old-1gib: no boot footprint" in n and "linux-2.6.18-seed" in n and "full size" in n
        for n in out["notes"]
    )


def test_memory_auto_profiles_get_a_modelled_footprint() -> None:
    profile = load_guest_profile("kvm-web-auto")
    assert profile.memory_kib == "auto" and profile.boot_footprint_kib is None
    out = json.loads(runner.invoke(app, ["fit", str(EXAMPLES / "kvm-two-nodes.yaml"), "--json"]).stdout)
    g = out["per_guest"]["kvm-web-auto"]
    assert g["memory_auto"] and g["boot_footprint_source"] == "model"
    assert 100 * MIB < g["boot_footprint_kib"] < g["guest_memory_kib"], format_kib(g["boot_footprint_kib"])
