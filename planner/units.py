"""Sizes and units, and the glossary of names used throughout the planner.

Every quantity carries its unit in its name, and the same name is used for the
same quantity everywhere (YAML key = model field = function parameter).

Glossary
--------
``*_kib``
    Kibibytes (1024 bytes). The kernel's ``kB``/``K``/``k`` in dmesg and
    /proc/meminfo are KiB; the planner computes in integer KiB.
``*_mib``, ``*_gib``
    Mebibytes, gibibytes.
``*_bytes``
    Bytes (hash-table sizes as the kernel prints them).
``pages``
    4 KiB pages (x86-64 and s390x both use 4 KiB base pages).
``memory_kib``
    The configured RAM of a machine (qemu ``-m``, libvirt ``<memory>``).
``present_kib``
    RAM the kernel sees (``physpages``): ``memory_kib`` minus firmware holes.
``reserved_kib``
    The dmesg ``Memory:`` line's ``reserved``: present pages never handed to the
    page allocator at that point (image, memmap, early hash tables, ...).
``mem_total_kib``, ``mem_free_kib``, ``mem_available_kib``
    /proc/meminfo ``MemTotal``, ``MemFree``, ``MemAvailable``.
``vcpu_count``
    Online virtual CPUs. ``possible_cpu_count``: CPUs the kernel sizes per-CPU
    data for (``nr_cpu_ids``; qemu ``maxcpus``).
``boot_wall_s``
    Wall-clock seconds.

Size strings
------------
:func:`parse_size_kib` reads ``128MiB``, ``2G``, ``2GiB``, ``65536k``,
``1003884k``, ``512M``, ``1T``, ``4096B``. All suffixes are binary, as in the
kernel, qemu and libvirt: ``K``/``k``/``KB``/``kB``/``KiB`` = 1024 bytes,
``M``/``MB``/``MiB`` = 1024², and so on up to ``EiB``. A bare number needs a default unit
from the caller.
"""

from __future__ import annotations

import re

from planner.errors import InputError

KIB_PER_MIB = 1024
KIB_PER_GIB = 1024 * 1024
KIB_PER_TIB = 1024 * 1024 * 1024
BYTES_PER_KIB = 1024
PAGE_KIB = 4
PAGE_BYTES = 4096

_SIZE_RE = re.compile(r"^\s*(?P<num>[+-]?\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]*)\s*$")

#: unit suffix (lower case) -> bytes
_UNIT_BYTES: dict[str, int] = {
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "tib": 1024**4,
    "p": 1024**5,
    "pb": 1024**5,
    "pib": 1024**5,
    "e": 1024**6,
    "eb": 1024**6,
    "eib": 1024**6,
}

_EXPECTED = "expected a size such as 128MiB, 2GiB or 65536k"


