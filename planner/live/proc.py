"""Pure parsers of a qemu process's memory under /proc, and of libvirt's balloon statistics.

References: Linux ``Documentation/filesystems/proc.rst`` @ v6.1, "smaps_rollup" and
"/proc/<pid>/smaps" (per-mapping ``Size``, ``Rss``, ``Pss`` in kB), ``VmPTE`` and
``RssFile`` (resident file mappings) in ``/proc/<pid>/status``;
``reference/libvirt-recipes.md`` §3 (balloon statistics and the overhead measurement from smaps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.live.records import BalloonStats, ProcessMemory


def balloon_from_stats(stats: Mapping[str, Any], prefix: str = "balloon.") -> BalloonStats | None:
    """Balloon statistics from a ``getAllDomainStats`` record (``balloon.*`` keys) or, with
    ``prefix=""``, from ``memoryStats()`` (whose balloon size is ``actual``)."""

    def get(key: str) -> int | None:
        value = stats.get(prefix + key)
        return int(value) if value is not None else None

    current = get("current") if prefix else get("actual")
    if current is None:
        return None
    return BalloonStats(
        current_kib=current,
        maximum_kib=get("maximum"),
        available_kib=get("available"),
        usable_kib=get("usable"),
        unused_kib=get("unused"),
        disk_caches_kib=get("disk_caches"),
        rss_kib=get("rss"),
        last_update_s=get("last-update") if prefix else get("last_update"),
    )


_SMAPS_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")
_SMAPS_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")


def parse_smaps_rollup(text: str) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` -> field -> KiB (``Rss``, ``Pss``, ``Anonymous`` ...) [3]."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _SMAPS_FIELD.match(line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


@dataclass(frozen=True)
class SmapsMapping:
    """One ``/proc/PID/smaps`` entry (the fields the overhead measurement needs). [KiB]"""

    perms: str
    path: str
    size_kib: int
    rss_kib: int
    pss_kib: int


def parse_smaps(text: str) -> list[SmapsMapping]:
    """``/proc/PID/smaps`` -> its mappings with Size, Rss and Pss [3]."""
    out: list[SmapsMapping] = []
    head: tuple[str, str] | None = None
    values: dict[str, int] = {}

    def flush() -> None:
        if head is not None:
            out.append(
                SmapsMapping(
                    perms=head[0],
                    path=head[1],
                    size_kib=values.get("Size", 0),
                    rss_kib=values.get("Rss", 0),
                    pss_kib=values.get("Pss", 0),
                )
            )

    for line in text.splitlines():
        m = _SMAPS_HEADER.match(line)
        if m:
            flush()
            head, values = (m.group(3), m.group(4).strip()), {}
            continue
        f = _SMAPS_FIELD.match(line.strip())
        if f and f.group(1) in ("Size", "Rss", "Pss"):
            values[f.group(1)] = int(f.group(2))
    flush()
    return out


def guest_ram_mappings(
    mappings: Iterable[SmapsMapping], sizes_kib: Iterable[int]
) -> list[SmapsMapping] | None:
    """The mappings that hold guest RAM: for each expected size, the writable, not
    executable mapping of exactly that size with the most resident memory [1] §3.

    qemu maps each RAM backend (``pc.ram``, or one per guest NUMA cell) as one
    anonymous, memfd or hugetlbfs mapping of the backend's size; the TCG
    translation cache is the one large ``rwx`` mapping and is left out.
    Returns ``None`` when some size has no candidate.
    """
    candidates = [m for m in mappings if m.perms[1] == "w" and m.perms[2] != "x"]
    chosen: list[SmapsMapping] = []
    for size in sizes_kib:
        fits = [m for m in candidates if m.size_kib == size and m not in chosen]
        if not fits:
            return None
        chosen.append(max(fits, key=lambda m: m.rss_kib))
    return chosen


def process_memory(pid: int, guest_ram_sizes_kib: Iterable[int], proc: Path = Path("/proc")) -> ProcessMemory:
    """Measure one qemu process from ``/proc/PID/{smaps_rollup,smaps,status}`` [3].

    Raises
    ------
    OSError
        When the process is gone or not readable (``PermissionError``).
    LookupError
        When no mapping matches the guest RAM size.
    """
    base = proc / str(pid)
    rollup = parse_smaps_rollup((base / "smaps_rollup").read_text())
    ram = guest_ram_mappings(parse_smaps((base / "smaps").read_text()), guest_ram_sizes_kib)
    if ram is None:
        raise LookupError("no mapping of the guest RAM's size in smaps")
    status = {}
    for line in (base / "status").read_text().splitlines():
        if line.startswith(("VmPTE:", "RssFile:")):
            status[line.split(":")[0]] = int(line.split()[1])
    return ProcessMemory(
        pid=pid,
        rss_kib=rollup.get("Rss", 0),
        pss_kib=rollup.get("Pss", 0),
        guest_ram_rss_kib=sum(m.rss_kib for m in ram),
        guest_ram_pss_kib=sum(m.pss_kib for m in ram),
        page_tables_kib=status.get("VmPTE", 0),
        guest_ram_mappings=len(ram),
        file_rss_kib=status.get("RssFile", 0),
    )


def qemu_pids_by_uuid(proc: Path = Path("/proc")) -> dict[str, int]:
    """Domain UUID -> pid of every local process started with ``-uuid UUID`` (qemu's
    command line as libvirt builds it); works for the system and the session daemon."""
    out: dict[str, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-uuid" not in argv or b"qemu" not in argv[0]:
            continue
        i = argv.index(b"-uuid")
        if i + 1 < len(argv):
            out[argv[i + 1].decode(errors="replace").lower()] = int(entry.name)
    return out
