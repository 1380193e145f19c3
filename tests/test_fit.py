"""`planner fit`, `planner profiles`, `planner schema` end to end on the shipped examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.api import AUTO_STEP_KIB, fit
from planner.cli import app
from planner.inputs.calibrations import load_calibration
from planner.kernel.model import GuestSpec, predict, workload_kernel_kib
from planner.report.text import fit_text

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))
runner = CliRunner()
PER_GUEST_KEYS = {
    "guest_memory_kib",
    "host_overhead_kib",
    "host_cost_kib",
    "guest_kernel_kib",
    "user_available_kib",
}


def test_the_examples_are_there() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"kvm-two-nodes.yaml", "zvm-lpar-64mib.yaml", "xen-host.yaml", "one-tib-eight-nodes.yaml"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_fit_json_on_every_example(example: Path) -> None:
    result = runner.invoke(app, ["fit", str(example), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"total_guests", "guests", "nodes", "per_guest", "status"} <= set(out)
    assert out["status"] == "optimal"
    assert out["total_guests"] == sum(out["guests"].values()) > 0
    assert set(out["per_guest"]) == set(out["guests"])
    for name, pg in out["per_guest"].items():
        assert set(pg) >= PER_GUEST_KEYS, name
        assert pg["host_cost_kib"] == pg["guest_memory_kib"] + pg["host_overhead_kib"]
        assert (
            pg["guest_kernel_kib"] + pg["user_available_kib"] + pg["workload_kernel_kib"]
            == pg["guest_memory_kib"]
        )
    total_per_profile: dict[str, int] = {}
    for node in out["nodes"]:
        assert {"id", "capacity_kib", "used_kib", "guests"} <= set(node)
        # never over-commits a node: every guest's RAM + overhead within the node's capacity
        used = sum(n * out["per_guest"][p]["host_cost_kib"] for p, n in node["guests"].items())
        assert used == node["used_kib"] <= node["capacity_kib"]
        assert node["capacity_kib"] == (
            node["memory_kib"]
            - node["host_kernel_kib"]
            - node["hypervisor_reserve_kib"]
            - node["operator_reserve_kib"]
        )
        for p, n in node["guests"].items():
            total_per_profile[p] = total_per_profile.get(p, 0) + n
    assert {p: n for p, n in out["guests"].items() if n} == total_per_profile
    for name, pg in out["per_guest"].items():
        assert out["guests"][name] >= pg["min"]
        assert pg["max"] is None or out["guests"][name] <= pg["max"]
    assert out["vcpu_used"] <= out["vcpu_capacity"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_fit_text_on_every_example(example: Path) -> None:
    result = runner.invoke(app, ["fit", str(example)])
    assert result.exit_code == 0, result.output
    assert "where each MiB goes" in result.stdout
    assert "binds: " in result.stdout


def test_host_kernel_is_subtracted_per_node_on_kvm() -> None:
    out = fit(Path("examples/one-tib-eight-nodes.yaml")).to_json()
    kernel = [n["host_kernel_kib"] for n in out["nodes"]]
    assert len(kernel) == 8
    # struct page alone is 1/64 of each node's RAM (bootlab-debian-6.1.md §3.5): at least that
    for node in out["nodes"]:
        assert node["host_kernel_kib"] >= node["memory_kib"] // 64
    assert kernel[0] > kernel[1]  # node 0 also holds the image, swiotlb and log buffer


def test_memory_auto_is_the_smallest_size_that_fits() -> None:
    out = fit(Path("examples/kvm-two-nodes.yaml")).to_json()
    pg = out["per_guest"]["kvm-web-auto"]
    assert pg["memory_auto"]
    cal = load_calibration("debian12-cloud-amd64")
    need_kib = 200 * 1024
    extra = workload_kernel_kib(cal, need_kib, 64)

    def usable(memory_kib: int) -> int:
        return predict(cal, GuestSpec(memory_kib=memory_kib), out_of_range="ignore").mem_available_kib - extra

    size = pg["guest_memory_kib"]
    assert usable(size) >= need_kib == pg["workload_user_kib"]
    assert usable(size - AUTO_STEP_KIB) < need_kib
    assert pg["user_available_kib"] == usable(size)


def test_scenario_is_planned_beside_the_guaranteed_count() -> None:
    out = fit(Path("examples/kvm-two-nodes.yaml")).to_json()
    scenario = out["scenario"]
    assert scenario["name"] == "ksm-expected-resident"
    # 128 MiB guests: measured boot footprint 114 MiB, minus 16 MiB merged by KSM
    assert scenario["resident_kib"]["kvm-cloud-128mib"] == (114 - 16) * 1024
    assert scenario["total_guests"] >= out["total_guests"]
    for node in scenario["nodes"]:
        assert node["used_kib"] <= node["capacity_kib"]


def _host(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "host.yaml"
    path.write_text(text)
    return path


KVM_HOST = "host:\n  memory: 16GiB\n  cpus: 8\n  kernel: debian12-amd64\n  hypervisor: kvm-qemu\nguests:\n"


def test_more_host_memory_never_fits_fewer_guests(tmp_path: Path) -> None:
    guests = "  - profile: kvm-cloud-512mib\n    min: 2\n  - profile: kvm-cloud-128mib\n"
    totals = []
    for gib in (8, 12, 16, 24):
        path = _host(tmp_path, KVM_HOST.replace("16GiB", f"{gib}GiB") + guests)
        totals.append(fit(path).guaranteed.total_guests)
    assert totals == sorted(totals)
    assert totals[0] < totals[-1]


def test_workload_that_fits_no_size(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        KVM_HOST + "  - profile: kvm-web-auto\n    workload:\n      user_memory: 100GiB\n      threads: 10\n",
    )
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    rng = load_calibration("debian12-cloud-amd64").calibrated_range
    from planner.units import format_kib

    assert result.stderr == (
        f"planner: error: {path}:8: guests[0].workload: a workload of 100 GiB and 10 threads fits no size of "
        f"debian12-cloud-amd64 from {format_kib(rng.min_memory_kib)} to {format_kib(rng.max_memory_kib)}; "
        "expected a smaller workload or a wider calibration\n"
    )


def test_workload_that_does_not_fit_the_stated_size(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        KVM_HOST + "  - profile: kvm-cloud-128mib\n    workload:\n      user_memory: 100MiB\n",
    )
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(
        f"planner: error: {path}:8: guests[0].workload: the workload needs 100 MiB but a 128 MiB "
        "debian12-cloud-amd64 guest leaves "
    )
    assert line.endswith("or memory: auto")


def test_minimums_that_do_not_fit(tmp_path: Path) -> None:
    path = _host(tmp_path, KVM_HOST + "  - profile: kvm-cloud-1gib\n    min: 40\n")
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"planner: error: {path}:7: guests[0].min: the minimum counts (40 kvm-cloud-1gib) do not fit on this "
        "host (memory of all nodes together overflow); expected smaller minimums or a bigger host\n"
    )


def test_unknown_profile_on_the_command_line(tmp_path: Path) -> None:
    path = _host(tmp_path, KVM_HOST + "  - profile: nope\n")
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"planner: error: {path}:7: guests[0].profile: unknown guest profile 'nope'"
    )
    assert result.stdout == ""


def test_hugepage_backed_guests_use_the_pool(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        KVM_HOST.replace(
            "  hypervisor",
            "  numa_nodes: 2\n  hugepages:\n    page_size: 2MiB\n    per_node: 2GiB\n  hypervisor",
        )
        + "  - profile: kvm-cloud-512mib\n    hugepages: true\n  - profile: kvm-cloud-128mib\n",
    )
    out = fit(path).to_json()
    for node in out["nodes"]:
        assert node["hugepages_used_kib"] <= node["hugepages_kib"] == 2 * 1024 * 1024
    assert out["guests"]["kvm-cloud-512mib"] == 8  # 2 GiB pool per node / 512 MiB, on 2 nodes
    no_pool = _host(tmp_path, KVM_HOST + "  - profile: kvm-cloud-512mib\n    hugepages: true\n")
    result = runner.invoke(app, ["fit", str(no_pool)])
    assert result.exit_code == 2
    assert "hugepages: true needs a hugepage pool" in result.stderr


def test_profiles_lists_kernels_hypervisors_and_guests() -> None:
    result = runner.invoke(app, ["profiles", "--json"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert {"debian12-amd64", "debian12-s390x"} <= set(out["kernels"])
    assert {"kvm-qemu", "xen-pv", "xen-hvm", "zvm", "esxi"} <= set(out["hypervisors"])
    assert {"zvm-s390x-64mib", "kvm-cloud-128mib", "xen-pv-128mib", "esxi-amd64-256mib"} <= set(out["guests"])
    assert all(out["hypervisors"].values()) and all(out["guests"].values())
    text = runner.invoke(app, ["profiles"])
    assert text.exit_code == 0 and "hypervisors:" in text.stdout


def test_schema_command() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "planner host file"
    assert "host" in schema["required"] and "guests" in schema["required"]


def test_node_memory_weights_overrides_and_a_balloon_scenario(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        "host:\n  node_memory: [6GiB, 10GiB]\n  cpus: 8\n  kernel: debian12-amd64\n  hypervisor: kvm-qemu\n"
        "objective: max_weight\n"
        "guests:\n"
        "  - profile: kvm-cloud-128mib\n    weight: 1\n"
        "  - profile: kvm-cloud-256mib\n    memory: 384MiB\n    vcpus: 2\n    weight: 3\n"
        "scenario:\n  name: balloon-half\n  balloon_percent: 50\n  memory_ratio: 1.5\n",
    )
    result = fit(path)
    out = result.to_json()
    assert [n["memory_kib"] for n in out["nodes"]] == [6 * 1024 * 1024, 10 * 1024 * 1024]
    big = out["per_guest"]["kvm-cloud-256mib"]
    assert big["guest_memory_kib"] == 384 * 1024 and big["vcpu_count"] == 2
    # max_weight: weight per MiB of host cost decides, 3 / 435 MiB beats 1 / 178.5 MiB
    assert out["guests"]["kvm-cloud-256mib"] > out["guests"]["kvm-cloud-128mib"]
    scenario = out["scenario"]
    small = out["per_guest"]["kvm-cloud-128mib"]
    # ballooned to half its size, but never below what its kernel keeps
    assert scenario["resident_kib"]["kvm-cloud-128mib"] == max(64 * 1024, small["guest_kernel_kib"])
    for guaranteed_node, node in zip(out["nodes"], scenario["nodes"], strict=True):
        assert node["capacity_kib"] == int(guaranteed_node["capacity_kib"] * 1.5)
        assert node["used_kib"] <= node["capacity_kib"]
    assert scenario["total_guests"] > out["total_guests"]
    assert "scenario 'balloon-half' (overcommitted, not guaranteed)" in fit_text(result)


def test_a_scenario_never_changes_the_guaranteed_count(tmp_path: Path) -> None:
    # The guaranteed plan counts every guest at its full size with no allocation ratio; a
    # scenario (KSM, expected residency, balloon, memory_ratio) is planned beside it, never in it.
    text = Path("examples/kvm-two-nodes.yaml").read_text()
    without = text[: text.index("\nscenario:")] + "\n"
    with_all = without + (
        "scenario:\n  name: everything\n  resident: expected\n  ksm_shared: 16MiB\n"
        "  balloon_percent: 50\n  memory_ratio: 2\n"
    )
    plain = fit(_host(tmp_path, without)).to_json()
    assert plain["scenario"] is None
    mixed = fit(_host(tmp_path, with_all)).to_json()
    assert mixed["scenario"]["total_guests"] > mixed["total_guests"]
    for key in ("total_guests", "guests", "nodes", "binding", "vcpu_used", "per_guest"):
        assert mixed[key] == plain[key], key
    for node in mixed["nodes"]:
        assert node["scenario_reserve_kib"] == 0


def test_ksm_cannot_share_more_than_a_guest_holds(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        KVM_HOST + "  - profile: kvm-cloud-128mib\nscenario:\n  name: typo\n  ksm_shared: 10GiB\n",
    )
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"planner: error: {path}:10: scenario.ksm_shared: expected less than the smallest guest (128 MiB); "
        "found 10 GiB\n"
    )


def test_the_commented_out_fields_of_the_example_are_valid(tmp_path: Path) -> None:
    # kvm-two-nodes.yaml shows every optional field as a comment for a newcomer to uncomment;
    # uncommented, they must load and fit.
    text = Path("examples/kvm-two-nodes.yaml").read_text()
    uncommented, count = re.subn(r"(?m)^(\s*)# (\s*(?:- )?[a-z_]+:)", r"\1\2", text)
    assert count >= 12
    result = fit(_host(tmp_path, uncommented))
    pg = result.per_guest["app-384mib"]
    assert pg.profile == "kvm-cloud-256mib"
    assert pg.hugepages and pg.guest_memory_kib == 384 * 1024 and pg.vcpu_count == 2
    assert result.scenario is not None and result.scenario.memory_ratio == 1.5


def test_reserves_that_leave_a_node_nothing_are_a_located_error(tmp_path: Path) -> None:
    from planner.units import format_kib

    small = KVM_HOST.replace("16GiB", "4GiB")
    guest = "  - profile: kvm-cloud-128mib\n"
    left_kib = fit(_host(tmp_path, small + guest)).guaranteed.nodes[0].capacity_kib
    path = _host(tmp_path, small.replace("guests:", "  operator_reserve: 8GiB\nguests:") + guest)
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (
        f"planner: error: {path}:6: host.operator_reserve: expected less than the {format_kib(left_kib)} "
        "that the host kernel and hypervisor reserve leave for guests; found 8 GiB\n"
    )
    path = _host(tmp_path, small.replace("guests:", "  hypervisor_reserve: 5GiB\nguests:") + guest)
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"planner: error: {path}:6: host.hypervisor_reserve: expected less than")
    assert result.stderr.endswith("; found 5 GiB\n")


def test_max_weight_total_capacity_total_and_whole_numbers_are_shown(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        "host:\n  node_memory: [6GiB, 10GiB]\n  cpus: 8\n  kernel: debian12-amd64\n  hypervisor: kvm-qemu\n"
        "objective: max_weight\n"
        "guests:\n"
        "  - profile: kvm-cloud-128mib\n    weight: 1.5\n"
        "  - profile: kvm-cloud-256mib\n    weight: 3\n"
        "scenario:\n  name: ratio\n  memory_ratio: 1.5\n",
    )
    result = fit(path)
    out = result.to_json()
    weight = 1.5 * out["guests"]["kvm-cloud-128mib"] + 3 * out["guests"]["kvm-cloud-256mib"]
    assert out["total_weight"] == weight
    assert out["vcpu_capacity"] == 128 and isinstance(out["vcpu_capacity"], int)  # 8 CPUs x 16
    text = fit_text(result)
    assert f"guaranteed: {out['total_guests']} guests, total weight {weight:g} (optimal)" in text
    capacity = next(line for line in text.splitlines() if line.strip().startswith("= capacity (x1.5)"))
    cells = capacity.split()[-3:]
    host_kib = sum(n["capacity_kib"] for n in out["scenario"]["nodes"])
    assert cells[-1] == f"{host_kib / 1024:,.1f}"  # the host total, as in the other rows


def test_one_thread_is_one_thread(tmp_path: Path) -> None:
    path = _host(
        tmp_path,
        KVM_HOST + "  - profile: kvm-web-auto\n    workload:\n      user_memory: 100GiB\n      threads: 1\n",
    )
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert "a workload of 100 GiB and 1 thread fits no size" in result.stderr


def test_a_host_outside_its_kernel_calibration_is_noted_as_extrapolated(tmp_path: Path) -> None:
    from planner.report import fit_page

    rng = load_calibration("debian12-amd64").calibrated_range
    inside_gib = rng.max_memory_kib // (1024 * 1024)
    inside = KVM_HOST.replace("16GiB", f"{inside_gib}GiB").replace("cpus: 8", f"cpus: {rng.max_vcpu_count}")
    guest = "  - profile: kvm-cloud-128mib\n"
    assert not [n for n in fit(_host(tmp_path, inside + guest)).notes if "extrapolated" in n]
    cpus = 2 * rng.max_vcpu_count
    big = KVM_HOST.replace("16GiB", f"{2 * inside_gib}GiB").replace("cpus: 8", f"cpus: {cpus}")
    result = fit(_host(tmp_path, big + guest))
    (note,) = [n for n in result.notes if "extrapolated" in n]
    assert note.startswith("host kernel debian12-amd64 was calibrated on ")
    assert f"outside that range on this host: {2 * inside_gib} GiB node, {cpus} CPUs;" in note
    assert note in fit_text(result) and note in result.to_json()["notes"]
    assert any(note in item for notice in fit_page(result).notices for item in getattr(notice, "items", ()))


def test_one_profile_twice_under_two_names(tmp_path: Path) -> None:
    guests = (
        "  - profile: kvm-cloud-256mib\n    name: web-small\n"
        "  - profile: kvm-cloud-256mib\n    name: web-big\n    memory: 372MiB\n    min: 2\n"
    )
    result = fit(_host(tmp_path, KVM_HOST + guests))
    out = result.to_json()
    assert set(out["per_guest"]) == set(out["guests"]) == {"web-small", "web-big"}
    assert out["per_guest"]["web-small"]["guest_memory_kib"] == 256 * 1024
    assert out["per_guest"]["web-big"]["guest_memory_kib"] == 372 * 1024
    assert {g["profile"] for g in out["per_guest"].values()} == {"kvm-cloud-256mib"}
    assert out["guests"]["web-big"] >= 2
    text = fit_text(result)
    assert "web-big (kvm-cloud-256mib)" in text and "web-small (kvm-cloud-256mib)" in text
    # the report tells the two apart and names the profile they share
    from planner.report import fit_page

    page = fit_page(result)
    profiles = next(t for t in page.tables if t.slug == "profiles")
    assert [row[:2] for row in profiles.rows] == [
        ("web-small", "kvm-cloud-256mib"),
        ("web-big", "kvm-cloud-256mib"),
    ]
    # without names the second entry is refused, and the error says how to keep both
    path = _host(
        tmp_path, KVM_HOST + guests.replace("    name: web-small\n", "").replace("    name: web-big\n", "")
    )
    res = runner.invoke(app, ["fit", str(path)])
    assert (res.exit_code, res.stdout) == (2, "")
    assert res.stderr == (
        f"planner: error: {path}:8: guests[1].profile: expected each guest name once; "
        "found 'kvm-cloud-256mib' again (first in guests[0]): merge the entries, "
        "or give this one a name of its own (e.g. name: kvm-cloud-256mib-2)\n"
    )


def test_inputs_list_a_hypervisor_profile_given_by_path(tmp_path: Path) -> None:
    """The report's provenance names the file each hypervisor profile was read from: a profile
    given by path was left out, or, named like a shipped one, listed as the shipped file."""
    import hashlib

    def listed(host_text: str) -> list[tuple[str, str, str | None]]:
        host = tmp_path / "host.yaml"
        host.write_text(host_text)
        files = fit(host).input_files
        return [
            (f.role, Path(f.path).name, f.sha256) for f in files if f.role.startswith("hypervisor profile")
        ]

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    shipped = Path(__file__).parent.parent / "profiles" / "hypervisors" / "zvm.yaml"
    zvm = shipped.read_text()
    assert "name: zvm\n" in zvm
    renamed = tmp_path / "my-zvm.yaml"
    renamed.write_text(zvm.replace("name: zvm\n", "name: my-zvm\n"))
    same_name = tmp_path / "zvm-copy.yaml"
    same_name.write_text(zvm + "# a local copy\n")
    guests = "guests:\n  - profile: zvm-s390x-64mib\n"
    # the host's reserves come from my-zvm; the guest, which lists zvm, runs under the shipped zvm
    assert listed(f"host:\n  memory: 4GiB\n  cpus: 8\n  hypervisor: my-zvm.yaml\n{guests}") == [
        ("hypervisor profile my-zvm", "my-zvm.yaml", sha(renamed)),
        ("hypervisor profile zvm", "zvm.yaml", sha(shipped)),
    ]
    # a local profile named zvm serves host and guest: the local file, not the shipped one
    assert listed(f"host:\n  memory: 4GiB\n  cpus: 8\n  hypervisor: zvm-copy.yaml\n{guests}") == [
        ("hypervisor profile zvm", "zvm-copy.yaml", sha(same_name))
    ]
    assert listed(f"host:\n  memory: 4GiB\n  cpus: 8\n  hypervisor: zvm\n{guests}") == [
        ("hypervisor profile zvm", "zvm.yaml", sha(shipped))
    ]
