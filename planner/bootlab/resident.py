"""What a running qemu holds in host memory: its guest RAM and its whole process.

Read from ``/proc/<pid>/smaps`` and ``/proc/<pid>/status`` (Linux ``fs/proc/task_mmu.c``,
``fs/proc/array.c``). Guest RAM is the anonymous mapping (``pc.ram``, ``s390.ram`` or one
``memory-backend-ram`` per NUMA node) whose size is the RAM size: qemu 7.2
``util/mmap-alloc.c qemu_ram_mmap()`` maps exactly that size, followed by a PROT_NONE guard
page that keeps it a VMA of its own. Under TCG nothing else is in those mappings, so their
``Rss`` is the guest RAM the guest has touched (``reference/libvirt-recipes.md`` "Host-side
overhead of the qemu process": 112-124 MiB for Debian 6.1 cloud guests of 128-512 MiB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HEADER_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ")
_FIELD_RE = re.compile(r"^(\w+):\s+(\d+) kB$")


@dataclass(frozen=True)
class Residency:
    """A qemu process's memory at one instant. [KiB]

    Attributes
    ----------
    guest_ram_resident_kib
        ``Rss`` of the guest-RAM mappings (summed over NUMA nodes).
    guest_ram_mappings
        How many guest-RAM mappings were found (one per node; 0: none matched).
    rss_kib
        ``VmRSS`` of the whole process.
    peak_rss_kib
        ``VmHWM``: the process's peak resident set so far.
    file_rss_kib
        ``RssFile``: its resident file mappings (qemu's binary and libraries, shared in the
        page cache with every other qemu: charged once, to the cgroup that read them first).
    """

    guest_ram_resident_kib: int
    guest_ram_mappings: int
    rss_kib: int
    peak_rss_kib: int
    file_rss_kib: int = 0


def guest_ram_rss_kib(smaps_text: str, ram_sizes_kib: tuple[int, ...]) -> tuple[int, int]:
    """``(Rss summed, mappings matched)`` of the mappings whose size is one of ``ram_sizes_kib``.

    Each expected size is matched at most once per occurrence in ``ram_sizes_kib`` (8 nodes of
    8 GiB match 8 mappings), taking the mappings in address order.
    """
    wanted: dict[int, int] = {}
    for size in ram_sizes_kib:
        wanted[size] = wanted.get(size, 0) + 1
    total = matched = 0
    size_kib: int | None = None
    for line in smaps_text.splitlines():
        if _HEADER_RE.match(line):
            size_kib = None
            continue
        m = _FIELD_RE.match(line)
        if m is None:
            continue
        name, value = m.group(1), int(m.group(2))
        if name == "Size":
            size_kib = value
        elif name == "Rss" and size_kib is not None and wanted.get(size_kib, 0) > 0:
            wanted[size_kib] -= 1
            total += value
            matched += 1
    return total, matched


def status_kib(status_text: str, field: str) -> int:
    """A ``VmXXX:  N kB`` field of ``/proc/<pid>/status``; 0 if absent (a zombie has none)."""
    m = re.search(rf"^{field}:\s+(\d+) kB$", status_text, re.MULTILINE)
    return int(m.group(1)) if m else 0


def read_residency(pid: int, ram_sizes_kib: tuple[int, ...], proc: Path = Path("/proc")) -> Residency | None:
    """The :class:`Residency` of process ``pid``; ``None`` if it is gone or unreadable.

    A process that has already exited (a zombie: the guest powered off before the console
    copy reached the dump's end) has no memory fields left: ``None`` too.
    """
    try:
        smaps = (proc / str(pid) / "smaps").read_text()
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    if status_kib(status, "VmHWM") == 0:
        return None
    ram_kib, mappings = guest_ram_rss_kib(smaps, ram_sizes_kib)
    return Residency(
        guest_ram_resident_kib=ram_kib,
        guest_ram_mappings=mappings,
        rss_kib=status_kib(status, "VmRSS"),
        peak_rss_kib=status_kib(status, "VmHWM"),
        file_rss_kib=status_kib(status, "RssFile"),
    )
