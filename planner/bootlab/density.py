"""Boot idle guests one at a time in a memory-capped cgroup until the OOM killer strikes.

Each guest is a qemu started directly (no libvirt) with the bootlab's command
(:func:`planner.bootlab.qemu.qemu_argv`) and the idle initramfs (:mod:`.idle`); it joins the
cgroup (:mod:`.cgroup`) before it allocates guest RAM. The next guest starts once the
previous one printed ``IDLE-READY`` and settled; the first sign of trouble stops the adding:
the cgroup's OOM-kill count rising, a qemu exiting (the OOM killer's SIGKILL, or a guest
panic with ``panic=-1 -no-reboot``), or a boot that does not finish in time. A guest still
booting then may finish (the OOM killer's victim is often an older guest, whose memory it
frees), then the survivors are held for ``hold_s`` and counted. Every qemu runs in its own process group and
is killed (SIGKILL to the group) on return, on error, on Ctrl-C and on SIGTERM/SIGHUP, and
the cgroup is removed after them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner.bootlab import fetch, qemu
from planner.bootlab.boots import terminate_as_interrupt
from planner.bootlab.cgroup import MemoryCgroup, memory_cgroup
from planner.bootlab.idle import IDLE_READY, TMPFS_FAILED, cached_idle_initramfs, tmpfs_cmdline
from planner.bootlab.image import Arch
from planner.bootlab.initramfs import cached_initramfs
from planner.bootlab.lab import KernelSource, choose_accel, resolve_kernel
from planner.bootlab.resident import read_residency
from planner.errors import InputError

#: kernel arguments of an idle guest besides console=, panic=-1 and the profile's own:
#: quiet console (serial output is slow under TCG), no_timer_check (a TCG guest under CPU
#: contention once panicked with "IO-APIC + timer doesn't work!", libvirt-recipes.md §4 item 13)
IDLE_CMDLINE = "loglevel=4 no_timer_check"
#: seconds a guest is left after IDLE-READY before its memory and the cgroup's are read
#: (libvirt-recipes.md §3 measured 3 s after IDLE-READY)
SETTLE_S = 2.0
#: seconds between looks at the consoles, the processes and the cgroup
POLL_S = 0.2

StopReason = Literal["oom", "guest-exited", "boot-timeout", "max-guests"]
#: why guests stopped being added
STOP_REASONS: dict[str, str] = {
    "oom": "the OOM killer killed a process in the cgroup",
    "guest-exited": "a qemu exited without an OOM kill counted (a guest panic, or qemu failed)",
    "boot-timeout": "a guest did not print IDLE-READY within the boot timeout",
    "max-guests": "--max-guests guests were up",
}


@dataclass(frozen=True)
class IdleLab:
    """What stays fixed over a density run: kernel, idle initramfs, qemu, machine, accelerator."""

    arch: Arch
    kernel: KernelSource
    initrd: Path
    initrd_sha256: str
    qemu: str
    qemu_version: str
    machine: str
    accel: Literal["tcg", "kvm"]
    accel_reason: str  #: why this accelerator (the KVM probe's outcome, or asked for)
    cmdline: str  #: the whole kernel command line


@dataclass(frozen=True)
class DensitySettings:
    """One density run: guest size, cap, and how long to wait."""

    memory_kib: int
    vcpu_count: int
    limit_kib: int
    tmpfs_mib: int = 0
    hold_s: float = 60.0
    max_guests: int = 64
    boot_timeout_s: float = 300.0


@dataclass(frozen=True)
class GuestBoot:
    """One guest of a run. Times in s from the run's start unless named otherwise; sizes in KiB."""

    index: int  #: 1 for the first guest started
    pid: int
    console: str  #: the console log
    started_s: float
    boot_wall_s: float | None  #: qemu start to IDLE-READY; None: never got there
    rss_kib: int | None  #: qemu VmRSS once settled after IDLE-READY
    guest_ram_resident_kib: int | None  #: Rss of the guest-RAM mapping then
    usage_after_kib: int | None  #: the cgroup's usage then (this guest and all before it)
    ended_s: float | None  #: when qemu exited; None: still running at the end of the hold
    returncode: int | None  #: qemu's exit status (-9: SIGKILL, the OOM killer's)
    tmpfs_failed: bool  #: the guest could not write its tmpfs data
    file_rss_kib: int | None = None  #: qemu's RssFile then (binary and libraries)
    #: started after the adding stopped, in place of a guest the OOM killer took beyond the first
    restart: bool = False

    @property
    def up_at_end(self) -> bool:
        """Booted to IDLE-READY and still running when the hold ended."""
        return self.boot_wall_s is not None and self.ended_s is None


