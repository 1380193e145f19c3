"""planner check on the libvirt test driver: capacity, commitment, warnings, headroom, exit codes.

Host files of our own (tests/data/libvirt/host-*.xml) give the domains; capabilities recorded
verbatim give NUMA cells where the test driver has none (reference/libvirt-recipes.md §2).
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner import api, live
from planner.capacity.solver import max_count_one_kind
from planner.cli import app
from planner.inputs.profiles import load_guest_profile, load_hypervisor_profile
from planner.report.text import printable
from planner.workflows import check as check_workflow

pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")

DATA = Path(__file__).parent / "data" / "libvirt"
runner = CliRunner()


def uri(name: str) -> str:
    return f"test://{(DATA / name).resolve()}"


def overhead_kib(hypervisor: str, memory_kib: int, vcpus: int) -> int:
    return int(load_hypervisor_profile(hypervisor).host_overhead_kib(memory_kib, vcpus))


def by_name(host: api.HostCheck) -> dict[str, api.CheckDomain]:
    return {d.name: d for d in host.domains}


# --- one host, one node ------------------------------------------------------------------------
def test_mixed_host_sizes_states_and_commitment() -> None:
    result = api.check([uri("host-mixed.xml")], profiles=["kvm-cloud-1gib"])
    (host,) = result.hosts
    assert host.ok and not host.over_committed and not result.failed
    doms = by_name(host)
    assert len(doms) == 10
    web = doms["web-ballooned"]
    assert (web.state, web.max_memory_kib, web.current_memory_kib, web.vcpus) == (
        "running",
        1048576,
        524288,
        2,
    )
    # a ballooned guest commits its full size: the balloon can give it all back
    assert web.committed_kib == 1048576 + overhead_kib("kvm-qemu", 1048576, 2)
    assert (doms["db-paused"].state, doms["db-paused"].active) == ("paused", True)
    assert doms["db-paused"].committed_kib == 2097152 + overhead_kib("kvm-qemu", 2097152, 2)
    off = doms["archive-off"]
    assert (off.state, off.active, off.committed_kib, dict(off.node_kib)) == ("shutoff", False, 0, {})
    (node,) = host.nodes
    assert node.committed_kib == sum(d.committed_kib for d in host.domains) == host.committed_kib
    assert node.capacity_kib == (
        node.memory_kib - node.host_kernel_kib - node.hypervisor_reserve_kib - node.operator_reserve_kib
    )
    assert node.memory_kib == 64 * 1024 * 1024  # the test driver's <memory>
    assert set(node.domains) == {d.name for d in host.domains if d.active}


def test_mixed_host_headroom_is_the_closed_form() -> None:
    """One profile, one node: the solver's count equals floor(min(memory left / demand,
    vCPUs left / vCPUs)) ([1] §3.1 "One profile, one host")."""
    (host,) = api.check([uri("host-mixed.xml")], profiles=["kvm-cloud-1gib", "kvm-cloud-128mib"]).hosts
    (node,) = host.nodes
    vcpus_left = 16 * api.CHECK_DEFAULT_VCPU_RATIO - sum(d.vcpus for d in host.domains if d.active)
    for name in ("kvm-cloud-1gib", "kvm-cloud-128mib"):
        profile = load_guest_profile(name)
        assert isinstance(profile.memory_kib, int)
        demand = profile.memory_kib + overhead_kib("kvm-qemu", profile.memory_kib, profile.vcpu_count)
        expected = max_count_one_kind(
            [node.capacity_kib - node.committed_kib, vcpus_left], [demand, profile.vcpu_count]
        )
        assert host.headroom[name] == expected, name
    assert host.headroom_binding["kvm-cloud-1gib"] == ("node0.memory_kib",)
    assert host.headroom_binding["kvm-cloud-128mib"] == ("host.vcpu_count",)


def test_ballooned_below_kernel_need_is_warned() -> None:
    from planner.inputs.calibrations import load_calibration
    from planner.kernel.model import GuestSpec, predict

    (host,) = api.check([uri("host-mixed.xml")]).hosts
    need = predict(
        load_calibration("debian12-cloud-amd64"), GuestSpec(memory_kib=512 * 1024), out_of_range="ignore"
    ).kernel_kib
    assert 40 * 1024 < need < 256 * 1024  # the 512 MiB guest's kernel keeps more than the 40 MiB balloon
    assert by_name(host)["squeezed"].kernel_need_kib == need
    assert host.guest_kernel == "debian12-cloud-amd64"  # named in the result, the JSON and the report
    assert host.to_json()["guest_kernel"] == "debian12-cloud-amd64"
    ballooned = [w for w in host.warnings if "ballooned" in w]
    assert len(ballooned) == 1 and "'squeezed'" in ballooned[0]  # web-ballooned (512 of 1024 MiB) is fine


def test_over_committed_host() -> None:
    (host,) = api.check([uri("host-overcommitted.xml")]).hosts
    assert host.ok and host.over_committed
    (node,) = host.nodes
    # three running 2 GiB guests on a 4 GiB host; the ballooned one counts in full, the shut-off one not
    assert node.committed_kib == 3 * (2097152 + overhead_kib("kvm-qemu", 2097152, 1))
    assert node.committed_kib > node.capacity_kib
    assert node.left_kib < 0 and node.to_json()["left_kib"] == node.left_kib
    assert any(w.startswith("node 0 over-committed") for w in host.warnings)


# --- NUMA: recorded capabilities with two cells ------------------------------------------------
def two_node_snapshot() -> live.HostSnapshot:
    snap = live.snapshot(uri("host-two-nodes.xml"))
    cells = live.parse_capabilities((DATA / "capabilities-test-default-2cells.xml").read_text())
    return dataclasses.replace(snap, nodes=cells)


def test_two_cells_placement_and_capacity() -> None:
    profile = load_guest_profile("kvm-cloud-128mib")
    settings = api.CheckSettings(
        profiles=(api.CheckProfile(profile.name, 131072, 1, None, kernel=profile.kernel),)
    )
    host = api.analyze_host(two_node_snapshot(), settings)
    assert [n.memory_kib for n in host.nodes] == [2097152, 4194304]
    n0, n1 = host.nodes
    doms = by_name(host)
    assert dict(doms["pinned0"].node_kib) == {0: 524288 + overhead_kib("kvm-qemu", 524288, 1)}
    assert dict(doms["pinned1"].node_kib) == {1: 1048576 + overhead_kib("kvm-qemu", 1048576, 2)}
    # unbound: placed whole on the node with the most capacity left (node 1)
    assert dict(doms["floating"].node_kib) == {1: 262144 + overhead_kib("kvm-qemu", 262144, 1)}
    assert doms["stopped"].node_kib == {}
    assert n0.domains == ("pinned0",) and n1.domains == ("floating", "pinned1")
    assert n0.committed_kib == doms["pinned0"].committed_kib
    assert n1.committed_kib == doms["pinned1"].committed_kib + doms["floating"].committed_kib
    # the host kernel inside MemTotal is taken off each node; libvirtd's reserve sits on node 0
    assert n0.host_kernel_kib > 0 and n1.host_kernel_kib > 0
    assert n0.hypervisor_reserve_kib > 0 and n1.hypervisor_reserve_kib == 0
    for n in host.nodes:
        assert n.capacity_kib == n.memory_kib - n.host_kernel_kib - n.hypervisor_reserve_kib
    assert not host.over_committed
    assert not any("spans" in w for w in host.warnings)
    # headroom: new guests are whole per node, so the count is the sum of per-node floors
    demand = 131072 + overhead_kib("kvm-qemu", 131072, 1)
    expected = sum(math.floor((n.capacity_kib - n.committed_kib) / demand) for n in host.nodes)
    assert host.headroom == {"kvm-cloud-128mib": expected}


def test_test_default_spans_and_over_commits_both_nodes() -> None:
    """test:///default has two cells of 2 and 4 GiB and one 8 GiB guest."""
    result = api.check(["test:///default"])
    (host,) = result.hosts
    (dom,) = host.domains
    assert dom.max_memory_kib == 8388608 and dom.current_memory_kib == 2097152
    assert sorted(dom.node_kib) == [0, 1]
    assert sum(dom.node_kib.values()) == dom.committed_kib
    assert any("spans nodes 0,1 (fits no single node)" in w for w in host.warnings)
    assert host.over_committed and result.over_committed


