"""Idle guests: an initramfs whose ``/init`` reports the guest's memory, optionally fills a
tmpfs, prints ``IDLE-READY`` and then sleeps for ever, so the guest stays up.

``planner density`` boots many of them side by side; the live-check tests boot one under a
real libvirtd (``tests/libvirt_lab.py``, with the virtio balloon modules loaded). The guest
recipe is ``reference/libvirt-recipes.md`` §3 "Guest": static busybox, kernel modules from
the same kernel package (``virtio_ring`` before ``virtio``), ``MemTotal``/``MemFree`` printed,
``touch=N`` MiB written to tmpfs, ``IDLE-READY``, sleep. Here the tmpfs size is the kernel
argument ``planner_tmpfs_mib=N``, read from ``/proc/cmdline`` (one image for every size).
The archive is built like the bootlab's (:mod:`planner.bootlab.initramfs`): pure Python,
deterministic, cached by the hash of its contents.
"""

from __future__ import annotations

import gzip
import hashlib
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from planner.bootlab.fetch import make_dir
from planner.bootlab.initramfs import CpioEntry, initramfs_entries, write_cpio_newc
from planner.errors import InputError
from planner.files import write_atomic

#: the line ``/init`` prints once the guest is up (and its tmpfs written)
IDLE_READY = "IDLE-READY"
#: printed instead of the tmpfs line when the guest could not write it (too small a guest)
TMPFS_FAILED = "TMPFS-FAILED"
#: printed for each module that did not load
INSMOD_FAILED = "INSMOD-FAILED"
#: kernel argument: MiB of data ``/init`` writes into a tmpfs before ``IDLE-READY``
TMPFS_ARG = "planner_tmpfs_mib"

_INIT = """#!/bin/busybox sh
# planner idle guest: report memory, optionally fill a tmpfs, print IDLE-READY, sleep.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in {modules}; do /bin/busybox insmod /modules/$m.ko || echo "{insmod_failed} $m"; done
fill=0
for word in $(/bin/busybox cat /proc/cmdline); do
  case "$word" in {tmpfs_arg}=*) fill="${{word#*=}}" ;; esac
done
if [ "$fill" -gt 0 ]; then
  /bin/busybox mkdir -p /fill
  /bin/busybox mount -t tmpfs -o size=$((fill + 1))m tmpfs /fill
  if /bin/busybox dd if=/dev/zero of=/fill/data bs=1048576 count="$fill" 2>/dev/null; then
    echo "TMPFS-WRITTEN $fill MiB"
  else
    echo "{tmpfs_failed} $fill MiB"
  fi
fi
/bin/busybox grep -E '^(MemTotal|MemFree|MemAvailable|Shmem):' /proc/meminfo
echo {ready}
while true; do /bin/busybox sleep 3600; done
"""


def idle_init_script(modules: Sequence[str] = ()) -> bytes:
    """The idle ``/init``; it loads ``modules`` (``/modules/NAME.ko``) in the order given."""
    return _INIT.format(
        modules=" ".join(modules),
        insmod_failed=INSMOD_FAILED,
        tmpfs_arg=TMPFS_ARG,
        tmpfs_failed=TMPFS_FAILED,
        ready=IDLE_READY,
    ).encode()


def idle_initramfs(busybox: bytes, modules: Mapping[str, bytes] | None = None) -> bytes:
    """gzip (no timestamp) of the cpio archive: busybox, device nodes, the idle ``/init`` and
    ``/modules/NAME.ko`` for each module (loaded in the mapping's order)."""
    modules = modules or {}
    entries = initramfs_entries(busybox, idle_init_script(list(modules)))
    if modules:
        entries.append(CpioEntry("modules", stat.S_IFDIR | 0o755))
        entries += [CpioEntry(f"modules/{n}.ko", stat.S_IFREG | 0o644, data) for n, data in modules.items()]
    return gzip.compress(write_cpio_newc(sorted(entries, key=lambda e: e.name)), compresslevel=9, mtime=0)


def kernel_modules(package_root: Path, release: str, names: Sequence[str]) -> dict[str, bytes]:
    """The ``NAME.ko`` files of an unpacked Debian kernel package, in the order of ``names``.

    Raises
    ------
    InputError
        A module that is not in ``lib/modules/<release>/kernel``.
    """
    moddir = package_root / "lib" / "modules" / release / "kernel"
    out: dict[str, bytes] = {}
    for name in names:
        found = sorted(moddir.rglob(f"{name}.ko"))
        if not found:
            raise InputError(f"expected the module {name}.ko in the kernel package; found none", file=moddir)
        out[name] = found[0].read_bytes()
    return out


def cached_idle_initramfs(
    busybox_path: Path, cache: Path, arch: str, modules: Mapping[str, bytes] | None = None
) -> Path:
    """Build (once) and cache the idle initramfs; its name carries a hash of what goes in it
    (busybox, ``/init``, each module), so a changed input makes a new image."""
    busybox = busybox_path.read_bytes()
    modules = modules or {}
    digest = hashlib.sha256(busybox)
    digest.update(idle_init_script(list(modules)))
    for name, data in modules.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    path = cache / "initramfs" / f"idle-{arch}-{digest.hexdigest()[:16]}.cpio.gz"
    if path.is_file():
        return path
    make_dir(path.parent, field="PLANNER_CACHE")
    return write_atomic(path, idle_initramfs(busybox, modules))


def tmpfs_cmdline(tmpfs_mib: int) -> str:
    """The kernel argument that makes ``/init`` write ``tmpfs_mib`` MiB to a tmpfs ('' for 0)."""
    if tmpfs_mib < 0:
        raise InputError(f"expected 0 or more MiB; found {tmpfs_mib}", field="--workload-tmpfs")
    return f"{TMPFS_ARG}={tmpfs_mib}" if tmpfs_mib else ""
