"""Recognise a kernel image file and its architecture from its bytes.

* x86 bzImage: ``HdrS`` at offset 0x202 and the 0xAA55 boot flag at 0x1FE; the
  setup header then holds the version string pointer (0x20E), ``xloadflags`` (0x236,
  bit 0 = 64-bit entry point) and ``init_size`` (0x260), the memory the decompressor
  needs above the load address. Source: Documentation/arch/x86/boot.rst @ v6.1,
  "The Real-Mode Kernel Header".
* s390x image (``arch/s390/boot``, Debian ``vmlinuz-*-s390x``): the 8-byte string
  ``S390EP`` at 0x10008 (``arch/s390/kernel/head64.S``/``boot/head.S`` @ v6.1, the
  marker qemu's ``hw/s390x/ipl.c`` checks before it loads a kernel at 0x10000).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner.errors import InputError

Arch = Literal["x86_64", "s390x"]
ARCHES: tuple[Arch, ...] = ("x86_64", "s390x")

_BZ_MAGIC_OFFSET = 0x202
_BZ_BOOT_FLAG_OFFSET = 0x1FE
_S390_MAGIC_OFFSET = 0x10008


@dataclass(frozen=True)
class KernelImage:
    """A kernel image file and what its header says.

    Attributes
    ----------
    path
        The file.
    arch
        ``x86_64`` or ``s390x``.
    version_text
        The bzImage's kernel version string (``6.1.0-56-cloud-amd64 (...) #1 SMP ...``);
        ``None`` for s390x images, which carry none uncompressed.
    init_size_bytes
        bzImage ``init_size``: the decompressor needs the load address (16 MiB) plus this
        much RAM, or the guest resets silently. ``None`` for s390x. [bytes]
    """

    path: Path
    arch: Arch
    version_text: str | None = None
    init_size_bytes: int | None = None


def _describe(head: bytes) -> str:
    if head[:4] == b"\x7fELF":
        return "an ELF file (an uncompressed vmlinux? qemu -kernel needs the bzImage/vmlinuz)"
    if head[:2] == b"\x1f\x8b":
        return "a gzip file"
    if head[:2] == b"MZ":
        return "a PE/EFI file without a Linux setup header"
    if head[:6] == b"070701":
        return "a cpio archive"
    if not head:
        return "an empty file"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:512]):
        return "a text file"
    return "no known kernel header"


def read_kernel_image(path: Path, *, expected_arch: str | None = None) -> KernelImage:
    """Identify a kernel image file.

    Parameters
    ----------
    path
        A ``vmlinuz``/``bzImage`` file.
    expected_arch
        The architecture the caller will boot (``--arch``); a different one is refused.

    Raises
    ------
    InputError
        The file is missing, is not an x86-64 bzImage or s390x image, or is of another
        architecture than ``expected_arch``.
    """
    if not path.is_file():
        raise InputError("expected a kernel image file or a Debian package name; no such file", file=path)
    with path.open("rb") as f:
        head = f.read(_S390_MAGIC_OFFSET + 8)
    image: KernelImage | None = None
    if (
        len(head) > 0x264
        and head[_BZ_MAGIC_OFFSET : _BZ_MAGIC_OFFSET + 4] == b"HdrS"
        and head[_BZ_BOOT_FLAG_OFFSET : _BZ_BOOT_FLAG_OFFSET + 2] == b"\x55\xaa"
    ):
        protocol = struct.unpack_from("<H", head, 0x206)[0]
        xloadflags = struct.unpack_from("<H", head, 0x236)[0] if protocol >= 0x20C else 0
        if not xloadflags & 1:
            raise InputError(
                f"expected an x86-64 (64-bit) or s390x kernel; found a 32-bit x86 bzImage "
                f"(boot protocol {protocol >> 8}.{protocol & 0xFF})",
                file=path,
            )
        version_text = None
        version_offset = struct.unpack_from("<H", head, 0x20E)[0]
        if version_offset:
            start = version_offset + 0x200
            raw = head[start : start + 256] if start < len(head) else b""
            version_text = raw.split(b"\0", 1)[0].decode("ascii", "replace") or None
        init_size_bytes = struct.unpack_from("<I", head, 0x260)[0] if protocol >= 0x20A else None
        image = KernelImage(path, "x86_64", version_text, init_size_bytes)
    elif head[_S390_MAGIC_OFFSET : _S390_MAGIC_OFFSET + 6] == b"S390EP":
        image = KernelImage(path, "s390x")
    if image is None:
        raise InputError(
            f"expected an x86-64 bzImage (HdrS at 0x202) or an s390x kernel image (S390EP at 0x10008); "
            f"found {_describe(head)}",
            file=path,
        )
    if expected_arch is not None and expected_arch != image.arch:
        raise InputError(
            f"--arch is {expected_arch} but the kernel image is {image.arch}",
            file=path,
            field="--arch",
        )
    return image
