"""planner density: the memory cgroup (v2 or v1), the idle initramfs, fit's counts for a limit,
and one small real run (96 MiB guests under qemu TCG in a 448 MiB cgroup until the OOM killer
strikes), its cleanup on SIGTERM, and the command's errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.bootlab import cgroup, density, fetch, idle, qemu
from planner.bootlab.cgroup import CgroupUnavailableError, create_memory_cgroup
from planner.cli import app
from planner.inputs.profiles import load_guest_profile, load_hypervisor_profile
from planner.report.density import density_text
from planner.results.density import DensityResult
from planner.workflows.density import density_request, fit_counts, run_density_profile

MIB = 1024
runner = CliRunner()


# --- parsing -------------------------------------------------------------------------------------
def test_proc_cgroup_and_mountinfo_of_a_hybrid_machine() -> None:
    """Lines as this machine prints them (v1 controllers + an empty cgroup2 at .../unified)."""
    own = cgroup.parse_proc_cgroup("9:name=systemd:/\n5:cpu,cpuacct:/a\n4:memory:/process_api/x\n0::/\n")
    assert own == {"name=systemd": "/", "cpu": "/a", "cpuacct": "/a", "memory": "/process_api/x", "": "/"}
    mounts = cgroup.parse_mountinfo(
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
    )
    assert [(str(m.mount_point), m.version, m.controllers) for m in mounts] == [
        ("/sys/fs/cgroup/memory", 1, ("rw", "memory")),
        ("/sys/fs/cgroup/unified", 2, ()),
    ]
    assert cgroup.parse_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == {
        "oom_kill_disable": 0,
        "under_oom": 0,
        "oom_kill": 3,
    }


def _fake_v2(tmp_path: Path, *, root_enabled: str, own_enabled: str, controllers: str) -> Path:
    """A cgroup2 tree as plain files, for the choice of parent on a v2 machine (none here)."""
    root = tmp_path / "cg2"
    own = root / "user.slice" / "session.scope"
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text(root_enabled + "\n")
    (root / "user.slice" / "cgroup.subtree_control").write_text(root_enabled + "\n")
    (own / "cgroup.subtree_control").write_text(own_enabled + "\n")
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text("0::/user.slice/session.scope\n")
    (proc / "mountinfo").write_text(f"41 31 0:38 / {root} rw,relatime - cgroup2 cgroup2 rw\n")
    return proc


def test_v2_group_goes_under_the_nearest_ancestor_with_memory_enabled(tmp_path: Path) -> None:
    """Our own cgroup holds processes, so it cannot enable memory for children (the "no internal
    process" rule): the group is made one level up, where it is enabled, and nothing is changed."""
    proc = _fake_v2(tmp_path, root_enabled="cpu memory", own_enabled="", controllers="cpu memory")
    group = create_memory_cgroup(640 * MIB, "planner-test", proc=proc, versions=(2,))
    assert group.path == tmp_path / "cg2" / "user.slice" / "planner-test"
    assert (group.path / "memory.max").read_text() == str(640 * MIB * 1024)
    assert group.version == 2 and not group.swap_limited  # no memory.swap.max in this tree
    assert (tmp_path / "cg2" / "user.slice" / "session.scope" / "cgroup.subtree_control").read_text() == "\n"


def test_no_memory_controller_anywhere_says_what_was_tried(tmp_path: Path) -> None:
    proc = _fake_v2(tmp_path, root_enabled="cpu", own_enabled="", controllers="cpu io")
    with pytest.raises(CgroupUnavailableError) as err:
        create_memory_cgroup(640 * MIB, "planner-test", proc=proc)
    assert str(err.value) == (
        f"no memory cgroup can be made here: cgroup v2 at {tmp_path / 'cg2'}: no memory controller in "
        "cgroup.controllers; cgroup v1: no memory hierarchy mounted"
    )


# --- the real cgroup -----------------------------------------------------------------------------
@pytest.fixture
def small_group() -> Iterator[cgroup.MemoryCgroup]:
    try:
        group = create_memory_cgroup(48 * MIB, f"planner-test-{os.getpid()}")
    except (CgroupUnavailableError, OSError) as err:
        pytest.skip(f"no memory cgroup can be made here: {err}")
    try:
        yield group
    finally:
        for pid in group.pids():
            os.kill(pid, signal.SIGKILL)
        assert group.remove()


def test_a_process_over_the_limit_is_oom_killed_and_counted(small_group: cgroup.MemoryCgroup) -> None:
    """A real memory hog (writes 128 MiB) in a 48 MiB group: SIGKILL, one OOM kill counted."""
    group = small_group
    limit_file = "memory.max" if group.version == 2 else "memory.limit_in_bytes"
    assert int((group.path / limit_file).read_text()) == 48 * MIB * 1024
    listed = subprocess.run(
        group.wrap(["cat", "/proc/self/cgroup"]), capture_output=True, text=True, check=True
    )
    assert f"/{group.path.name}\n" in listed.stdout
    hog = subprocess.run(group.wrap([sys.executable, "-c", "b = b'x' * (128 << 20)"]), capture_output=True)
    assert hog.returncode == -signal.SIGKILL
    assert group.oom_kills() == 1
    if group.version == 2:  # memory.events max; v1's failcnt stays 0 on some kernels (6.18 here)
        assert group.limit_hits() >= 1
    peak_kib = group.peak_kib()
    assert peak_kib is None or peak_kib <= 48 * MIB
    assert group.pids() == []


# --- the idle initramfs ----------------------------------------------------------------------------
def test_idle_initramfs_holds_init_and_modules_in_order(tmp_path: Path) -> None:
    if shutil.which("cpio") is None:
        pytest.skip("cpio not installed (Debian package cpio)")
    image = tmp_path / "idle.cpio.gz"
    image.write_bytes(idle.idle_initramfs(b"\x7fELF busybox", {"virtio_ring": b"ring", "virtio": b"v"}))
    out = tmp_path / "root"
    out.mkdir()
    subprocess.run(f"zcat {image} | cpio -idm --quiet", shell=True, cwd=out, check=True)
    init = (out / "init").read_text()
    assert "for m in virtio_ring virtio; do" in init  # virtio_ring before virtio (libvirt-recipes §3)
    assert "echo IDLE-READY" in init and "planner_tmpfs_mib=*)" in init
    assert (out / "modules" / "virtio_ring.ko").read_bytes() == b"ring"
    assert idle.idle_initramfs(b"x") == idle.idle_initramfs(b"x")  # deterministic
    assert idle.tmpfs_cmdline(32) == "planner_tmpfs_mib=32" and idle.tmpfs_cmdline(0) == ""


# --- fit's counts for a limit ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("profile", "memory", "limit_mib", "tmpfs", "guaranteed", "expected", "source"),
    [
        # qemu-tcg: 71.7 MiB per guest, 23 MiB of qemu's file pages once in the limit (1513 left):
        # 1513 / (128 + 71.7) = 7.6; 1513 / (114 measured footprint + 71.7) = 8.1
        ("kvm-cloud-128mib", None, 1536, None, 7, 8, "profile"),
        # 2025 / (256 + 72.0) = 6.2; 2025 / (120 measured footprint + 72.0) = 10.5
        ("kvm-cloud-256mib", None, 2048, None, 6, 10, "profile"),
        # not the profile's size: the kernel model's footprint, capped at 96 MiB: 1001 / 167.6 = 5.97
        ("kvm-cloud-128mib", "96MiB", 1024, None, 5, 5, "model"),
        # 114 + 32 MiB of data + its page tables is over 128 MiB: capped, both 1513 / 199.7 = 7.6
        ("kvm-cloud-128mib", None, 1536, "32MiB", 7, 7, "profile"),
    ],
)
def test_fit_counts_for_the_reference_limits(
    profile: str, memory: str | None, limit_mib: int, tmpfs: str | None, guaranteed: int, expected: int,
    source: str,
) -> None:  # fmt: skip
    request = density_request(profile, limit=f"{limit_mib}MiB", memory=memory, workload_tmpfs=tmpfs)
    p = load_guest_profile(profile)
    memory_kib = request.memory_kib or int(p.memory_kib)
    tcg = load_hypervisor_profile("qemu-tcg")
    fit = fit_counts(request, p, tcg, memory_kib)
    assert (fit.guaranteed_count, fit.expected_count, fit.footprint_source) == (guaranteed, expected, source)
    assert fit.guaranteed_demand_kib == memory_kib + tcg.host_overhead_kib(memory_kib, 1)
    assert fit.expected_resident_kib <= memory_kib
    # qemu's file pages are charged to the cgroup once, not per guest
    assert fit.shared_kib == tcg.params.shared_file_kib == 23 * MIB
    room = limit_mib * MIB - fit.shared_kib
    assert fit.guaranteed_count * fit.guaranteed_demand_kib <= room
    assert (fit.guaranteed_count + 1) * fit.guaranteed_demand_kib > room
    assert fit.expected_count * fit.expected_demand_kib <= room
    assert (fit.expected_count + 1) * fit.expected_demand_kib > room


