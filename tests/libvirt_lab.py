"""A private, unattended libvirtd with one real TCG guest, for the live-check tests.

Recipe: ``reference/libvirt-recipes.md`` §4. To keep the machine's /etc, /run and
/var untouched and need no ``libvirt-qemu`` user, the daemon is the *unprivileged
session* daemon (§4 item 11): ``/usr/sbin/libvirtd`` run as ``nobody`` (when the
suite runs as root; as the current user otherwise) with HOME and every XDG directory
inside one temporary directory. Its client socket is
``DIR/run/libvirt/libvirt-sock``, reached as
``qemu+unix:///session?socket=DIR/run/libvirt/libvirt-sock``.

Gotchas handled here:

* ``PATH`` holds only a ``qemu-system-x86_64`` symlink, so the first
  ``getCapabilities()`` probes one qemu binary (about 2 s) instead of all 14 that
  qemu-system-misc installs (28 s, §4 item 9).
* ``stdio_handler = "file"`` in the session's qemu.conf: no virtlogd is spawned (it
  would outlive the test for 120 s).
* The guest is ``type='qemu'`` (TCG; /dev/kvm may exist and hang, §4 item 8) with
  ``no_timer_check`` (§4 item 13) and a virtio balloon with ``<stats period='1'/>``
  (§3: without a period the statistics are a stale one-shot snapshot). Its /init
  (``planner.bootlab.idle``, the idle guest ``planner density`` boots too) loads
  virtio_ring, virtio, virtio_pci* and virtio_balloon from the kernel package
  (virtio_ring before virtio, §3), prints ``IDLE-READY`` and sleeps.
* The daemon is a child of this process (no ``--daemon``) so it is reaped, and the
  guest is destroyed through the admin connection *before* the daemon stops, so no
  qemu process is orphaned.

The kernel is Debian's ``linux-image-cloud-amd64``, fetched by the bootlab into
``${PLANNER_CACHE:-~/.cache/planner}`` (``planner.bootlab.fetch``); busybox is
``/bin/busybox`` from busybox-static (or the bootlab's cached copy).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LIBVIRTD = "/usr/sbin/libvirtd"
QEMU = "qemu-system-x86_64"
GUEST_NAME = "planner-live-guest"
GUEST_MEMORY_KIB = 128 * 1024
#: loaded in this order by the guest's /init (virtio_ring before virtio)
GUEST_MODULES = (
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "virtio_balloon",
)


class LabUnavailable(Exception):
    """The lab cannot run here; the message says why (the tests skip with it)."""


@dataclass
class GuestFiles:
    kernel: Path
    initrd: Path
    kernel_release: str


def _guest_files(work: Path) -> GuestFiles:
    """The Debian cloud kernel (fetched into the planner cache) and a busybox initramfs with
    the virtio balloon modules of that kernel."""
    try:
        from planner.bootlab.fetch import fetch_package, kernel_in_package
        from planner.bootlab.idle import idle_initramfs, kernel_modules
    except ImportError as err:  # the bootlab is being written
        raise LabUnavailable(f"planner.bootlab is not available: {err}") from None
    try:
        pkg = fetch_package("linux-image-cloud-amd64")
    except Exception as err:
        raise LabUnavailable(f"cannot fetch linux-image-cloud-amd64: {err}") from None
    vmlinuz = kernel_in_package(pkg)
    release = vmlinuz.name.removeprefix("vmlinuz-")
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        from planner.bootlab.fetch import fetch_busybox

        busybox = fetch_busybox("x86_64")[0]
    try:
        modules = kernel_modules(pkg.root, release, GUEST_MODULES)
    except Exception as err:
        raise LabUnavailable(f"{pkg.package}: {err}") from None
    kernel = work / "vmlinuz"
    initrd = work / "initrd.gz"
    shutil.copyfile(vmlinuz, kernel)
    initrd.write_bytes(idle_initramfs(busybox.read_bytes(), modules))
    return GuestFiles(kernel=kernel, initrd=initrd, kernel_release=release)


def domain_xml(
    name: str, files: GuestFiles, console: Path, memory_kib: int = GUEST_MEMORY_KIB, vcpu_count: int = 1
) -> str:
    """A TCG guest booted from kernel + initramfs, no disk, no NIC (recipe §3)."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='KiB'>{memory_kib}</memory>
  <vcpu>{vcpu_count}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{files.kernel}</kernel>
    <initrd>{files.initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1 loglevel=4 no_timer_check</cmdline>
  </os>
  <cpu mode='custom'><model>qemu64</model></cpu>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'><source path='{console}'/></serial>
    <memballoon model='virtio'><stats period='1'/></memballoon>
  </devices>
</domain>"""


@dataclass
class LibvirtLab:
    """A running session libvirtd in ``root`` and, after :meth:`boot_guest`, one guest."""

    root: Path
    uid: int
    gid: int
    proc: subprocess.Popen[bytes] | None = None
    files: GuestFiles | None = None
    console: Path | None = None
    guest_uuid: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return self.root / "run" / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///session?socket={self.socket}"

    # --- daemon ------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {
            "PATH": str(self.root / "bin"),
            "HOME": str(self.root / "home"),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "LANG": "C.UTF-8",
        }

    def start_daemon(self, timeout_s: float = 20.0) -> None:
        argv = [LIBVIRTD]
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
            argv = [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *argv]
        log = (self.root / "libvirtd.stderr").open("ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            argv, env=self._env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.root
        )
        log.close()
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise LabUnavailable(f"libvirtd exited with {self.proc.returncode}: {self.log_tail()}")
            if self.socket.exists():
                self.timings_s["socket_up"] = time.monotonic() - t0
                return
            time.sleep(0.05)
        raise LabUnavailable(
            f"libvirtd socket {self.socket} did not appear in {timeout_s:.0f} s: {self.log_tail()}"
        )

    def stop_daemon(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        with contextlib.suppress(Exception):
            self.socket.unlink()

    def restart_daemon(self) -> None:
        self.stop_daemon()
        self.start_daemon()

    def log_tail(self, lines: int = 5) -> str:
        text = ""
        for name in ("libvirtd.stderr", "cache/libvirt/libvirtd.log"):
            path = self.root / name
            if path.is_file():
                text += path.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def admin(self) -> Any:
        """A read-write connection: only the fixture uses it (to create and destroy the guest)."""
        import libvirt

        libvirt.registerErrorHandler(lambda *_: None, None)
        return libvirt.open(self.uri)

    # --- guest -------------------------------------------------------------------------------
    def boot_guest(self, timeout_s: float = 120.0) -> None:
        self.files = _guest_files(self.root / "guest")
        _chown_tree(self.root / "guest", self.uid, self.gid)
        self.console = self.root / "guest" / "console.log"
        self.guest_uuid = self._boot(GUEST_NAME, self.console, GUEST_MEMORY_KIB, 1, timeout_s)

    def boot_extra_guest(self, name: str, memory_kib: int, vcpu_count: int, timeout_s: float = 120.0) -> str:
        """Boot one more guest of the same kernel and initramfs (after :meth:`boot_guest`);
        its UUID. Remove it with :meth:`destroy_guest` so the other tests see one guest."""
        assert self.files is not None, "boot_guest first"
        console = self.root / "guest" / f"{name}.log"
        return self._boot(name, console, memory_kib, vcpu_count, timeout_s, prefix=f"{name}: ")

    def _boot(
        self, name: str, console: Path, memory_kib: int, vcpu_count: int, timeout_s: float, prefix: str = ""
    ) -> str:
        assert self.files is not None
        conn = self.admin()
        try:
            t0 = time.monotonic()
            dom = conn.createXML(domain_xml(name, self.files, console, memory_kib, vcpu_count), 0)
            self.timings_s[prefix + "create"] = time.monotonic() - t0
            while time.monotonic() - t0 < timeout_s:
                text = console.read_text(errors="replace") if console.exists() else ""
                if "INSMOD-FAILED" in text or "Kernel panic" in text:
                    raise LabUnavailable(f"the guest failed to boot: {text.strip().splitlines()[-3:]}")
                if "IDLE-READY" in text:
                    self.timings_s[prefix + "guest_ready"] = time.monotonic() - t0
                    break
                if not dom.isActive():
                    raise LabUnavailable(f"the guest stopped during boot: {text.strip().splitlines()[-3:]}")
                time.sleep(0.2)
            else:
                raise LabUnavailable(f"the guest printed no IDLE-READY in {timeout_s:.0f} s")
            # the balloon driver reports once the module is loaded and a period has passed
            while time.monotonic() - t0 < timeout_s:
                if "usable" in dom.memoryStats():
                    self.timings_s[prefix + "balloon_stats"] = time.monotonic() - t0
                    return str(dom.UUIDString())
                time.sleep(0.5)
            raise LabUnavailable("the guest's balloon driver reported no statistics")
        finally:
            conn.close()

    def destroy_guest(self, name: str) -> None:
        """Destroy one guest (a transient domain: it is gone once destroyed)."""
        conn = self.admin()
        try:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
        finally:
            conn.close()

    def destroy_guests(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        conn = self.admin()
        try:
            for dom in conn.listAllDomains():
                if dom.isActive():
                    dom.destroy()
        finally:
            conn.close()

    def qemu_pids(self) -> list[int]:
        """Live (not zombie) processes running this lab's qemu."""
        out = []
        qemu = str(self.root / "bin" / QEMU).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if argv0 == qemu:
                out.append(int(entry.name))
        return out

    def close(self) -> None:
        """Destroy the guest, stop the daemon, kill any qemu left over, remove the directory."""
        try:
            with contextlib.suppress(Exception):
                self.destroy_guests()
        finally:
            self.stop_daemon()
            for pid in self.qemu_pids():
                with contextlib.suppress(Exception):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(self.root, ignore_errors=True)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid)


