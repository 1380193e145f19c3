"""Build the bootlab initramfs: static busybox + the dump ``/init``, as cpio newc + gzip.

Pure Python, no root: the device nodes (``/dev/console``, ``/dev/null``) are written
straight into the archive instead of being made with ``mknod``. The archive is
deterministic (mtime 0, uid/gid 0, sorted entries, gzip without a timestamp), so its
sha256 identifies the busybox + ``/init`` pair. Format: the "new ASCII" cpio format,
``Documentation/driver-api/early-userspace/buffer-format.rst`` @ v6.1.
Layout and applets follow ``reference/bootlab-debian-6.1.md`` section 1.1.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from planner.bootlab.fetch import make_dir
from planner.errors import InputError
from planner.files import write_atomic

#: busybox applets linked in /bin (everything init.sh calls)
APPLETS = ("sh", "mount", "cat", "head", "dmesg", "uname", "poweroff", "echo", "sleep", "mkdir", "ls")

_CPIO_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"

#: ELF ``e_machine`` and byte order of each guest architecture (``include/uapi/linux/elf-em.h``
#: @ v6.1: EM_X86_64 62, EM_S390 22; s390x is big-endian)
_ELF_MACHINE: dict[str, tuple[int, str]] = {"x86_64": (62, "<"), "s390x": (22, ">")}
_PT_INTERP = 3  # program header of a dynamically linked executable (System V gABI)


@dataclass(frozen=True)
class CpioEntry:
    """One archive member. ``data`` is file content or, for a symlink, its target."""

    name: str
    mode: int
    data: bytes = b""
    rdev_major: int = 0
    rdev_minor: int = 0


def _pad4(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


def write_cpio_newc(entries: list[CpioEntry]) -> bytes:
    """Serialise entries as a cpio "newc" archive (with the ``TRAILER!!!`` entry).

    Each member is a 110-byte ASCII header (``070701`` + 13 eight-digit hex fields:
    ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    rdevminor, namesize, check), the NUL-terminated name padded to 4 bytes, then the
    data padded to 4 bytes.
    """
    out = io.BytesIO()
    for ino, entry in enumerate([*entries, CpioEntry(_TRAILER, 0)], start=1):
        name = entry.name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(entry.mode) else 1
        fields = (
            ino if entry.name != _TRAILER else 0,
            entry.mode,
            0,  # uid
            0,  # gid
            nlink if entry.name != _TRAILER else 1,
            0,  # mtime
            len(entry.data),
            0,  # devmajor
            0,  # devminor
            entry.rdev_major,
            entry.rdev_minor,
            len(name),
            0,  # check
        )
        header = _CPIO_MAGIC + b"".join(b"%08X" % v for v in fields)
        out.write(header + name + _pad4(len(header) + len(name)))
        out.write(entry.data + _pad4(len(entry.data)))
    return out.getvalue()


def check_busybox(path: Path, arch: str) -> None:
    """Refuse a ``--busybox`` that cannot run as the guest's ``/init`` shell.

    It must be a 64-bit ELF executable of ``arch`` without a ``PT_INTERP`` program
    header: the initramfs holds no dynamic loader or libc, so a dynamically linked
    busybox (Debian ``busybox``, not ``busybox-static``) ends in a kernel panic.
    Header offsets: System V gABI, ELF-64 (``e_machine`` 0x12, ``e_phoff`` 0x20,
    ``e_phentsize``/``e_phnum`` 0x36).

    Raises
    ------
    InputError
        Naming the file, what was expected and what was found.
    """
    expected = f"expected a static 64-bit {arch} busybox (Debian busybox-static)"
    if not path.is_file():
        found = (
            "no such file" if not path.exists() else "a directory" if path.is_dir() else "not a regular file"
        )
        raise InputError(f"{expected}; found {found}", file=path, field="--busybox")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"{expected}; found {err.strerror or err}", file=path, field="--busybox") from None
    if data[:4] != b"\x7fELF" or len(data) < 64 or data[4] != 2:
        found = "a 32-bit ELF file" if data[:4] == b"\x7fELF" else "no ELF header"
        raise InputError(f"{expected}; found {found}", file=path, field="--busybox")
    order = "<" if data[5] == 1 else ">"
    machine = struct.unpack_from(f"{order}H", data, 0x12)[0]
    if (machine, order) != _ELF_MACHINE[arch]:
        found = next((a for a, m in _ELF_MACHINE.items() if m == (machine, order)), f"e_machine {machine}")
        raise InputError(f"{expected}; found an ELF file for {found}", file=path, field="--busybox")
    (ph_offset,) = struct.unpack_from(f"{order}Q", data, 0x20)
    ph_size, ph_count = struct.unpack_from(f"{order}HH", data, 0x36)
    types = {
        struct.unpack_from(f"{order}I", data, ph_offset + k * ph_size)[0]
        for k in range(ph_count)
        if ph_offset + (k + 1) * ph_size <= len(data)
    }
    if _PT_INTERP in types:
        raise InputError(
            f"{expected}; found a dynamically linked executable (it cannot run in the initramfs)",
            file=path,
            field="--busybox",
        )


def init_script() -> bytes:
    """The ``/init`` shell script shipped as package data (``planner/bootlab/init.sh``)."""
    return resources.files("planner.bootlab").joinpath("init.sh").read_bytes()


def initramfs_entries(busybox: bytes, init: bytes) -> list[CpioEntry]:
    """The members of the image: dirs, busybox + applet links, device nodes, /init."""
    d = stat.S_IFDIR | 0o755
    entries = [CpioEntry(name, d) for name in ("bin", "dev", "proc", "sbin", "sys", "tmp")]
    entries.append(CpioEntry("bin/busybox", stat.S_IFREG | 0o755, busybox))
    entries += [CpioEntry(f"bin/{a}", stat.S_IFLNK | 0o777, b"busybox") for a in APPLETS]
    entries.append(CpioEntry("sbin/poweroff", stat.S_IFLNK | 0o777, b"../bin/busybox"))
    # the kernel opens /dev/console before /init runs; devtmpfs is mounted over /dev later
    entries.append(CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev_major=5, rdev_minor=1))
    entries.append(CpioEntry("dev/null", stat.S_IFCHR | 0o666, rdev_major=1, rdev_minor=3))
    entries.append(CpioEntry("init", stat.S_IFREG | 0o755, init))
    return sorted(entries, key=lambda e: e.name)


def build_initramfs(busybox: bytes, init: bytes | None = None) -> bytes:
    """gzip -9 (no timestamp) of the cpio archive of :func:`initramfs_entries`."""
    raw = write_cpio_newc(initramfs_entries(busybox, init_script() if init is None else init))
    return gzip.compress(raw, compresslevel=9, mtime=0)


def cached_initramfs(busybox_path: Path, cache: Path, arch: str) -> Path:
    """Build (once) and cache the initramfs for a busybox binary; returns its path.

    The file name carries a hash of busybox and ``/init``, so a changed script makes a
    new image instead of reusing a stale one.
    """
    busybox = busybox_path.read_bytes()
    init = init_script()
    key = hashlib.sha256(hashlib.sha256(busybox).digest() + hashlib.sha256(init).digest()).hexdigest()[:16]
    path = cache / "initramfs" / f"initrd-{arch}-{key}.cpio.gz"
    if path.is_file():
        return path
    make_dir(path.parent, field="PLANNER_CACHE")
    data = build_initramfs(busybox, init)
    return write_atomic(path, data)