# --- the command's errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--limit", "32MiB"], "--limit: expected at least 64MiB; found 32 MiB"),
        (["--limit", "900TiB"], "--limit: expected at most "),
        (["--limit", "1GiB", "--hold", "-1"], "--hold: expected a positive number of seconds; found -1"),
        (
            ["--limit", "1GiB", "--workload-tmpfs", "100k"],
            "--workload-tmpfs: expected whole MiB; found 100 KiB",
        ),
        (["--limit", "1GiB", "--memory", "32MiB"], "--memory: expected at least 76 MiB, the smallest size"),
        (["--limit", "1GiB", "--accel", "xen"], "--accel: expected auto, tcg or kvm; found 'xen'"),
        (
            ["--limit", "1GiB", "--memory", "96MiB", "--workload-tmpfs", "64MiB"],
            "--workload-tmpfs: expected at most 40.9 MiB, what a 96 MiB debian12-cloud-amd64 guest "
            "leaves usable; found 64 MiB",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], line: str) -> None:
    result = runner.invoke(app, ["density", "kvm-cloud-128mib", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"planner: error: {line}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_profile_for_another_hypervisor_is_refused_before_booting() -> None:
    result = runner.invoke(app, ["density", "xen-pv-128mib", "--limit", "1GiB"])
    assert result.exit_code == 2
    assert result.stderr == (
        "planner: error: PROFILE: profile 'xen-pv-128mib' runs under xen-pv, xenserver-pv; expected a "
        "profile for KVM/qemu (planner density boots guests under qemu)\n"
    )


# --- real runs -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def can_boot() -> None:
    if shutil.which(qemu.QEMU_BINARY["x86_64"]) is None:
        pytest.skip(
            f"{qemu.QEMU_BINARY['x86_64']} not installed (Debian package {qemu.QEMU_PACKAGE['x86_64']})"
        )
    try:
        fetch.kernel_in_package(fetch.fetch_package("linux-image-cloud-amd64"))
    except fetch.FetchError as err:
        pytest.skip(f"cannot fetch linux-image-cloud-amd64: {err}")
    try:
        create_memory_cgroup(64 * MIB, f"planner-probe-{os.getpid()}").remove()
    except (CgroupUnavailableError, OSError) as err:
        pytest.skip(f"no memory cgroup can be made here: {err}")


@pytest.mark.qemu
def test_small_run_until_the_oom_killer(can_boot: None, tmp_path: Path) -> None:
    """96 MiB guests (each about 175 MiB of cgroup) with 8 MiB of tmpfs data in 448 MiB: two
    come up, the third's boot makes the OOM killer strike; fit guarantees two (448 / 190.6)."""
    request = density_request(
        "kvm-cloud-128mib", limit="448MiB", memory="96MiB", workload_tmpfs="8MiB", hold_s=5,
        accel="tcg", timeout_s=150, max_guests=6, output=tmp_path,
    )  # fmt: skip
    result = run_density_profile(request)
    run = result.run
    assert run.oom_kills >= 1 and result.oom_observed
    assert run.stop_reason == "oom"
    assert result.fit.guaranteed_count == 2
    # the count that held before the guest whose boot made the OOM killer strike is up again
    # after the hold: where the OOM killer took more victims than one (one run here lost two of
    # three guests to one boot), guests were started again up to it
    assert result.fit.guaranteed_count <= run.stable_count, density_text(result)
    assert result.booted == run.stable_count, density_text(result)
    assert run.restarts == sum(g.restart for g in run.guests) == doc_restarts(result)
    assert run.stable_count >= 1 and run.stable_usage_kib is not None
    assert run.stable_usage_kib <= 448 * MIB
    assert any(g.returncode == -signal.SIGKILL for g in run.guests)  # the OOM killer's victim
    first = run.guests[0]
    assert first.boot_wall_s is not None and first.rss_kib is not None and first.guest_ram_resident_kib
    assert 64 * MIB < first.guest_ram_resident_kib <= 96 * MIB < first.rss_kib
    # qemu's file pages (binary, libraries): part of its RSS, in fit once, not per guest
    assert (
        first.file_rss_kib is not None
        and 4 * MIB < first.file_rss_kib < first.rss_kib - first.guest_ram_resident_kib
    )
    assert "TMPFS-WRITTEN 8 MiB" in Path(first.console).read_text(errors="replace")
    assert not any(g.tmpfs_failed for g in run.guests)
    assert not Path(run.cgroup_path).exists()  # removed, every qemu gone
    for g in run.guests:
        assert not Path(f"/proc/{g.pid}").exists() or "zombie" in Path(f"/proc/{g.pid}/status").read_text()
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["booted"] == result.booted and doc["run"]["oom_observed"] is True
    text = density_text(result)
    assert f"booted {result.booted}, guaranteed 2, expected 2" in text
    assert f"guaranteed 2 <= booted {result.booted}: the guaranteed count held" in text


def doc_restarts(result: DensityResult) -> int:
    restarts: int = json.loads(json.dumps(result.to_json()))["run"]["restarts"]
    return restarts


def _density_groups(pid: int) -> list[Path]:
    return list(Path("/sys/fs/cgroup").rglob(f"planner-density-{pid}"))


@pytest.mark.qemu
def test_sigterm_kills_every_guest_and_removes_the_cgroup(can_boot: None, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "planner", "density", "kvm-cloud-128mib", "--limit", "640MiB"),
            *("--memory", "96MiB", "--accel", "tcg", "-o", str(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    pids: list[int] = []
    while not pids:
        assert time.monotonic() < deadline and proc.poll() is None, "no guest was started"
        groups = _density_groups(proc.pid)
        pids = [int(p) for g in groups for p in (g / "cgroup.procs").read_text().split()] if groups else []
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"planner: interrupted; every qemu killed and the cgroup removed; the console logs are in {tmp_path}"
    )
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []
    assert _density_groups(proc.pid) == []


def test_guests_start_with_the_devices_libvirt_gives_a_domain() -> None:
    """The hypervisor profiles were measured on libvirt's qemu: density starts its guests with
    the same devices (none of qemu's defaults, a serial console, a balloon), not qemu's VGA,
    floppy, CD-ROM and monitor, which cost ~9 MiB more per guest."""
    recorded = (Path(__file__).parent / "data/libvirt/qemu-tcg-128mib.cmdline").read_bytes().split(b"\0")
    libvirt = [a.decode() for a in recorded]
    argv = qemu.qemu_argv(
        qemu="qemu-system-x86_64", arch="x86_64", kernel=Path("vmlinuz"), initrd=Path("initrd"),
        memory_kib=128 * MIB, vcpu_count=1, machine="pc", cmdline="console=ttyS0", devices="libvirt",
    )  # fmt: skip
    for flag in ("-nodefaults", "-no-user-config"):
        assert flag in libvirt and flag in argv
    assert "-nographic" not in argv and "-nographic" not in libvirt
    balloon = argv[argv.index("-device") + 1]
    assert any(f'"driver":"{balloon}"' in a for a in libvirt)
    assert argv[argv.index("-display") + 1] == libvirt[libvirt.index("-display") + 1] == "none"
    assert argv[argv.index("-serial") + 1] == "stdio"  # the console the run reads


@pytest.mark.qemu
def test_guests_the_oom_killer_took_beyond_one_are_started_again(can_boot: None, tmp_path: Path) -> None:
    """After an OOM stop the run restores the count that held before the hold: here two guests
    hold, one is killed as a second OOM victim would be, and one is started again."""
    lab = density.prepare_idle_lab("linux-image-cloud-amd64", accel="tcg")
    settings = density.DensitySettings(
        memory_kib=96 * MIB, vcpu_count=1, limit_kib=1024 * MIB, hold_s=0, max_guests=2, boot_timeout_s=150
    )
    events: list[density.DensityEvent] = []
    with cgroup.memory_cgroup(settings.limit_kib) as group:
        run = density._Run(density.guest_argv(lab, settings), group, tmp_path, settings.memory_kib)
        try:
            assert density._add_guests(run, settings, events.append) == "max-guests"
            assert (run.up(), run.held()) == (2, 2)
            run.guests[0].kill()
            run.poll()
            assert run.up() == 1
            density._restore(run, "oom", settings, events.append)
            assert (run.up(), run.held(), len(run.guests)) == (2, 2, 3)
            again = run.guests[2].record()
            assert again.restart and again.boot_wall_s is not None and again.usage_after_kib is not None
            assert "the OOM killer took 1 guest beyond one; starting guests again up to 2" in [
                e.text for e in events
            ]
            density._restore(run, "oom", settings, events.append)  # nothing lost: nothing started
            assert len(run.guests) == 3
        finally:
            run.kill_all()
