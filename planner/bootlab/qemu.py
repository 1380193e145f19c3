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
from typing import Literal

from planner.bootlab.image import Arch
from planner.errors import InputError, PlannerError
from planner.evidence.bundle import DUMP_BEGIN, DUMP_END
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
    """

    argv: tuple[str, ...]
    returncode: int | None
    boot_wall_s: float
    timed_out: bool


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
        "-m",
        f"{memory_kib // KIB_PER_MIB}M",
        "-smp",
        str(vcpu_count),
        "-nographic",
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


def run_qemu(
    argv: list[str], log_path: Path, *, timeout_s: float, stop: threading.Event | None = None
) -> QemuRun:
    """Run qemu, console to ``log_path`` (written atomically), killed after ``timeout_s``.

    The log appears only when qemu has ended (console text goes to a temp file in the
    same directory first). On KeyboardInterrupt or any other exception the process group
    is killed, the temp file removed, and the exception re-raised. Once ``stop`` is set
    (before :func:`kill_all`), no new qemu starts: :class:`BootInterruptedError` instead.
    """
    fd, tmp = tempfile.mkstemp(dir=log_path.parent, prefix=f".{log_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as log:
            start = time.monotonic()
            with _LIVE_LOCK:  # a kill_all() either sees this qemu or comes after stop was set
                if stop is not None and stop.is_set():
                    raise BootInterruptedError(f"interrupted: {argv[0]} was not started")
                try:
                    proc = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                except FileNotFoundError:
                    raise _qemu_missing(f"{argv[0]} not found") from None
                _LIVE.add(proc)
            try:
                returncode: int | None = proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                returncode, timed_out = None, True
            except BaseException:
                _kill_group(proc)
                raise
            finally:
                with _LIVE_LOCK:
                    _LIVE.discard(proc)
                    killed = proc in _KILLED
                    _KILLED.discard(proc)
            if killed:
                raise BootInterruptedError(f"interrupted: {argv[0]} was killed")
            wall_s = time.monotonic() - start
        os.chmod(tmp, 0o644)
        os.replace(tmp, log_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return QemuRun(tuple(argv), returncode, round(wall_s, 3), timed_out)


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