def test_host_file_gives_nodes_to_a_host_without_cells() -> None:
    (host,) = api.check([uri("host-mixed.xml")], host_path=DATA / "host-mixed-two-nodes.yaml").hosts
    assert [n.memory_kib for n in host.nodes] == [32 * 1024 * 1024] * 2
    assert sum(n.operator_reserve_kib for n in host.nodes) == 2 * 1024 * 1024
    doms = by_name(host)
    assert list(doms["huge2m-node0"].node_kib) == [0]
    assert list(doms["huge1g-node1"].node_kib) == [1]
    assert sorted(doms["interleaved"].node_kib) == [0, 1]
    assert doms["interleaved"].node_kib[0] == pytest.approx(doms["interleaved"].node_kib[1], abs=1)
    assert sorted(doms["guest-numa"].node_kib) == [0, 1]
    spans = [w for w in host.warnings if "spans" in w]
    assert len(spans) == 2
    assert any("'interleaved'" in w and "interleave" in w for w in spans)
    assert any("'guest-numa'" in w and "guest NUMA cells" in w for w in spans)
    assert list(host.headroom) == ["kvm-cloud-512mib"]  # the host file's profile
    assert host.host_kernel == "debian12-amd64"


# --- host memory sources -----------------------------------------------------------------------
def test_memory_sources_disagree_real_figures() -> None:
    """The figures of the Firecracker VM of reference/libvirt-recipes.md §4 gotcha 14 (recorded
    capabilities: node 0 5466316 KiB; /proc/meminfo 24684084 KiB): warned, and a single node is
    given all of /proc/meminfo."""
    snap = dataclasses.replace(
        live.snapshot(uri("host-two-nodes.xml")),
        nodes=live.parse_capabilities((DATA / "capabilities-qemu-tcg-1cell.xml").read_text()),
        info_memory_kib=5466316,
        stats_total_kib=24684084,
        stats_free_kib=23147508,
    )
    host = api.analyze_host(snap)
    assert any(w.startswith("memory sources disagree") for w in host.warnings)
    (node,) = host.nodes
    assert node.memory_kib == 24684084
    assert node.free_kib == 23147508