@dataclass(frozen=True)
class DensityRun:
    """What a density run measured. [KiB] unless named otherwise."""

    cgroup_version: int
    cgroup_path: str
    limit_kib: int
    swap_limited: bool
    guests: tuple[GuestBoot, ...]
    stop_reason: StopReason
    stopped_s: float  #: when the adding stopped (the hold began once every guest left was up)
    hold_s: float
    oom_kills: int  #: counted by the cgroup over the run
    limit_hits: int  #: v1 failcnt, v2 memory.events max
    peak_kib: int | None
    final_usage_kib: int  #: at the end of the hold
    final_anon_kib: int
    final_file_kib: int
    wall_s: float
    load_average_start: tuple[float, float, float]
    load_average_end: tuple[float, float, float]

    @property
    def survivors(self) -> int:
        """Guests up at the end of the hold."""
        return sum(g.up_at_end for g in self.guests)

    @property
    def stable_count(self) -> int:
        """Guests up and measured before the adding stopped: the last count that held."""
        return sum(g.usage_after_kib is not None and not g.restart for g in self.guests)

    @property
    def stable_usage_kib(self) -> int | None:
        """The cgroup's usage at :attr:`stable_count`."""
        measured = [g.usage_after_kib for g in self.guests if g.usage_after_kib is not None and not g.restart]
        return measured[-1] if measured else None

    @property
    def restarts(self) -> int:
        """Guests started again after the adding stopped: the OOM killer had taken more guests
        than the one whose boot set it off, and the count that held was restored."""
        return sum(g.restart for g in self.guests)


@dataclass(frozen=True)
class DensityEvent:
    """Progress: a guest started or came up, the adding stopped, or the hold went on."""

    kind: Literal["boot", "ready", "stop", "hold"]
    guests_up: int
    text: str
    hold_elapsed_s: float = 0.0


# --- the lab -------------------------------------------------------------------------------------
def prepare_idle_lab(
    kernel: str,
    *,
    accel: Literal["auto", "tcg", "kvm"] = "auto",
    machine: str | None = None,
    cmdline: str = "",
    cache: Path | None = None,
) -> IdleLab:
    """Resolve the kernel (a vmlinuz path or a Debian package), qemu and busybox, build the idle
    initramfs, pick the accelerator (``auto``: KVM only if the bootlab's probe boot dumps,
    :func:`planner.bootlab.lab.choose_accel`)."""
    source = resolve_kernel(kernel, cache=cache)
    arch = source.image.arch
    binary = qemu.find_qemu(arch)
    the_machine = qemu.check_machine(arch, machine)
    cache = cache or fetch.cache_dir()
    busybox, _ = fetch.fetch_busybox(arch, cache=cache)
    initrd = cached_idle_initramfs(busybox, cache, arch)
    probe_initrd = cached_initramfs(busybox, cache, arch) if accel == "auto" else initrd
    chosen, probe = choose_accel(accel, binary, source, probe_initrd, the_machine)
    reason = str(probe["reason"]) if probe else f"--accel {accel}"
    return IdleLab(
        arch=arch,
        kernel=source,
        initrd=initrd,
        initrd_sha256=fetch.sha256_file(initrd),
        qemu=binary,
        qemu_version=qemu.qemu_version(binary),
        machine=the_machine,
        accel=chosen,
        accel_reason=reason,
        cmdline=qemu.full_cmdline(arch, f"{IDLE_CMDLINE} {cmdline}".strip()),
    )


def guest_argv(lab: IdleLab, settings: DensitySettings) -> list[str]:
    """The qemu command of every guest of a run: the bootlab's, with the idle initramfs and the
    devices libvirt gives a domain (the hypervisor profiles' qemu), not qemu's defaults."""
    extra = tmpfs_cmdline(settings.tmpfs_mib)
    return qemu.qemu_argv(
        qemu=lab.qemu,
        arch=lab.arch,
        kernel=lab.kernel.image.path,
        initrd=lab.initrd,
        memory_kib=settings.memory_kib,
        vcpu_count=settings.vcpu_count,
        machine=lab.machine,
        cmdline=f"{lab.cmdline} {extra}".strip(),
        accel=lab.accel,
        devices="libvirt",
    )