def parse_size_bytes(
    text: str | int, *, field: str | None = None, default_unit: str | None = None, allow_zero: bool = False
) -> int:
    """Parse a size string into bytes.

    Parameters
    ----------
    text
        ``128MiB``, ``2G``, ``65536k`` ...; an ``int`` is taken in ``default_unit``.
    field
        Name of the option or key, for the error message.
    default_unit
        Unit of a bare number (``"MiB"``, ``"KiB"`` ...). ``None`` refuses bare numbers.
    allow_zero
        Accept a size of 0 (a reserve of ``0MiB``).

    Raises
    ------
    InputError
        For anything that is not a positive size with a known unit.
    """
    if isinstance(text, bool):
        raise InputError(f"{_EXPECTED}; found {text!r}", field=field)
    raw = str(text)
    m = _SIZE_RE.match(raw)
    if not m:
        raise InputError(f"{_EXPECTED}; found {raw!r}", field=field)
    unit = m.group("unit") or (default_unit or "")
    if not unit:
        raise InputError(f"{_EXPECTED} (a unit is required); found {raw!r}", field=field)
    factor = _UNIT_BYTES.get(unit.lower())
    if factor is None:
        raise InputError(f"{_EXPECTED}; found {raw!r} (unknown unit {unit!r})", field=field)
    value = float(m.group("num")) if "." in m.group("num") else int(m.group("num"))
    if value < 0 or (value == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "a positive size"
        raise InputError(f"expected {least} such as 64GiB or 128MiB; found {raw!r}", field=field)
    size_bytes = value * factor
    if size_bytes != int(size_bytes):
        raise InputError(f"expected a whole number of bytes; found {raw!r}", field=field)
    if size_bytes > 2**64:
        raise InputError(f"expected a size below 16EiB; found {raw!r}", field=field)
    return int(size_bytes)


def parse_size_kib(
    text: str | int, *, field: str | None = None, default_unit: str | None = None, allow_zero: bool = False
) -> int:
    """Parse a size string into whole KiB (see :func:`parse_size_bytes`)."""
    size_bytes = parse_size_bytes(text, field=field, default_unit=default_unit, allow_zero=allow_zero)
    if size_bytes % BYTES_PER_KIB:
        raise InputError(f"expected a whole number of KiB; found {text!r}", field=field)
    return size_bytes // BYTES_PER_KIB


#: The most memory accepted anywhere (a host, its nodes, a guest, ``predict --memory``): 4 PiB,
#: the x86-64 physical address limit (``MAX_PHYSMEM_BITS`` = 52,
#: arch/x86/include/asm/sparsemem.h @ v6.1). [KiB]
MAX_MEMORY_KIB = 4 * 1024 * KIB_PER_TIB


#: Most CPUs (or vCPUs) accepted anywhere: 8192, the largest ``NR_CPUS`` (``MAXSMP``,
#: arch/x86/Kconfig @ v6.1).
MAX_CPU_COUNT = 8192


def check_memory_kib(kib: int, *, found: str | None = None, field: str | None = None) -> int:
    """``kib`` when it is at most :data:`MAX_MEMORY_KIB`; else an error that shows ``found`` (the
    size as written; default: ``kib`` formatted).

    Raises
    ------
    InputError
        ``expected at most 4PiB (the x86-64 physical address limit); found 1EiB``.
    """
    if kib > MAX_MEMORY_KIB:
        raise InputError(
            f"expected at most 4PiB (the x86-64 physical address limit); found {found or format_kib(kib)}",
            field=field,
        )
    return kib


def parse_memory_kib(text: str, *, field: str | None = None) -> int:
    """A memory size (:func:`parse_size_kib`) of at most :data:`MAX_MEMORY_KIB` (``--memory``)."""
    return check_memory_kib(parse_size_kib(text, field=field), found=text.strip(), field=field)


def format_kib(kib: int | float) -> str:
    """Human-readable binary size: ``131072`` -> ``'128 MiB'``, ``1536`` -> ``'1.5 MiB'``."""
    value = float(kib)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit, scale in (
        ("EiB", KIB_PER_TIB * 1024 * 1024),
        ("PiB", KIB_PER_TIB * 1024),
        ("TiB", KIB_PER_TIB),
        ("GiB", KIB_PER_GIB),
        ("MiB", KIB_PER_MIB),
    ):
        if value >= scale:
            q = value / scale
            return f"{sign}{q:.0f} {unit}" if q == int(q) else f"{sign}{q:.1f} {unit}"
    return f"{sign}{value:.0f} KiB"


def size_label_kib(kib: int) -> str:
    """Compact label for a size, as used in file names: ``131072`` -> ``'128MiB'``."""
    for unit, scale in (("TiB", KIB_PER_TIB), ("GiB", KIB_PER_GIB), ("MiB", KIB_PER_MIB)):
        if kib % scale == 0:
            return f"{kib // scale}{unit}"
    return f"{kib}KiB"


def kib_to_mib(kib: float) -> float:
    """KiB -> MiB."""
    return kib / KIB_PER_MIB


def mib_to_kib(mib: float) -> int:
    """MiB -> KiB (rounded to whole KiB)."""
    return round(mib * KIB_PER_MIB)


def bytes_to_kib(size_bytes: int) -> float:
    """Bytes -> KiB."""
    return size_bytes / BYTES_PER_KIB


def pages_to_kib(pages: int) -> int:
    """4 KiB pages -> KiB."""
    return pages * PAGE_KIB


def kib_to_pages(kib: int) -> int:
    """KiB -> 4 KiB pages (rounded down)."""
    return kib // PAGE_KIB


def split_evenly(total: int, count: int) -> tuple[int, ...]:
    """``total`` over ``count`` parts that differ by at most one, the larger ones first
    (a host's memory over its NUMA nodes, an operator reserve over the nodes)."""
    base, extra = divmod(total, count)
    return tuple(base + (1 if k < extra else 0) for k in range(count))
