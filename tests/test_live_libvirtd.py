"""planner check end to end against a real libvirtd with a real TCG guest.

The fixture (tests/libvirt_lab.py) starts a private session libvirtd (as ``nobody`` when
root: nothing in /etc, /run or /var is touched) and boots the Debian cloud kernel with a
busybox initramfs and a virtio balloon, per reference/libvirt-recipes.md §3-§4. The planner
only ever reads (its connection is read-only); the fixture's admin connection creates and
destroys the guest.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner import api, live
from planner.errors import LiveQueryError
from planner.inputs.profiles import load_hypervisor_profile

pytestmark = pytest.mark.libvirtd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import libvirt_lab  # noqa: E402


@pytest.fixture(scope="session")
def lab() -> Iterator[libvirt_lab.LibvirtLab]:
    try:
        started = libvirt_lab.start_lab()
    except libvirt_lab.LabUnavailable as err:
        pytest.skip(f"libvirtd cannot start here: {err}")
    try:
        try:
            started.boot_guest()
        except libvirt_lab.LabUnavailable as err:
            pytest.skip(f"the libvirtd lab guest did not boot: {err}")
        yield started
    finally:
        started.close()
        leftover = started.qemu_pids()
        assert not leftover, f"qemu processes left behind: {leftover}"


def test_check_end_to_end(lab: libvirt_lab.LibvirtLab) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "planner", "check", "--json", "--profile", "kvm-cloud-128mib", lab.uri],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    (host,) = json.loads(proc.stdout)["hosts"]
    assert host["ok"] and host["error"] is None
    assert host["driver"] == "QEMU"
    assert host["hypervisor"] == "qemu-tcg"  # the guest is type='qemu' (TCG)
    assert host["nodes"] and all(n["capacity_kib"] > 0 for n in host["nodes"])
    (dom,) = host["domains"]
    assert dom["name"] == libvirt_lab.GUEST_NAME
    assert dom["state"] == "running"
    assert dom["max_memory_kib"] == dom["current_memory_kib"] == libvirt_lab.GUEST_MEMORY_KIB
    assert dom["vcpus"] == 1

    # balloon statistics reported by the guest's virtio_balloon driver (stats period 1 s)
    balloon = dom["balloon"]
    assert balloon["guest_reported"]
    assert balloon["current_kib"] == libvirt_lab.GUEST_MEMORY_KIB
    # available = guest MemTotal: the 128 MiB guest minus what its kernel reserved at boot
    assert 64 * 1024 < balloon["available_kib"] < libvirt_lab.GUEST_MEMORY_KIB
    assert 0 < balloon["unused_kib"] <= balloon["usable_kib"] <= balloon["available_kib"]
    console = lab.console.read_text() if lab.console else ""
    mem_total = next(line for line in console.splitlines() if line.startswith("MemTotal:"))
    assert int(mem_total.split()[1]) == balloon["available_kib"]

    # the qemu process measured from /proc/PID/smaps_rollup and smaps
    over = dom["overhead"]
    assert over["note"] is None
    assert over["pid"] in lab.qemu_pids()
    assert over["process_rss_kib"] > over["guest_ram_resident_kib"] > 0
    assert over["guest_ram_resident_kib"] <= libvirt_lab.GUEST_MEMORY_KIB
    # tens of MiB: TCG measured 94 MiB in reference/libvirt-recipes.md §3
    assert 20 * 1024 < over["measured_rss_kib"] < 200 * 1024
    assert over["measured_pss_kib"] <= over["measured_rss_kib"]
    # qemu's file pages (binary, libraries) are counted once per host, not in the per-guest figure
    assert 4 * 1024 < over["file_rss_kib"] < over["measured_rss_kib"]
    assert over["measured_kib"] == over["measured_rss_kib"] - over["file_rss_kib"] + over["page_tables_kib"]
    # ... compared with the qemu-tcg hypervisor profile's prediction (same kvm-qemu model)
    predicted = load_hypervisor_profile("qemu-tcg").host_overhead_kib(libvirt_lab.GUEST_MEMORY_KIB, 1)
    assert over["hypervisor"] == "qemu-tcg" and over["predicted_kib"] == predicted
    assert abs(over["measured_kib"] - predicted) < 0.5 * predicted
    kvm = load_hypervisor_profile("kvm-qemu").host_overhead_kib(libvirt_lab.GUEST_MEMORY_KIB, 1)
    assert kvm < over["measured_kib"]  # KVM has no translation cache: the KVM estimate is lower
    assert any("measured overhead" in n and "qemu-tcg predicts" in n for n in host["notes"])

    # committed = full size + predicted overhead, on the one node; headroom for the profile
    assert dom["committed_kib"] == libvirt_lab.GUEST_MEMORY_KIB + predicted
    assert sum(n["committed_kib"] for n in host["nodes"]) == dom["committed_kib"]
    assert host["headroom"]["kvm-cloud-128mib"] > 0
    assert host["nodes"][0]["used_kib"] is not None and host["nodes"][0]["free_kib"] is not None


def test_snapshot_reads_the_host(lab: libvirt_lab.LibvirtLab) -> None:
    snap = live.snapshot(lab.uri)
    assert snap.local and snap.driver == "QEMU"
    assert snap.kernel_release == os.uname().release
    assert snap.nodes and all(n.memory_kib > 0 and n.free_kib is not None for n in snap.nodes)
    assert snap.stats_total_kib is not None and snap.stats_free_kib is not None
    (dom,) = snap.domains
    assert dom.config.domain_type == "qemu" and dom.config.balloon_stats_period_s == 1
    assert dom.process is not None and dom.process.guest_ram_mappings == 1
    assert dom.balloon is not None and dom.balloon.rss_kib is not None
    # libvirt's balloon rss is the qemu VmRSS: the same process smaps_rollup measured
    assert abs(dom.balloon.rss_kib - dom.process.rss_kib) < 16 * 1024


def test_check_in_parallel_with_an_unreachable_host(lab: libvirt_lab.LibvirtLab) -> None:
    result = api.check([lab.uri, "qemu+tcp://127.0.0.1:1/system"], profiles=["kvm-cloud-128mib"])
    good, bad = result.hosts
    assert good.ok and len(good.domains) == 1
    assert not bad.ok and "Connection refused" in (bad.error or "")


def test_permission_denied_is_a_clear_per_host_error(lab: libvirt_lab.LibvirtLab) -> None:
    """Another (unprivileged) user cannot open the daemon's 0700 socket.

    The child imports everything it needs as root (a check of ``test:///default`` loads libvirt
    and every lazy import), then drops to the other user itself, so the test does not depend on
    that user being able to read the checkout and its venv (a clone under a 0700 directory).
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to run the check as another user")
    other = lab.uid - 1  # not the daemon's user, not root
    code = (
        "import json, os\n"
        "from planner import api\n"
        "api.check(['test:///default'])\n"
        "os.setgroups([])\n"
        f"os.setresgid({other}, {other}, {other}); os.setresuid({other}, {other}, {other})\n"
        f"r = api.check([{lab.uri!r}])\n"
        "print(json.dumps(r.to_json()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={**os.environ, "HOME": "/", "PLANNER_CACHE": "/nonexistent"},
    )
    assert proc.returncode == 0, proc.stderr
    (host,) = json.loads(proc.stdout)["hosts"]
    assert not host["ok"]
    assert "Permission denied" in host["error"]