# --- the run -------------------------------------------------------------------------------------
class _Guest:
    """A running guest, as the run tracks it (made into a :class:`GuestBoot` at the end)."""

    def __init__(
        self, index: int, proc: subprocess.Popen[bytes], console: Path, started_s: float, restart: bool
    ) -> None:
        self.index, self.proc, self.console, self.started_s = index, proc, console, started_s
        self.restart = restart
        self.ready_s: float | None = None
        self.ended_s: float | None = None
        self.rss_kib: int | None = None
        self.ram_kib: int | None = None
        self.file_kib: int | None = None
        self.usage_kib: int | None = None
        self.tmpfs_failed = False

    def poll(self, now_s: float) -> None:
        """Note IDLE-READY on the console and qemu's exit."""
        if self.ready_s is None:
            text = self.console.read_bytes().decode("utf-8", "replace")
            if IDLE_READY in text:
                self.ready_s = now_s - self.started_s
                self.tmpfs_failed = TMPFS_FAILED in text
        if self.ended_s is None and self.proc.poll() is not None:
            self.ended_s = now_s

    def record(self) -> GuestBoot:
        return GuestBoot(
            index=self.index,
            pid=self.proc.pid,
            console=str(self.console),
            started_s=round(self.started_s, 3),
            boot_wall_s=None if self.ready_s is None else round(self.ready_s, 3),
            rss_kib=self.rss_kib,
            guest_ram_resident_kib=self.ram_kib,
            usage_after_kib=self.usage_kib,
            ended_s=None if self.ended_s is None else round(self.ended_s, 3),
            returncode=self.proc.returncode,
            tmpfs_failed=self.tmpfs_failed,
            file_rss_kib=self.file_kib,
            restart=self.restart,
        )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()


