"""Run one qemu boot with a hard timeout and classify how it ended.

The command follows ``reference/bootlab-debian-6.1.md`` section 1.2: ``-nographic
-no-reboot -net none``, ``panic=-1`` on the kernel command line, so a panicking or
resetting guest makes qemu exit at once. qemu runs in its own process group and is
killed (SIGKILL to the group) on timeout, on KeyboardInterrupt and on any other error,
so no qemu is ever left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from planner.bootlab.image import Arch
from planner.bootlab.resident import Residency, read_residency
from planner.errors import InputError, PlannerError
from planner.evidence.capture import DUMP_BEGIN, DUMP_END
from planner.kernel.layout import qemu_node_memory_kib
from planner.kernel.zones import node_cpu_counts
from planner.units import KIB_PER_MIB

Outcome = Literal["dump", "oom-panic", "panic", "silent-reset", "truncated-dump", "timeout", "qemu-error"]
#: every outcome, with what it means (manifest ``outcome``)
OUTCOMES: dict[str, str] = {
    "dump": "reached /init and printed the whole evidence dump",
    "oom-panic": "kernel panic after running out of memory (too small)",
    "panic": "kernel panic for another reason",
    "silent-reset": "the guest reset without a panic message (x86: no room for the decompressor)",
    "truncated-dump": "the dump started but qemu exited before its end",
    "timeout": "no exit within the timeout; qemu was killed",
    "qemu-error": "qemu failed before the guest ran",
}
BOOTED_OUTCOMES = frozenset({"dump"})

QEMU_BINARY: dict[str, str] = {"x86_64": "qemu-system-x86_64", "s390x": "qemu-system-s390x"}
QEMU_PACKAGE: dict[str, str] = {"x86_64": "qemu-system-x86", "s390x": "qemu-system-misc"}
MACHINES: dict[str, tuple[str, ...]] = {"x86_64": ("pc", "q35"), "s390x": ("s390-ccw-virtio",)}
CONSOLE: dict[str, str] = {"x86_64": "ttyS0", "s390x": "ttysclp0"}
#: the reference campaign's arguments besides console= and panic=-1
DEFAULT_CMDLINE = "loglevel=8 log_buf_len=1M"

_OOM_RE = re.compile(
    r"Out of memory|System is deadlocked on memory|oom-kill|page allocation failure|"
    r"Unable to allocate|not enough memory|Cannot allocate"
)


class ToolMissingError(PlannerError):
    """A program the bootlab needs (qemu) is not installed."""


class BootInterruptedError(PlannerError):
    """A boot whose qemu was killed by :func:`kill_all` (the campaign was interrupted)."""


@dataclass(frozen=True)
class QemuRun:
    """What one qemu process did.

    Attributes
    ----------
    argv
        The exact command.
    returncode
        qemu's exit status (negative: killed by that signal); ``None`` if it timed out.
    boot_wall_s
        qemu start to exit (or to the kill). [s]
    timed_out
        Killed by the timeout.
    residency
        qemu's memory when the guest printed the end of its dump (qemu stopped with
        SIGSTOP while it is read); ``None`` if no dump ended or it was not asked for.
    """

    argv: tuple[str, ...]
    returncode: int | None
    boot_wall_s: float
    timed_out: bool
    residency: Residency | None = None


def find_qemu(arch: Arch) -> str:
    """Absolute path of the qemu system emulator for ``arch``.

    Raises
    ------
    ToolMissingError
        Naming the Debian package to install.
    """
    path = shutil.which(QEMU_BINARY[arch])
    if path is None:
        raise _qemu_missing(f"{QEMU_BINARY[arch]} not found on PATH")
    return path


def _qemu_missing(what: str) -> ToolMissingError:
    """``<what>: install the Debian package <the one that holds that qemu>``."""
    package = next((QEMU_PACKAGE[a] for a, b in QEMU_BINARY.items() if b in what), "qemu-system-x86")
    return ToolMissingError(f"{what}: install the Debian package {package} (apt-get install {package})")


def qemu_version(binary: str) -> str:
    """First line of ``qemu-system-* --version``."""
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False, timeout=30)
    return proc.stdout.splitlines()[0].strip() if proc.stdout else ""


def check_machine(arch: Arch, machine: str | None) -> str:
    """The machine type to use; refuses one that does not belong to ``arch``."""
    if machine is None:
        return MACHINES[arch][0]
    if machine not in MACHINES[arch]:
        raise InputError(
            f"expected one of {', '.join(MACHINES[arch])} for {arch}; found {machine!r}", field="--machine"
        )
    return machine


def full_cmdline(arch: Arch, cmdline: str = DEFAULT_CMDLINE) -> str:
    """``console=<arch console> <cmdline> panic=-1``; keeps a console=/panic= the caller gave.

    ``panic=-1`` together with ``-no-reboot`` makes qemu exit at once on a panic.
    """
    words = cmdline.split()
    if not any(w.startswith("console=") for w in words):
        words.insert(0, f"console={CONSOLE[arch]}")
    if not any(w.startswith("panic=") for w in words):
        words.append("panic=-1")
    return " ".join(words)


#: above this, or with NUMA nodes, guest RAM is a ``memory-backend-ram`` with ``reserve=off``
#: (MAP_NORESERVE): a plain ``-m 64G`` fails on a 24 GiB host under the default heuristic
#: overcommit ("cannot set up guest memory 'pc.ram': Cannot allocate memory"). [KiB]
PLAIN_RAM_MAX_KIB = 8 * 1024 * KIB_PER_MIB


def node_memory_kib(memory_kib: int, node_count: int) -> tuple[int, ...]:
    """RAM per NUMA node, at least 64 MiB each: the split the kernel model lays the guest out with
    (:func:`planner.kernel.layout.qemu_node_memory_kib`)."""
    if node_count < 1:
        raise InputError(f"expected at least 1 NUMA node; found {node_count}", field="--numa-nodes")
    mib = memory_kib // KIB_PER_MIB
    if mib < 64 * node_count:
        raise InputError(
            f"expected at least 64MiB per NUMA node; found {mib} MiB for {node_count} nodes",
            field="--numa-nodes",
        )
    return qemu_node_memory_kib(mib * KIB_PER_MIB, node_count)


def node_cpus(vcpu_count: int, node_count: int) -> list[range]:
    """vCPUs per node as ``-numa node,cpus=`` takes them: consecutive blocks of the counts the
    kernel model places per node (:func:`planner.kernel.zones.node_cpu_counts`)."""
    out, cpu = [], 0
    for n in node_cpu_counts(vcpu_count, node_count):
        out.append(range(cpu, cpu + n))
        cpu += n
    return out


def ram_argv(arch: Arch, memory_kib: int, vcpu_count: int, node_count: int) -> list[str]:
    """``-m`` and, for big or NUMA guests, the memory backends and ``-numa`` nodes.

    qemu 7.2 ``hw/core/numa.c``: each ``-numa node,memdev=`` takes one backend; a node
    without ``cpus=`` is memory-only. s390x machines have no NUMA ("NUMA is not
    supported by this machine-type").
    """
    argv = ["-m", f"{memory_kib // KIB_PER_MIB}M"]
    if node_count > 1 and arch != "x86_64":
        raise InputError(f"expected 1 NUMA node on {arch} (qemu has no NUMA there); found {node_count}",
                         field="--numa-nodes")  # fmt: skip
    if node_count == 1 and memory_kib <= PLAIN_RAM_MAX_KIB:
        return argv
    if node_count == 1:
        return [
            "-object",
            f"memory-backend-ram,id=ram0,size={memory_kib // KIB_PER_MIB}M,reserve=off",
            "-machine",
            "memory-backend=ram0",
            *argv,
        ]
    for node, (size, cpus) in enumerate(
        zip(node_memory_kib(memory_kib, node_count), node_cpus(vcpu_count, node_count), strict=True)
    ):
        argv += ["-object", f"memory-backend-ram,id=ram{node},size={size // KIB_PER_MIB}M,reserve=off"]
        cpu_arg = f",cpus={cpus[0]}-{cpus[-1]}" if len(cpus) else ""
        argv += ["-numa", f"node,nodeid={node}{cpu_arg},memdev=ram{node}"]
    return argv


def ram_mapping_kib(memory_kib: int, node_count: int) -> tuple[int, ...]:
    """Sizes of qemu's guest-RAM mappings (one per node). [KiB]"""
    return (memory_kib,) if node_count == 1 else node_memory_kib(memory_kib, node_count)


#: the devices of a guest libvirt starts (``tests/data/libvirt/qemu-tcg-128mib.cmdline``): none of
#: qemu's defaults (no VGA, floppy, CD-ROM, parallel port, monitor), a serial console, a balloon
BALLOON_DEVICE: dict[str, str] = {"x86_64": "virtio-balloon-pci", "s390x": "virtio-balloon-ccw"}


def device_argv(arch: Arch, devices: Literal["qemu", "libvirt"]) -> list[str]:
    """The display, console and default devices: qemu's defaults with the console on stdio
    (``-nographic``, the bootlab's), or the set libvirt gives a domain with a serial console
    (``-nodefaults``), whose qemu the hypervisor profiles were measured on."""
    if devices == "qemu":
        return ["-nographic"]
    return ["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
            "-device", BALLOON_DEVICE[arch]]  # fmt: skip


def qemu_argv(
    *,
    qemu: str,
    arch: Arch,
    kernel: Path,
    initrd: Path,
    memory_kib: int,
    vcpu_count: int,
    machine: str,
    cmdline: str,
    accel: Literal["tcg", "kvm"] = "tcg",
    node_count: int = 1,
    devices: Literal["qemu", "libvirt"] = "qemu",
) -> list[str]:
    """The qemu command of one boot (``reference/bootlab-debian-6.1.md`` section 1.2)."""
    if memory_kib % KIB_PER_MIB:
        raise InputError(f"expected a whole number of MiB; found {memory_kib} KiB", field="--memory")
    return [
        qemu,
        "-machine",
        machine,
        "-accel",
        accel,
        *ram_argv(arch, memory_kib, vcpu_count, node_count),
        "-smp",
        str(vcpu_count),
        *device_argv(arch, devices),
        "-no-reboot",
        "-net",
        "none",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        cmdline,
    ]


_LIVE: set[subprocess.Popen[bytes]] = set()
_KILLED: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def kill_all() -> None:
    """Kill every qemu this process started that is still running (any thread's).

    Their :func:`run_qemu` calls then discard the partial log and raise
    :class:`BootInterruptedError`.
    """
    with _LIVE_LOCK:
        live = list(_LIVE)
        _KILLED.update(live)
    for proc in live:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def _copy_console(
    proc: subprocess.Popen[bytes], log: IO[bytes], ram_sizes_kib: tuple[int, ...] | None
) -> Residency | None:
    """Copy qemu's console to ``log`` verbatim; at the dump's end marker, read qemu's memory.

    qemu is stopped (SIGSTOP) while ``/proc/<pid>/smaps`` is read, so the guest cannot run on
    into its poweroff, then continued (SIGCONT).
    """
    assert proc.stdout is not None
    marker = DUMP_END.encode()
    tail = b""
    residency: Residency | None = None
    while chunk := os.read(proc.stdout.fileno(), 65536):
        log.write(chunk)
        if ram_sizes_kib is None or residency is not None:
            continue
        window = tail + chunk
        if marker in window:
            log.flush()
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGSTOP)
                try:
                    residency = read_residency(proc.pid, ram_sizes_kib)
                finally:
                    os.kill(proc.pid, signal.SIGCONT)
        tail = window[-len(marker) :]
    return residency


