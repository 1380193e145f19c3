"""planner bootlab: initramfs, kernel image recognition, qemu runs, manifest, find-min, bad input.

The ``qemu`` tests boot the real Debian kernels (fetched by ./setup.sh into the cache)
under TCG: one size per architecture, one size too small to boot, a hang killed by the
timeout, a SIGTERM mid-campaign, and a short --find-min.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.bootlab import campaign, fetch, initramfs, lab, qemu
from planner.bootlab.image import read_kernel_image
from planner.cli import app
from planner.errors import InputError
from planner.evidence.capture import DUMP_BEGIN, DUMP_END
from planner.units import KIB_PER_MIB

DATA = Path(__file__).parent / "data" / "bootlab"
runner = CliRunner()


# --- kernels and busybox from the cache (./setup.sh runs `planner fetch`) ----------------------
def _fetched_kernel(name: str) -> Path:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not available: cannot fetch Debian kernels")
    try:
        return fetch.kernel_in_package(fetch.fetch_package(name))
    except fetch.FetchError as err:
        pytest.skip(f"cannot fetch {name}: {err}")


def _need_qemu(arch: str) -> None:
    if shutil.which(qemu.QEMU_BINARY[arch]) is None:
        pytest.skip(f"{qemu.QEMU_BINARY[arch]} not installed (Debian package {qemu.QEMU_PACKAGE[arch]})")


@pytest.fixture(scope="module")
def cloud_kernel() -> Path:
    _need_qemu("x86_64")
    return _fetched_kernel("linux-image-cloud-amd64")


@pytest.fixture(scope="module")
def s390x_kernel() -> Path:
    _need_qemu("s390x")
    return _fetched_kernel("linux-image-s390x:s390x")


def _sections(text: str) -> dict[str, str]:
    """``==== NAME`` sections of a dump (first occurrence of each)."""
    body = text.split(DUMP_BEGIN, 1)[1].split(DUMP_END, 1)[0]
    out: dict[str, str] = {}
    for chunk in body.split("\n==== ")[1:]:
        name, _, content = chunk.partition("\n")
        out.setdefault(name.strip(), content)
    return out


def _qemu_pids_using(path: Path) -> list[int]:
    """Live processes whose command line mentions ``path`` (a per-test copy of the kernel)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmd and "qemu-system" in cmd:
            pids.append(int(proc.name))
    return pids


# --- initramfs ----------------------------------------------------------------------------------
def test_initramfs_is_a_cpio_that_gnu_cpio_lists(tmp_path: Path) -> None:
    if shutil.which("cpio") is None:
        pytest.skip("cpio not installed (Debian package cpio)")
    busybox = b"\x7fELF fake busybox for the listing"
    image = tmp_path / "initrd.cpio.gz"
    image.write_bytes(initramfs.build_initramfs(busybox))
    listing = subprocess.run(
        f"zcat {image} | cpio -itv --quiet", shell=True, capture_output=True, text=True, check=True
    ).stdout
    lines = {
        line.split()[-1] if "->" not in line else line.split()[-3]: line for line in listing.splitlines()
    }
    assert lines["dev/console"].startswith("crw-------") and "5,   1" in lines["dev/console"]
    assert lines["dev/null"].startswith("crw-rw-rw-") and "1,   3" in lines["dev/null"]
    assert lines["init"].startswith("-rwxr-xr-x")
    assert "bin/sh -> busybox" in listing and "sbin/poweroff -> ../bin/busybox" in listing
    # extract and compare contents byte for byte
    out = tmp_path / "root"
    out.mkdir()
    subprocess.run(f"zcat {image} | cpio -idm --quiet", shell=True, cwd=out, check=True)
    assert (out / "init").read_bytes() == (Path(initramfs.__file__).parent / "init.sh").read_bytes()
    assert (out / "bin" / "busybox").read_bytes() == busybox
    assert stat.S_ISCHR((out / "dev" / "console").lstat().st_mode)