class _Run:
    """The guests of one run in one cgroup."""

    def __init__(self, argv: list[str], group: MemoryCgroup, out_dir: Path, memory_kib: int) -> None:
        self.argv, self.group, self.out_dir, self.memory_kib = argv, group, out_dir, memory_kib
        self.guests: list[_Guest] = []
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def start(self, restart: bool) -> _Guest:
        index = len(self.guests) + 1
        console = self.out_dir / f"guest-{index:02d}.log"
        with console.open("wb") as log:
            try:
                proc = subprocess.Popen(
                    self.group.wrap(self.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise qemu.ToolMissingError("/bin/sh not found: it starts each qemu in the cgroup") from None
        guest = _Guest(index, proc, console, self.now(), restart)
        self.guests.append(guest)
        return guest

    def poll(self) -> None:
        now = self.now()
        for guest in self.guests:
            guest.poll(now)

    def held(self) -> int:
        """Guests up and measured before the adding stopped (:attr:`DensityRun.stable_count`)."""
        return sum(g.usage_kib is not None and not g.restart for g in self.guests)

    def ended(self) -> int:
        return sum(g.ended_s is not None for g in self.guests)

    def trouble(self, kills_before: int, ended_before: int) -> StopReason | None:
        """Why adding must stop now, if it must: an OOM kill counted, or another qemu gone."""
        if self.group.oom_kills() > kills_before:
            return "oom"
        if self.ended() > ended_before:
            return "guest-exited"
        return None

    def measure(self, guest: _Guest) -> None:
        res = read_residency(guest.proc.pid, (self.memory_kib,))
        if res is not None:
            guest.rss_kib, guest.file_kib = res.rss_kib, res.file_rss_kib
            guest.ram_kib = res.guest_ram_resident_kib if res.guest_ram_mappings == 1 else None
        guest.usage_kib = self.group.usage_kib()

    def up(self) -> int:
        return sum(g.ready_s is not None and g.ended_s is None for g in self.guests)

    def kill_all(self) -> None:
        """Kill every guest, and anything else left in the cgroup (a qemu started just as an
        interrupt came, before it was tracked)."""
        for guest in self.guests:
            guest.kill()
        for pid in self.group.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _add_guests(
    run: _Run, settings: DensitySettings, progress: Callable[[DensityEvent], None], restore: int = 0
) -> StopReason:
    """Start guests one at a time, each once the one before is up and settled, until trouble
    (or, with ``restore``, until that many are up: guests started again after the stop)."""
    kills_before, ended_before = run.group.oom_kills(), run.ended()
    limit = settings.max_guests + restore
    while len(run.guests) < limit and (not restore or run.up() < restore):
        guest = run.start(restart=bool(restore))
        again = " again" if restore else ""
        progress(DensityEvent("boot", run.up(), f"guest {guest.index}: booting{again}"))
        deadline = time.monotonic() + settings.boot_timeout_s
        settle_until: float | None = None
        while True:
            time.sleep(POLL_S)
            run.poll()
            reason = run.trouble(kills_before, ended_before)
            if reason is not None:
                return reason
            if guest.ready_s is not None and settle_until is None:
                settle_until = time.monotonic() + SETTLE_S
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            if guest.ready_s is None and time.monotonic() > deadline:
                return "boot-timeout"
        run.measure(guest)
        usage = guest.usage_kib or 0
        text = f"guest {guest.index}: IDLE-READY in {guest.ready_s:.1f} s, cgroup {usage / 1024:,.1f} MiB"
        progress(DensityEvent("ready", run.up(), text))
    return "max-guests"


def _finish_boots(run: _Run, timeout_s: float) -> None:
    """Wait until every guest still running is up (the one booting when the OOM killer struck
    may still come up once a victim's memory is free), for at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    run.poll()
    while any(g.ready_s is None and g.ended_s is None for g in run.guests) and time.monotonic() < deadline:
        time.sleep(POLL_S)
        run.poll()


def _restore(
    run: _Run, reason: StopReason, settings: DensitySettings, progress: Callable[[DensityEvent], None]
) -> None:
    """After an OOM stop, start guests again until the count that held is up again, where the
    OOM killer took more guests than the one booting (it may take several victims for one
    allocation), so the hold measures that count; stops at the next trouble."""
    held = run.held()
    if reason != "oom" or run.up() >= held:
        return
    lost = held - run.up()
    guests = "guest" if lost == 1 else "guests"
    text = f"the OOM killer took {lost} {guests} beyond one; starting guests again up to {held}"
    progress(DensityEvent("stop", run.up(), text))
    _add_guests(run, settings, progress, restore=held)
    _finish_boots(run, settings.boot_timeout_s)


def _hold(run: _Run, hold_s: float, progress: Callable[[DensityEvent], None]) -> None:
    """Keep watching the guests for ``hold_s`` seconds."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < hold_s:
        time.sleep(min(0.5, hold_s - elapsed))
        run.poll()
        progress(DensityEvent("hold", run.up(), "holding", min(time.monotonic() - start, hold_s)))


def run_density(
    lab: IdleLab,
    settings: DensitySettings,
    out_dir: Path,
    progress: Callable[[DensityEvent], None] | None = None,
) -> DensityRun:
    """Boot guests in a cgroup capped at ``settings.limit_kib`` until trouble, hold, count.

    Console logs go to ``out_dir/guest-NN.log``. Every qemu is killed and the cgroup removed
    before this returns or raises (KeyboardInterrupt included).

    Raises
    ------
    planner.bootlab.cgroup.CgroupUnavailableError
        No memory cgroup can be made here.
    """
    if settings.max_guests < 1:
        raise InputError(f"expected at least 1; found {settings.max_guests}", field="--max-guests")
    tell = progress or (lambda event: None)
    argv = guest_argv(lab, settings)
    load_start = os.getloadavg()
    with terminate_as_interrupt(), memory_cgroup(settings.limit_kib) as group:
        run = _Run(argv, group, out_dir, settings.memory_kib)
        try:
            reason = _add_guests(run, settings, tell)
            stopped_s = run.now()
            text = f"stopped: {STOP_REASONS[reason]}; the guests still booting may finish, then a hold of"
            tell(DensityEvent("stop", run.up(), f"{text} {settings.hold_s:g} s"))
            _finish_boots(run, settings.boot_timeout_s)
            _restore(run, reason, settings, tell)
            _hold(run, settings.hold_s, tell)
            anon_kib, file_kib = group.stat_kib()
            return DensityRun(
                cgroup_version=group.version,
                cgroup_path=str(group.path),
                limit_kib=settings.limit_kib,
                swap_limited=group.swap_limited,
                guests=tuple(g.record() for g in run.guests),
                stop_reason=reason,
                stopped_s=round(stopped_s, 3),
                hold_s=settings.hold_s,
                oom_kills=group.oom_kills(),
                limit_hits=group.limit_hits(),
                peak_kib=group.peak_kib(),
                final_usage_kib=group.usage_kib(),
                final_anon_kib=anon_kib,
                final_file_kib=file_kib,
                wall_s=round(run.now(), 3),
                load_average_start=load_start,
                load_average_end=os.getloadavg(),
            )
        finally:
            run.kill_all()