def test_host_free_below_reserve_is_warned() -> None:
    cells = live.parse_capabilities((DATA / "capabilities-test-default-2cells.xml").read_text())
    starved = tuple(dataclasses.replace(c, free_kib=1024) for c in cells)
    snap = dataclasses.replace(live.snapshot(uri("host-two-nodes.xml")), nodes=starved)
    host = api.analyze_host(snap)
    assert host.free_kib == 2048
    assert any(w.startswith("host free memory 2 MiB is below the reserve") for w in host.warnings)
    roomy = tuple(dataclasses.replace(c, free_kib=c.memory_kib // 2) for c in cells)
    host = api.analyze_host(dataclasses.replace(snap, nodes=roomy))
    assert not any("below the reserve" in w for w in host.warnings)


# --- several hosts, errors, exit codes ---------------------------------------------------------
def test_hosts_in_parallel_one_unreachable() -> None:
    uris = [
        uri("host-mixed.xml"),
        "qemu+tcp://127.0.0.1:1/system",
        uri("host-bad-name.xml"),
        "test:///default",
    ]
    result = api.check(uris)
    assert [h.uri for h in result.hosts] == uris
    assert [h.ok for h in result.hosts] == [True, False, False, True]
    assert "Connection refused" in (result.hosts[1].error or "")
    # libvirt's test driver refusing its file (a domain name with '/') is bad input naming the file
    assert "cannot contain '/'" in (result.hosts[2].error or "")
    assert str((DATA / "host-bad-name.xml").resolve()) in (result.hosts[2].error or "")
    assert [h.bad_input for h in result.hosts] == [False, False, True, False]


def test_an_unexpected_error_on_one_host_spares_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a libvirt error (data libvirt should never send, or a bug): that host fails with the
    exception named, instead of waiting out the timeout as 'no answer'; the others are checked."""
    real = live.snapshot

    def snapshot(u: str) -> live.HostSnapshot:
        if u == "test:///default":
            raise ValueError("invalid literal for int() with base 10: 'x'")
        return real(u)

    monkeypatch.setattr(live, "snapshot", snapshot)
    good, bad = api.check([uri("host-mixed.xml"), "test:///default"], timeout_s=30).hosts
    assert good.ok
    assert (
        bad.error == "unexpected ValueError while reading the host: invalid literal for int() with "
        "base 10: 'x' (a planner bug)"
    )


def test_a_host_the_analysis_refuses_spares_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.errors import CalibrationError

    real = api.analyze_host

    def analyze(snap: live.HostSnapshot, settings: api.CheckSettings) -> api.HostCheck:
        if snap.uri == "test:///default":
            raise CalibrationError("no calibration covers 6 GiB")
        return real(snap, settings)

    monkeypatch.setattr(check_workflow, "analyze_host", analyze)
    good, bad = api.check([uri("host-mixed.xml"), "test:///default"]).hosts
    assert good.ok and bad.error == "cannot analyse the host: no calibration covers 6 GiB"


def test_cli_exit_codes() -> None:
    ok = runner.invoke(app, ["check", uri("host-mixed.xml")])
    assert ok.exit_code == 0, ok.output
    assert "web-ballooned" in ok.stdout and "0 failed, 0 over-committed" in ok.stdout
    over = runner.invoke(app, ["check", uri("host-overcommitted.xml")])
    assert over.exit_code == 1 and "OVER-COMMITTED" in over.stdout
    down = runner.invoke(app, ["check", uri("host-mixed.xml"), "qemu+tcp://127.0.0.1:1/system"])
    assert down.exit_code == 1
    assert "qemu+tcp://127.0.0.1:1/system: FAILED: cannot connect" in down.stdout
    malformed = runner.invoke(app, ["check", uri("host-mixed.xml"), "no-scheme"])
    assert malformed.exit_code == 2
    assert "no-scheme: FAILED: expected a libvirt URI" in malformed.stdout


def test_cli_bad_options_are_one_line_exit_2(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["check", "test:///default", "--profile", "no-such-profile"])
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().startswith(
        "planner: error: --profile: unknown guest profile 'no-such-profile'"
    )
    missing = runner.invoke(app, ["check", "test:///default", "--host", str(tmp_path / "absent.yaml")])
    assert missing.exit_code == 2
    assert "absent.yaml: expected a readable host file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_cli_json_has_the_documented_fields() -> None:
    res = runner.invoke(
        app,
        [
            "check",
            "--json",
            "--profile",
            "kvm-cloud-128mib",
            uri("host-mixed.xml"),
            "qemu+tcp://127.0.0.1:1/x",
        ],
    )
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    good, bad = data["hosts"]
    for key in (
        "uri",
        "ok",
        "error",
        "memory_kib",
        "nodes",
        "domains",
        "committed_kib",
        "headroom",
        "warnings",
    ):
        assert key in good and key in bad, key
    assert good["ok"] is True and good["error"] is None
    assert bad["ok"] is False and "Connection refused" in bad["error"]
    for node in good["nodes"]:
        assert {"id", "capacity_kib", "committed_kib"} <= set(node)
    for dom in good["domains"]:
        assert {"name", "state", "max_memory_kib", "current_memory_kib", "vcpus"} <= set(dom)
    assert good["headroom"] == {"kvm-cloud-128mib": good["headroom"]["kvm-cloud-128mib"]}
    assert isinstance(good["headroom"]["kvm-cloud-128mib"], int)
    names = {d["name"] for d in good["domains"]}
    assert '<img src=x onerror="alert(1)">&<script>' in names
    assert "größe-日本-ünïcode" in names


def test_text_output_keeps_names_verbatim_and_escapes_control_characters() -> None:
    res = runner.invoke(app, ["check", uri("host-mixed.xml")])
    assert '<img src=x onerror="alert(1)">&<script>' in res.stdout
    assert "größe-日本-ünïcode" in res.stdout
    assert printable("evil\x1b[2Jname\n") == "evil\\x1b[2Jname\\n"


def test_missing_libvirt_python_is_one_clear_line() -> None:
    code = (
        "import sys; sys.modules['libvirt'] = None\n"
        "from planner.cli import main\n"
        "sys.argv = ['planner', 'check', 'test:///default']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip() == f"planner: error: {live.INSTALL_HINT}"


def test_a_profile_for_another_hypervisor_is_refused_as_fit_refuses_it() -> None:
    """xen-pv guests cannot run on a KVM host: fit refuses the mix, and so does check."""
    from planner.inputs.profiles import wrong_hypervisor_message

    why = wrong_hypervisor_message(load_guest_profile("xen-pv-128mib"), load_hypervisor_profile("kvm-qemu"))
    assert why.startswith("profile 'xen-pv-128mib' runs under xen-pv")
    (host,) = api.check([uri("host-mixed.xml")], profiles=["xen-pv-128mib"]).hosts
    assert (host.ok, host.bad_input, host.error) == (False, True, f"--profile: {why}")
    res = runner.invoke(app, ["check", uri("host-mixed.xml"), "--profile", "xen-pv-128mib"])
    assert res.exit_code == 2, res.output
    assert f"FAILED: --profile: {why}" in res.stdout
    # with a host file the host's hypervisor is known before any host is read: one line
    res = runner.invoke(
        app,
        [
            "check",
            uri("host-mixed.xml"),
            "--host",
            str(DATA / "host-mixed-two-nodes.yaml"),
            "--profile",
            "xen-pv-128mib",
        ],
    )
    assert (res.exit_code, res.stdout, res.stderr) == (2, "", f"planner: error: --profile: {why}\n")
    # a profile the host's hypervisor runs still gets its headroom
    (host,) = api.check([uri("host-mixed.xml")], profiles=["kvm-cloud-128mib"]).hosts
    assert host.ok and host.headroom["kvm-cloud-128mib"] > 0


def test_inputs_list_a_hypervisor_profile_given_by_path(tmp_path: Path) -> None:
    """A host file's hypervisor given by path is listed with its own file, as ``planner fit`` does."""
    shipped = Path(__file__).parent.parent / "profiles" / "hypervisors" / "kvm-qemu.yaml"
    (tmp_path / "local-kvm.yaml").write_text(shipped.read_text() + "# a local copy\n")
    host = tmp_path / "host.yaml"
    host.write_text(
        (DATA / "host-mixed-two-nodes.yaml")
        .read_text()
        .replace("hypervisor: kvm-qemu", "hypervisor: local-kvm.yaml")
    )
    result = api.check([uri("host-mixed.xml")], host_path=host)
    listed = [(f.role, f.path) for f in result.input_files if f.role.startswith("hypervisor profile")]
    assert listed == [("hypervisor profile kvm-qemu", str(tmp_path / "local-kvm.yaml"))]