def test_initramfs_is_deterministic() -> None:
    assert initramfs.build_initramfs(b"x" * 1001) == initramfs.build_initramfs(b"x" * 1001)
    assert initramfs.build_initramfs(b"x") != initramfs.build_initramfs(b"y")


def test_init_script_dumps_the_evidence_sections() -> None:
    script = initramfs.init_script().decode()
    for name in ("dmesg", "/proc/meminfo", "/proc/slabinfo", "/proc/zoneinfo", "/proc/vmstat", "/proc/iomem"):
        assert f'sec "{name}"' in script
    assert "min_free_kbytes" in script and "transparent_hugepage/enabled" in script
    assert DUMP_BEGIN in script and DUMP_END in script and "poweroff -f" in script


def test_busybox_must_be_a_static_elf_of_the_guest_arch(tmp_path: Path) -> None:
    """Debian busybox-static passes for its own architecture; a text file, a dynamically
    linked program and the other architecture's busybox are refused before any boot."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not available: cannot fetch Debian busybox-static")
    try:
        x86, _ = fetch.fetch_busybox("x86_64")
        s390x, _ = fetch.fetch_busybox("s390x")
    except fetch.FetchError as err:
        pytest.skip(f"cannot fetch busybox-static: {err}")
    initramfs.check_busybox(x86, "x86_64")
    initramfs.check_busybox(s390x, "s390x")
    expected = "--busybox: expected a static 64-bit x86_64 busybox (Debian busybox-static); found"
    with pytest.raises(InputError, match=re.escape(f"{expected} an ELF file for s390x")):
        initramfs.check_busybox(s390x, "x86_64")
    dynamic = Path(sys.executable).resolve()  # Debian's python3 is dynamically linked
    with pytest.raises(InputError, match=re.escape(f"{expected} a dynamically linked executable")):
        initramfs.check_busybox(dynamic, "x86_64")
    text = tmp_path / "busybox"
    text.write_text("#!/bin/sh\n")
    with pytest.raises(InputError, match=re.escape(f"{expected} no ELF header")):
        initramfs.check_busybox(text, "x86_64")
    with pytest.raises(InputError, match=re.escape(f"{expected} no such file")):
        initramfs.check_busybox(tmp_path / "missing", "x86_64")


# --- kernel images ------------------------------------------------------------------------------
def test_recognises_the_debian_kernels(cloud_kernel: Path, s390x_kernel: Path) -> None:
    x86 = read_kernel_image(cloud_kernel)
    assert x86.arch == "x86_64"
    assert x86.version_text is not None and x86.version_text.startswith(
        cloud_kernel.name.removeprefix("vmlinuz-")
    )
    # reference/bootlab-debian-6.1.md: init_size 51.5 MiB for the cloud kernel
    assert x86.init_size_bytes is not None and 40 * 2**20 < x86.init_size_bytes < 64 * 2**20
    assert read_kernel_image(s390x_kernel).arch == "s390x"


def test_refuses_a_file_that_is_not_a_kernel(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(InputError, match=r"notes.txt: expected an x86-64 bzImage .* found a text file"):
        read_kernel_image(text)
    elf = tmp_path / "vmlinux"
    elf.write_bytes(b"\x7fELF" + b"\0" * 5000)
    with pytest.raises(InputError, match="found an ELF file"):
        read_kernel_image(elf)
    with pytest.raises(InputError, match="no such file"):
        read_kernel_image(tmp_path / "missing")


def test_refuses_an_architecture_mismatch(s390x_kernel: Path) -> None:
    with pytest.raises(InputError, match="--arch: --arch is x86_64 but the kernel image is s390x"):
        read_kernel_image(s390x_kernel, expected_arch="x86_64")


# --- command construction and classification --------------------------------------------------
def test_cmdline_and_machine() -> None:
    assert qemu.full_cmdline("x86_64") == "console=ttyS0 loglevel=8 log_buf_len=1M panic=-1"
    assert qemu.full_cmdline("s390x", "mem=1G") == "console=ttysclp0 mem=1G panic=-1"
    assert qemu.full_cmdline("x86_64", "console=hvc0 panic=5") == "console=hvc0 panic=5"
    assert qemu.check_machine("s390x", None) == "s390-ccw-virtio"
    with pytest.raises(
        InputError, match="--machine: expected one of pc, q35 for x86_64; found 's390-ccw-virtio'"
    ):
        qemu.check_machine("x86_64", "s390-ccw-virtio")


def test_classifies_the_committed_logs_as_the_reference_describes() -> None:
    """reference/bootlab-debian-6.1.md §2: cloud-amd64 boots at 76 MiB, OOM-panics at 72-74 MiB,
    resets silently at <= 64 MiB; s390x boots at 46 MiB and panics at 32 MiB (not OOM)."""
    expected = {
        "cloud-amd64": {"64MiB-1cpu": "silent-reset", "74MiB-1cpu": "oom-panic", "76MiB-1cpu": "dump"},
        "amd64": {"76MiB-1cpu": "silent-reset", "88MiB-1cpu": "oom-panic", "90MiB-1cpu": "dump"},
        "s390x": {"32MiB-1cpu": "panic", "42MiB-1cpu": "oom-panic", "46MiB-1cpu": "dump"},
    }
    for flavour, cases in expected.items():
        manifest = json.loads((DATA / flavour / "manifest.json").read_text())
        by_log = {b["log"]: b for b in manifest["boots"]}
        for label, outcome in cases.items():
            boot = by_log[f"{label}.log"]
            run = qemu.QemuRun(tuple(boot["qemu_argv"]), boot["qemu_returncode"], boot["boot_wall_s"], False)
            text = qemu.read_console(DATA / flavour / boot["log"])
            assert qemu.classify(text, run) == outcome, (flavour, label)
            assert boot["outcome"] == outcome


def test_fetch_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLANNER_CACHE", str(tmp_path / "c"))
    assert fetch.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PLANNER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert fetch.cache_dir() == tmp_path / "x" / "planner"
    assert fetch.looks_like_package("linux-image-s390x:s390x")
    assert not fetch.looks_like_package("./vmlinuz")


def test_fetch_follows_the_kernel_metapackage() -> None:
    if shutil.which("apt-cache") is None:
        pytest.skip("apt-cache not available")
    package, version, deb_arch = fetch.resolve("linux-image-s390x:s390x")
    assert re.fullmatch(r"linux-image-\d+\.\d+\.\d+-\d+-s390x", package), package
    assert deb_arch == "s390x" and version[0].isdigit()


# --- bad input through the CLI --------------------------------------------------------------------
def test_cli_not_a_kernel(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(70000))
    result = runner.invoke(app, ["bootlab", "--kernel", str(junk), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"planner: error: {junk}: expected an x86-64 bzImage (HdrS at 0x202) or an s390x kernel image "
        "(S390EP at 0x10008); found no known kernel header"
    ]
    assert not (tmp_path / "out").exists()


def test_cli_arch_mismatch(s390x_kernel: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["bootlab", "--kernel", str(s390x_kernel), "--arch", "x86_64", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--arch: --arch is x86_64 but the kernel image is s390x" in result.output


def test_cli_bad_sizes_and_vcpus(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bootlab", "--kernel", "x", "--memory", "128XB", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "--memory: expected a size such as 128MiB" in result.output
    result = runner.invoke(app, ["bootlab", "--kernel", "x", "--vcpus", "0", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "--vcpus: expected a positive whole number; found '0'" in result.output
    result = runner.invoke(app, ["bootlab", "--kernel", "x", "--jobs", "0", "-o", str(tmp_path)])
    assert result.exit_code == 2 and result.output == "planner: error: --jobs: expected at least 1; found 0\n"
    result = runner.invoke(app, ["bootlab", "--kernel", "x", "--calibrate", "../x", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert (
        result.output
        == "planner: error: --calibrate: expected a file name (letters, digits, . _ -); found '../x'\n"
    )
    result = runner.invoke(app, ["bootlab", "--kernel", "x", "--find-min", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "--memory: expected two sizes bounding the search" in result.output


def test_cli_output_is_a_file_or_holds_another_kernel(cloud_kernel: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = runner.invoke(app, ["bootlab", "--kernel", str(cloud_kernel), "-o", str(afile)])
    assert result.exit_code == 2
    assert (
        result.output
        == f"planner: error: {afile}: --output: expected a directory for the logs; found a file\n"
    )
    out = tmp_path / "out"
    shutil.copytree(DATA / "s390x", out)
    before = (out / "manifest.json").read_bytes()
    result = runner.invoke(app, ["bootlab", "--kernel", str(cloud_kernel), "--accel", "tcg", "-o", str(out)])
    assert result.exit_code == 2
    assert "manifest.json: holds boots of another kernel" in result.output
    assert (out / "manifest.json").read_bytes() == before


def test_cli_output_or_cache_that_cannot_be_made(
    cloud_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = runner.invoke(
        app, ["bootlab", "--kernel", str(cloud_kernel), "--accel", "tcg", "-o", f"{afile}/o"]
    )
    assert result.exit_code == 2
    assert result.output == (
        f"planner: error: {afile}/o: --output: expected a directory that can be created; "
        "mkdir failed: Not a directory\n"
    )
    monkeypatch.setenv("PLANNER_CACHE", str(afile))
    result = runner.invoke(app, ["fetch"])
    assert result.exit_code == 2
    assert result.output == (
        f"planner: error: {afile}/debs: PLANNER_CACHE: expected a directory that can be created; "
        "mkdir failed: Not a directory\n"
    )


def test_cli_missing_qemu_names_the_package(cloud_kernel: Path, tmp_path: Path) -> None:
    """PATH with apt/dpkg (busybox comes from the cache) but no qemu."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("dpkg", "dpkg-deb", "apt-get", "apt-cache"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bindir)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "planner",
            "bootlab",
            "--kernel",
            str(cloud_kernel),
            "-o",
            str(tmp_path / "o"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip() == (
        "planner: error: qemu-system-x86_64 not found on PATH: install the Debian package qemu-system-x86 "
        "(apt-get install qemu-system-x86)"
    )
    assert "Traceback" not in proc.stderr


def test_run_qemu_without_the_binary_names_the_package_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(qemu.ToolMissingError) as err:
        qemu.run_qemu([str(tmp_path / "qemu-system-s390x")], tmp_path / "boot.log", timeout_s=5)
    assert str(err.value) == (
        f"{tmp_path}/qemu-system-s390x not found: install the Debian package qemu-system-misc "
        "(apt-get install qemu-system-misc)"
    )
    assert os.listdir(tmp_path) == []


# --- real boots -----------------------------------------------------------------------------------
@pytest.mark.qemu
def test_boot_x86_dump_too_small_and_calibrate(
    cloud_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # --calibrate writes ./profiles/kernels/NAME.yaml
    out = tmp_path / "cloud"
    result = runner.invoke(
        app,
        [
            *("bootlab", "--kernel", str(cloud_kernel), "--memory", "64MiB,128MiB,192MiB,256MiB"),
            *("--accel", "tcg", "-o", str(out), "--calibrate", "test-cloud"),
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    boots = {b["log"]: b for b in manifest["boots"]}
    logs = {f"{m}MiB-1cpu.log" for m in (64, 128, 192, 256)}
    assert set(boots) == logs and set(os.listdir(out)) == logs | {"manifest.json"}
    # too small: the decompressor cannot place the kernel; reported, not a crash
    assert boots["64MiB-1cpu.log"]["outcome"] == "silent-reset"
    assert "64MiB-1cpu.log           silent-reset" in result.output
    boot = boots["128MiB-1cpu.log"]
    assert boot["outcome"] == "dump" and boot["reached_init"] and boot["qemu_returncode"] == 0
    assert boot["memory_kib"] == 128 * KIB_PER_MIB and boot["accel"] == "tcg"
    assert boot["qemu_argv"][boot["qemu_argv"].index("-m") + 1] == "128M"
    assert boot["kernel"]["sha256"] == fetch.sha256_file(cloud_kernel)
    # the calibration made from the three dumps (the silent reset is skipped)
    from planner.inputs.calibrations import load_calibration

    cal = load_calibration(str(tmp_path / "profiles" / "kernels" / "test-cloud.yaml"))
    assert cal.name == "test-cloud" and cal.arch == "x86_64"
    assert cal.kernel_release == cloud_kernel.name.removeprefix("vmlinuz-")
    assert (cal.calibrated_range.min_memory_kib, cal.calibrated_range.max_memory_kib) == (
        128 * KIB_PER_MIB,
        256 * KIB_PER_MIB,
    )
    assert "wrote profiles/kernels/test-cloud.yaml" in result.output
    _check_dump(out / "128MiB-1cpu.log", memory_kib=128 * KIB_PER_MIB, firmware_hole_kib=520)


@pytest.mark.qemu
def test_boot_s390x_dump(s390x_kernel: Path, tmp_path: Path) -> None:
    result = campaign.run_campaign(
        str(s390x_kernel), tmp_path, memory_kib=[128 * KIB_PER_MIB], arch="s390x", accel="auto"
    )
    (boot,) = result.records
    assert result.lab.accel == "tcg" and result.lab.kvm_probe["ran"] is False  # no KVM for s390x here
    assert boot.outcome == "dump", (tmp_path / boot.log).read_text()[-2000:]
    assert boot.machine == "s390-ccw-virtio" and "console=ttysclp0" in boot.cmdline
    _check_dump(tmp_path / boot.log, memory_kib=128 * KIB_PER_MIB, firmware_hole_kib=0)


def _check_dump(log: Path, *, memory_kib: int, firmware_hole_kib: int) -> None:
    """The parsed dump is consistent: ``MemTotal = present - reserved + freed later``
    (exact on x86, -24 kB on s390x: reference/bootlab-debian-6.1.md §3.2)."""
    text = qemu.read_console(log)
    sections = _sections(text)
    for name in ("dmesg", "/proc/meminfo", "/proc/slabinfo", "/proc/zoneinfo", "/proc/vmstat", "/proc/iomem"):
        assert sections.get(name, "").strip(), f"{log.name}: empty section {name}"
    from planner.evidence.bundle import load_evidence

    evidence = load_evidence(log)  # memory_kib, vcpu_count and machine from manifest.json beside it
    assert evidence.memory_kib == memory_kib and evidence.vcpu_count == 1
    assert evidence.dmesg is not None and evidence.meminfo is not None and evidence.slabinfo is not None
    mem_line = evidence.dmesg.memory
    assert mem_line is not None
    assert mem_line.physical_kib == memory_kib - firmware_hole_kib
    freed_late_kib = evidence.dmesg.freed_kib  # every ``Freeing ... memory: NK`` line comes after ``Memory:``
    assert freed_late_kib > 0
    expected_total_kib = mem_line.physical_kib - mem_line.reserved_kib + freed_late_kib
    mem_total_kib = evidence.meminfo["MemTotal"]
    assert abs(mem_total_kib - expected_total_kib) <= 32, (mem_total_kib, expected_total_kib)
    assert evidence.min_free_kbytes is not None and 0 < evidence.min_free_kbytes < mem_total_kib
    assert evidence.slabinfo.total_kib > 0 and evidence.possible_cpu_count == 1


@pytest.mark.qemu
def test_hang_is_killed_by_the_timeout(cloud_kernel: Path, tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz-copy"  # a unique path, to find our qemu among others
    shutil.copyfile(cloud_kernel, kernel)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "bootlab",
            "--kernel",
            str(kernel),
            "--memory",
            "128MiB",
            "--accel",
            "tcg",
            "--timeout",
            "0.5",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert (
        "planner: error: boots that did not finish: 128MiB-1cpu.log (timeout); no qemu is left running"
        in (result.output)
    )
    assert _qemu_pids_using(kernel) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(b["log"], b["outcome"], b["qemu_returncode"]) for b in manifest["boots"]] == [
        ("128MiB-1cpu.log", "timeout", None)
    ]
    assert sorted(os.listdir(out)) == ["128MiB-1cpu.log", "manifest.json"]  # no temp files


@pytest.mark.qemu
def test_sigterm_kills_qemu_and_leaves_a_whole_manifest(cloud_kernel: Path, tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz-copy"
    shutil.copyfile(cloud_kernel, kernel)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "planner", "bootlab", "--kernel", str(kernel), "--accel", "tcg"),
            *("--memory", "64MiB,256MiB,512MiB", "--jobs", "1", "-o", str(out)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _qemu_pids_using(kernel) or not (out / "manifest.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the second boot never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == (
        f"planner: interrupted; qemu killed; {out}/manifest.json lists the finished boots"
    )
    assert _qemu_pids_using(kernel) == []
    manifest = json.loads((out / "manifest.json").read_text())  # whole JSON, the finished boot only
    assert [b["log"] for b in manifest["boots"]] == ["64MiB-1cpu.log"]
    assert sorted(os.listdir(out)) == ["64MiB-1cpu.log", "manifest.json"]  # no partial log, no temp file


@pytest.mark.qemu
def test_sigterm_during_the_kvm_probe_kills_the_probe_qemu(cloud_kernel: Path, tmp_path: Path) -> None:
    """The KVM probe boot (``--accel auto``) runs before any boot; SIGTERM then must kill it too."""
    if not lab._kvm_usable_here("x86_64"):
        pytest.skip("no usable /dev/kvm here: --accel auto runs no KVM probe boot to interrupt")
    kernel = tmp_path / "vmlinuz-copy"
    shutil.copyfile(cloud_kernel, kernel)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "planner", "bootlab", "--kernel", str(kernel), "--accel", "auto"),
            *("--memory", "128MiB", "-o", str(out)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _qemu_pids_using(kernel):
        assert time.monotonic() < deadline and proc.poll() is None, "the KVM probe boot never started"
        time.sleep(0.02)
    probing = not out.exists()  # bootlab makes the output directory after the probe
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    left = _qemu_pids_using(kernel)
    for pid in left:  # do not leave a hung KVM guest behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert left == []
    if not probing:
        pytest.skip("the KVM probe finished before it could be interrupted (KVM works here)")
    assert stderr.strip().splitlines()[-1] == "planner: interrupted; qemu killed; no boot had finished"
    assert not out.exists()


@pytest.mark.qemu
def test_find_min_brackets_the_smallest_bootable_size(cloud_kernel: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            *("bootlab", "--kernel", str(cloud_kernel), "--find-min", "--memory", "64MiB,84MiB"),
            *("--step", "4MiB", "--accel", "tcg", "-o", str(tmp_path), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    boots = {
        b["memory_kib"] // KIB_PER_MIB: b["outcome"]
        for b in json.loads((tmp_path / "manifest.json").read_text())["boots"]
    }
    doc = json.loads(result.stdout)
    assert doc["accel"] == "tcg" and {b["log"] for b in doc["boots"]} == {f"{m}MiB-1cpu.log" for m in boots}
    answer = doc["find_min"]
    min_mib, below_mib = answer["min_boot_kib"] // KIB_PER_MIB, answer["below_kib"] // KIB_PER_MIB
    below_outcome = answer["below_outcome"]
    assert min_mib - below_mib == 4
    assert boots[min_mib] == "dump" and boots[below_mib] == below_outcome != "dump"
    assert all(outcome != "dump" for mib, outcome in boots.items() if mib < min_mib)
    assert all(outcome == "dump" for mib, outcome in boots.items() if mib >= min_mib)


def test_unknown_kernel_name_or_file(tmp_path: Path) -> None:
    if shutil.which("apt-cache") is None:
        pytest.skip("apt-cache not available")
    result = runner.invoke(app, ["bootlab", "--kernel", "linux-image-nonesuch", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.startswith(
        "planner: error: --kernel: expected a kernel image file or a Debian package; "
        "found 'linux-image-nonesuch': no such file, and apt knows no such package ("
    )
    assert not (tmp_path / "o").exists()


def test_foreign_architecture_is_not_added_silently() -> None:
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg not available")
    foreign = subprocess.run(
        ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True, check=True
    ).stdout.split()
    arch = next(a for a in ("mips64el", "ppc64el", "riscv64", "armhf") if a not in foreign)
    with pytest.raises(fetch.FetchError, match=rf"run `dpkg --add-architecture {arch} && apt-get update`"):
        fetch.ensure_foreign_arch(arch, allow_system_changes=False)
    after = subprocess.run(
        ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert after == foreign


@pytest.mark.qemu
def test_kvm_probe_decides_and_leaves_no_qemu(
    cloud_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KVM is used only when the probe boot reaches the dump; a hanging /dev/kvm is killed."""
    monkeypatch.setattr(lab, "KVM_PROBE_TIMEOUT_S", 4.0)
    kernel = tmp_path / "vmlinuz-copy"
    shutil.copyfile(cloud_kernel, kernel)
    the_lab = lab.prepare_lab(str(kernel), accel="auto", timeout_s=60)
    probe = the_lab.kvm_probe
    assert _qemu_pids_using(kernel) == []
    if not probe["ran"]:
        assert the_lab.accel == "tcg" and "no usable /dev/kvm" in probe["reason"]
    else:
        assert probe["outcome"] in qemu.OUTCOMES
        assert probe["usable"] == (probe["outcome"] == "dump")
        assert the_lab.accel == ("kvm" if probe["usable"] else "tcg")
        assert not probe["usable"] or probe["boot_wall_s"] <= 4.5


def test_fetch_downloads_unpacks_and_caches(tmp_path: Path) -> None:
    """A real apt-get download + dpkg-deb -x of the small s390x busybox-static into an empty cache."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not available")
    try:
        busybox, pkg = fetch.fetch_busybox("s390x", cache=tmp_path)
    except fetch.FetchError as err:
        pytest.skip(f"cannot download from the Debian registry: {err}")
    assert (
        pkg.package == "busybox-static"
        and pkg.deb_arch == "s390x"
        and pkg.requested == "busybox-static:s390x"
    )
    assert busybox == pkg.root / "bin" / "busybox" and busybox.is_relative_to(tmp_path / "debian")
    assert (
        busybox.read_bytes()[:4] == b"\x7fELF" and busybox.read_bytes()[18:20] == b"\x00\x16"
    )  # EM_S390, BE
    (deb,) = (tmp_path / "debs").glob("*.deb")
    assert pkg.deb_sha256 == fetch.sha256_file(deb)
    record = json.loads((tmp_path / "debian" / f"{pkg.root.name}.json").read_text())
    assert record["version"] == pkg.version and record["package"] == "busybox-static"
    inode = deb.stat().st_ino
    again = fetch.fetch_busybox("s390x", cache=tmp_path)[1]  # from the cache: nothing downloaded again
    assert again == pkg and deb.stat().st_ino == inode
    assert sorted(p.name for p in (tmp_path / "debian").iterdir()) == sorted(
        [pkg.root.name, f"{pkg.root.name}.json"]
    )


# --- NUMA nodes, big guests, qemu's resident guest RAM (issue 14) ------------------------------
def test_numa_argv_splits_ram_and_cpus_over_the_nodes() -> None:
    argv = qemu.ram_argv("x86_64", 64 * 1024 * KIB_PER_MIB, 4, 4)
    assert argv[:2] == ["-m", "65536M"]
    assert [a for a in argv if a.startswith("memory-backend-ram")] == [
        f"memory-backend-ram,id=ram{n},size=16384M,reserve=off" for n in range(4)
    ]
    assert [a for a in argv if a.startswith("node,")] == [
        f"node,nodeid={n},cpus={n}-{n},memdev=ram{n}" for n in range(4)
    ]
    # fewer CPUs than nodes: memory-only nodes; an uneven split puts the rest on the last node
    two = qemu.ram_argv("x86_64", 1000 * KIB_PER_MIB, 1, 3)
    assert [a for a in two if a.startswith("node,")] == [
        "node,nodeid=0,cpus=0-0,memdev=ram0",
        "node,nodeid=1,memdev=ram1",
        "node,nodeid=2,memdev=ram2",
    ]
    assert qemu.node_memory_kib(1000 * KIB_PER_MIB, 3) == (
        333 * KIB_PER_MIB,
        333 * KIB_PER_MIB,
        334 * KIB_PER_MIB,
    )
    # one node: plain -m up to 8 GiB (the corpus's argv), a no-reserve backend above
    assert qemu.ram_argv("x86_64", 8 * 1024 * KIB_PER_MIB, 1, 1) == ["-m", "8192M"]
    assert "memory-backend=ram0" in qemu.ram_argv("x86_64", 16 * 1024 * KIB_PER_MIB, 1, 1)


def test_numa_refused_where_qemu_has_none_and_below_64mib_per_node() -> None:
    with pytest.raises(InputError, match="s390x"):
        qemu.ram_argv("s390x", 1024 * KIB_PER_MIB, 1, 2)
    with pytest.raises(InputError, match="64MiB per NUMA node"):
        qemu.node_memory_kib(128 * KIB_PER_MIB, 4)


def test_guest_ram_rss_sums_the_mappings_of_the_node_sizes() -> None:
    from planner.bootlab.resident import guest_ram_rss_kib

    smaps = "\n".join(
        [
            "7f0000000000-7f0008000000 rw-p 00000000 00:00 0",
            "Size:             131072 kB",
            "Rss:               10240 kB",
            "7f1000000000-7f1008000000 rw-p 00000000 00:00 0",
            "Size:             131072 kB",
            "Rss:                2048 kB",
            "7f2000000000-7f2001000000 rw-p 00000000 00:00 0 ",
            "Size:              16384 kB",
            "Rss:               16384 kB",
        ]
    )
    assert guest_ram_rss_kib(smaps, (131072, 131072)) == (12288, 2)
    assert guest_ram_rss_kib(smaps, (131072,)) == (10240, 1)  # one node: the first such mapping
    assert guest_ram_rss_kib(smaps, (262144,)) == (0, 0)


@pytest.mark.qemu
def test_numa_boot_records_nodes_and_resident_guest_ram(cloud_kernel: Path, tmp_path: Path) -> None:
    """A real 2-node boot: the guest sees two nodes; the manifest has qemu's resident guest RAM."""
    out = tmp_path / "numa"
    result = runner.invoke(
        app,
        [
            *("bootlab", "--kernel", str(cloud_kernel), "--memory", "256MiB", "--vcpus", "2"),
            *("--numa-nodes", "2", "--accel", "tcg", "--jobs", "1", "-o", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    (boot,) = json.loads((out / "manifest.json").read_text())["boots"]
    assert boot["log"] == "256MiB-2cpu-2node.log" and boot["outcome"] == "dump"
    assert boot["numa_node_count"] == 2 and boot["node_memory_kib"] == [128 * KIB_PER_MIB] * 2
    assert boot["qemu_argv"].count("-numa") == 2
    from planner.evidence.bundle import load_evidence

    ev = load_evidence(out / boot["log"])
    assert ev.dmesg is not None and ev.dmesg.node_count == 2
    if boot["guest_ram_resident_kib"] is None:  # the guest powered off before the copy saw the end
        pytest.skip("qemu exited before its memory could be read (a race under load)")
    assert 64 * KIB_PER_MIB < boot["guest_ram_resident_kib"] <= 256 * KIB_PER_MIB
    assert boot["qemu_peak_rss_kib"] > boot["guest_ram_resident_kib"]
    assert ev.guest_ram_resident_kib == boot["guest_ram_resident_kib"]