def run_qemu(
    argv: list[str],
    log_path: Path,
    *,
    timeout_s: float,
    stop: threading.Event | None = None,
    ram_sizes_kib: tuple[int, ...] | None = None,
) -> QemuRun:
    """Run qemu, console to ``log_path`` (written atomically), killed after ``timeout_s``.

    The log appears only when qemu has ended (console text goes to a temp file in the
    same directory first). On KeyboardInterrupt or any other exception the process group
    is killed, the temp file removed, and the exception re-raised. Once ``stop`` is set
    (before :func:`kill_all`), no new qemu starts: :class:`BootInterruptedError` instead.
    With ``ram_sizes_kib`` (the sizes of qemu's guest-RAM mappings) qemu's memory is read
    when the guest prints the end of its dump (:attr:`QemuRun.residency`).
    """
    fd, tmp = tempfile.mkstemp(dir=log_path.parent, prefix=f".{log_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as log:
            start = time.monotonic()
            proc = _start(argv, stop)
            returncode, timed_out, residency = _wait(proc, argv, log, timeout_s, ram_sizes_kib)
            wall_s = time.monotonic() - start
        os.chmod(tmp, 0o644)
        os.replace(tmp, log_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return QemuRun(tuple(argv), returncode, round(wall_s, 3), timed_out, residency)


def _start(argv: list[str], stop: threading.Event | None) -> subprocess.Popen[bytes]:
    """Start qemu in its own process group, console on a pipe; none once ``stop`` is set."""
    with _LIVE_LOCK:  # a kill_all() either sees this qemu or comes after stop was set
        if stop is not None and stop.is_set():
            raise BootInterruptedError(f"interrupted: {argv[0]} was not started")
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise _qemu_missing(f"{argv[0]} not found") from None
        _LIVE.add(proc)
    return proc


def _wait(
    proc: subprocess.Popen[bytes],
    argv: list[str],
    log: IO[bytes],
    timeout_s: float,
    ram_sizes_kib: tuple[int, ...] | None,
) -> tuple[int | None, bool, Residency | None]:
    """Copy the console while qemu runs; kill its group on timeout or any exception.

    Returns (exit status or None on timeout, timed out, qemu's memory at the dump's end).
    """
    found: list[Residency | None] = [None]
    copier: threading.Thread | None = None
    try:
        copier = threading.Thread(
            target=lambda: found.__setitem__(0, _copy_console(proc, log, ram_sizes_kib)),
            name="bootlab-console",
            daemon=True,
        )
        copier.start()
        returncode: int | None = proc.wait(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        returncode, timed_out = None, True
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        if copier is not None and copier.is_alive():
            copier.join()
        if proc.stdout is not None:
            proc.stdout.close()
        with _LIVE_LOCK:
            _LIVE.discard(proc)
            killed = proc in _KILLED
            _KILLED.discard(proc)
    if killed:
        raise BootInterruptedError(f"interrupted: {argv[0]} was killed")
    return returncode, timed_out, found[0]


def classify(console_text: str, run: QemuRun) -> Outcome:
    """How a boot ended, from its console text and qemu's exit.

    ``dump`` needs both dump markers; a ``Kernel panic`` line with an out-of-memory
    message before it is ``oom-panic`` (``Out of memory and no killable processes...``,
    ``System is deadlocked on memory``); any other panic is ``panic``; an exit with
    status 0 and neither is ``silent-reset`` (on x86 the decompressor found no room and
    the guest reset with ``-no-reboot`` before the kernel printed anything).
    """
    if DUMP_END in console_text:
        return "dump"
    if run.timed_out:
        return "timeout"
    if "Kernel panic" in console_text:
        before_panic = console_text.split("Kernel panic", 1)[0]
        panic_line = console_text.split("Kernel panic", 1)[1].split("\n", 1)[0]
        if _OOM_RE.search(before_panic) or _OOM_RE.search(panic_line):
            return "oom-panic"
        return "panic"
    if DUMP_BEGIN in console_text:
        return "truncated-dump"
    if run.returncode != 0:
        return "qemu-error"
    return "silent-reset"


def read_console(path: Path) -> str:
    """A console log as text (CR stripped, undecodable bytes replaced)."""
    return path.read_bytes().decode("utf-8", "replace").replace("\r", "")