def test_calibrate_host_on_the_lab_guests(lab: libvirt_lab.LibvirtLab, tmp_path: Path) -> None:
    """A second guest of another size and vCPU count (about 5 s to boot) lets the fit identify
    the per-vCPU term beside the fixed one; the profile written plans a host."""
    extra = "planner-live-extra"
    lab.boot_extra_guest(extra, 256 * 1024, 2)
    try:
        out = tmp_path / "lab-tcg.yaml"
        proc = subprocess.run(
            [sys.executable, "-m", "planner", "calibrate-host", "--json", "-o", str(out), lab.uri],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        lab.destroy_guest(extra)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout)
    assert result["base"] == "qemu-tcg" and result["output"] == str(out)  # the guests are type='qemu'
    domains = {d["name"]: d for d in result["domains"]}
    assert set(domains) == {libvirt_lab.GUEST_NAME, extra}
    assert (domains[extra]["memory_kib"], domains[extra]["vcpus"]) == (256 * 1024, 2)
    params = result["parameters"]
    assert params["process_kib"]["fitted"] and params["per_extra_vcpu_kib"]["fitted"]
    # two domains whose size and vCPUs both differ: the per-MiB term cannot be told apart
    assert not params["page_table_ram_divisor"]["fitted"]
    assert "cannot be told apart" in result["kept"]["page_table_ram_divisor"]
    # TCG: 94.2 MiB and about 2.4 MiB per extra vCPU in reference/libvirt-recipes.md §3
    assert 0.5 * 94 * 1024 < params["process_kib"]["value"] < 1.5 * 94 * 1024
    assert 0 < params["per_extra_vcpu_kib"]["value"] < 8 * 1024
    assert all(d["residual_kib"] == d["measured_kib"] - d["predicted_kib"] for d in domains.values())
    assert any("fit is exact" in n for n in result["notes"])
    # usable as hypervisor: in a host file; its measured overhead applies to the guests
    profile = load_hypervisor_profile(str(out))
    assert profile.params.process_kib == params["process_kib"]["value"]
    assert lab.uri in profile.sources["process_kib"].source
    host = tmp_path / "host.yaml"
    host.write_text(
        "host:\n  capacity: 1GiB\n  cpus: 2\n  hypervisor: ./lab-tcg.yaml\n"
        "guests:\n  - profile: kvm-cloud-128mib\n"
    )
    fitted = api.fit(host).per_guest["kvm-cloud-128mib"]
    assert fitted.host_overhead_kib == profile.host_overhead_kib(128 * 1024, 1)


def test_daemon_restarted_mid_check(lab: libvirt_lab.LibvirtLab) -> None:
    """A connection opened before the daemon restarts fails with a clear error; a new check works
    (libvirtd reconnects to the running guest). Runs last: it restarts the shared daemon."""
    conn = live.open_read_only(lab.uri)
    try:
        lab.restart_daemon()
        with pytest.raises(LiveQueryError, match="connection lost"):
            live.read_host(conn, lab.uri)
    finally:
        with contextlib.suppress(Exception):  # the connection is already broken
            conn.close()
    (host,) = api.check([lab.uri]).hosts
    assert host.ok, host.error
    assert [d.name for d in host.domains] == [libvirt_lab.GUEST_NAME]
    assert host.domains[0].state == "running"