def start_lab() -> LibvirtLab:
    """Start a private session libvirtd (as ``nobody`` when root) in a new temporary directory.

    Raises
    ------
    LabUnavailable
        When libvirtd, setpriv or qemu is missing, or the daemon does not come up.
    """
    if not Path(LIBVIRTD).is_file():
        raise LabUnavailable(
            f"{LIBVIRTD} is not installed (apt-get install libvirt-daemon libvirt-daemon-driver-qemu)"
        )
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise LabUnavailable(f"{QEMU} is not installed (apt-get install qemu-system-x86)")
    try:
        import libvirt  # noqa: F401
    except ImportError:
        raise LabUnavailable("libvirt-python is not installed (pip install '.[libvirt]')") from None
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            raise LabUnavailable("setpriv (util-linux) is needed to run the session daemon as nobody")
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    else:
        uid, gid = os.geteuid(), os.getegid()
    # short path: a unix socket path must stay under 108 bytes
    root = Path(tempfile.mkdtemp(prefix="planner-lv-", dir="/tmp"))
    lab = LibvirtLab(root=root, uid=uid, gid=gid)
    try:  # from here on every failure removes the directory (and any daemon) again
        os.chmod(root, 0o755)
        for sub in ("bin", "home", "run", "config/libvirt", "cache/libvirt", "guest"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "bin" / QEMU).symlink_to(qemu)
        (root / "config" / "libvirt" / "qemu.conf").write_text('stdio_handler = "file"\n')
        (root / "config" / "libvirt" / "libvirtd.conf").write_text(
            'log_outputs = "3:file:' + str(root / "cache" / "libvirt" / "libvirtd.log") + '"\n'
        )
        _chown_tree(root, uid, gid)
        lab.start_daemon()
    except BaseException:
        lab.close()
        raise
    return lab
