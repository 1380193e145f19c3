"""A bootlab *lab*: what stays fixed over a campaign, resolved and checked before any boot.

The kernel (a vmlinuz path, or a Debian package fetched with apt: :mod:`planner.bootlab.fetch`),
qemu and its version, the machine type, a static busybox and the initramfs built around it
(:mod:`planner.bootlab.initramfs`), the kernel command line and the accelerator: TCG, or KVM
when a short probe boot under it reaches the dump (a ``/dev/kvm`` can exist and hang).
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from planner.bootlab import fetch, qemu
from planner.bootlab.image import Arch, KernelImage, read_kernel_image
from planner.bootlab.initramfs import cached_initramfs, check_busybox
from planner.errors import InputError
from planner.units import KIB_PER_MIB, size_label_kib

#: seconds a boot may take before qemu is killed (the reference used 300)
DEFAULT_TIMEOUT_S = 300.0
#: the KVM probe boot: size, and how long it may take (a /dev/kvm can exist and hang)
KVM_PROBE_MEMORY_KIB = 256 * KIB_PER_MIB
KVM_PROBE_TIMEOUT_S = 20.0

Accel = Literal["auto", "tcg", "kvm"]


@dataclass(frozen=True)
class KernelSource:
    """The kernel a lab boots, with where it came from."""

    image: KernelImage
    sha256: str
    package: str | None = None
    version: str | None = None
    requested: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.image.path),
            "sha256": self.sha256,
            "arch": self.image.arch,
            "package": self.package,
            "version": self.version,
            "requested": self.requested,
            "version_text": self.image.version_text,
        }


@dataclass(frozen=True)
class Lab:
    """Everything fixed over a campaign."""

    arch: Arch
    kernel: KernelSource
    initrd: Path
    initrd_sha256: str
    busybox: dict[str, Any]
    qemu: str
    qemu_version: str
    machine: str
    cmdline: str
    accel: Literal["tcg", "kvm"]
    timeout_s: float
    kvm_probe: dict[str, Any] = field(default_factory=dict)


def resolve_kernel(
    spec: str,
    *,
    arch: str | None = None,
    cache: Path | None = None,
    allow_system_changes: bool = False,
) -> KernelSource:
    """A ``--kernel`` value (a vmlinuz path or a Debian package name) -> :class:`KernelSource`."""
    path = Path(spec).expanduser()
    if path.exists() or "/" in spec or not fetch.looks_like_package(spec):
        image = read_kernel_image(path, expected_arch=arch)
        return KernelSource(image=image, sha256=fetch.sha256_file(path))
    try:
        pkg = fetch.fetch_package(spec, cache=cache, allow_system_changes=allow_system_changes)
    except fetch.PackageNotFoundError as err:
        raise InputError(
            f"expected a kernel image file or a Debian package; found {spec!r}: no such file, "
            f"and apt knows no such package ({err.detail})",
            field="--kernel",
        ) from None
    vmlinuz = fetch.kernel_in_package(pkg)
    image = read_kernel_image(vmlinuz, expected_arch=arch)
    return KernelSource(
        image=image,
        sha256=fetch.sha256_file(vmlinuz),
        package=pkg.package,
        version=pkg.version,
        requested=spec,
    )


def _kvm_usable_here(arch: Arch) -> bool:
    return (
        platform.machine() == arch and os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
    )


_PROBE_CACHE: dict[tuple[str, str], dict[str, Any]] = {}


def probe_kvm(
    *, qemu_binary: str, arch: Arch, kernel: Path, kernel_sha256: str, initrd: Path, machine: str
) -> dict[str, Any]:
    """Boot the kernel once under KVM with a short timeout; KVM is used only if it dumps.

    Returns the probe record ``{"ran", "usable", "outcome", "boot_wall_s", "reason"}``.
    """
    key = (qemu_binary, kernel_sha256)
    if key in _PROBE_CACHE:
        return _PROBE_CACHE[key]
    if not _kvm_usable_here(arch):
        result: dict[str, Any] = {
            "ran": False,
            "usable": False,
            "reason": f"no usable /dev/kvm for {arch} on this {platform.machine()} host",
        }
    else:
        argv = qemu.qemu_argv(
            qemu=qemu_binary,
            arch=arch,
            kernel=kernel,
            initrd=initrd,
            memory_kib=KVM_PROBE_MEMORY_KIB,
            vcpu_count=1,
            machine=machine,
            cmdline=qemu.full_cmdline(arch),
            accel="kvm",
        )
        with tempfile.TemporaryDirectory(prefix="planner-kvm-probe-") as tmp:
            log = Path(tmp) / "probe.log"
            run = qemu.run_qemu(argv, log, timeout_s=KVM_PROBE_TIMEOUT_S)
            outcome = qemu.classify(qemu.read_console(log), run)
        result = {
            "ran": True,
            "usable": outcome == "dump",
            "outcome": outcome,
            "boot_wall_s": run.boot_wall_s,
            "reason": f"KVM probe boot at {size_label_kib(KVM_PROBE_MEMORY_KIB)}: {outcome}",
        }
    _PROBE_CACHE[key] = result
    return result


def choose_accel(
    accel: Accel, qemu_binary: str, source: KernelSource, initrd: Path, machine: str
) -> tuple[Literal["tcg", "kvm"], dict[str, Any]]:
    """The accelerator for ``--accel`` and the KVM probe behind it (empty unless ``auto``):
    ``auto`` is KVM only if a short probe boot of ``source`` with ``initrd`` dumps (:func:`probe_kvm`)."""
    if accel != "auto":
        return ("kvm" if accel == "kvm" else "tcg"), {}
    probe = probe_kvm(
        qemu_binary=qemu_binary,
        arch=source.image.arch,
        kernel=source.image.path,
        kernel_sha256=source.sha256,
        initrd=initrd,
        machine=machine,
    )
    return ("kvm" if probe["usable"] else "tcg"), probe


def prepare_lab(
    kernel: str,
    *,
    arch: str | None = None,
    machine: str | None = None,
    cmdline: str = qemu.DEFAULT_CMDLINE,
    accel: Accel = "auto",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    busybox: Path | None = None,
    cache: Path | None = None,
    allow_system_changes: bool = False,
) -> Lab:
    """Resolve the kernel, qemu and busybox, build the initramfs, pick the accelerator.

    Parameters
    ----------
    kernel
        A vmlinuz/bzImage path or a Debian package name (``linux-image-s390x:s390x``).
    arch
        ``x86_64`` or ``s390x``; default: the kernel image's. A mismatch is refused.
    machine
        qemu machine type; default ``pc`` (x86_64) or ``s390-ccw-virtio``.
    cmdline
        Kernel arguments besides ``console=`` and ``panic=-1``, which are always added.
    accel
        ``tcg``; ``kvm``; ``auto`` = KVM only if a short probe boot reaches the dump.
    timeout_s
        Hard limit per boot. [s]
    busybox
        A static busybox of the guest architecture; default Debian ``busybox-static``.
    """
    if arch is not None and arch not in qemu.QEMU_BINARY:
        raise InputError(f"expected one of {', '.join(qemu.QEMU_BINARY)}; found {arch!r}", field="--arch")
    if timeout_s <= 0:
        raise InputError(f"expected a positive number of seconds; found {timeout_s}", field="--timeout")
    source = resolve_kernel(kernel, arch=arch, cache=cache, allow_system_changes=allow_system_changes)
    the_arch = source.image.arch
    qemu_binary = qemu.find_qemu(the_arch)
    the_machine = qemu.check_machine(the_arch, machine)
    cache = cache or fetch.cache_dir()
    busybox_path, busybox_info = _busybox(the_arch, busybox, cache, allow_system_changes)
    initrd = cached_initramfs(busybox_path, cache, the_arch)
    full = qemu.full_cmdline(the_arch, cmdline)
    chosen, probe = choose_accel(accel, qemu_binary, source, initrd, the_machine)
    return Lab(
        arch=the_arch,
        kernel=source,
        initrd=initrd,
        initrd_sha256=fetch.sha256_file(initrd),
        busybox=busybox_info,
        qemu=qemu_binary,
        qemu_version=qemu.qemu_version(qemu_binary),
        machine=the_machine,
        cmdline=full,
        accel=chosen,
        timeout_s=timeout_s,
        kvm_probe=probe,
    )


def _busybox(
    arch: Arch, busybox: Path | None, cache: Path, allow_system_changes: bool
) -> tuple[Path, dict[str, Any]]:
    """The static busybox of the initramfs, with where it came from: the one given (checked to be
    of ``arch``), else Debian's ``busybox-static`` fetched into the cache."""
    if busybox is None:
        busybox_path, pkg = fetch.fetch_busybox(arch, cache=cache, allow_system_changes=allow_system_changes)
        busybox_info: dict[str, Any] = {
            "package": pkg.package,
            "version": pkg.version,
            "deb_arch": pkg.deb_arch,
        }
    else:
        check_busybox(busybox, arch)
        busybox_path, busybox_info = busybox, {"package": None, "version": None}
    busybox_info |= {"path": str(busybox_path), "sha256": fetch.sha256_file(busybox_path)}
    return busybox_path, busybox_info
