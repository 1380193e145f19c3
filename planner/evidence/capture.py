"""A serial-console capture: the live console text, then the ``==== NAME`` sections of the dump.

The bootlab recipe (``reference/bootlab-debian-6.1.md`` §1.1) prints the live console (every
boot message, with CRLF and SeaBIOS ANSI escapes), then ``######## PROBE-DUMP-BEGIN ########``,
sections headed ``==== NAME`` (``==== dmesg``, ``==== /proc/meminfo``, ``==== /proc/slabinfo``,
``==== /proc/zoneinfo``, ``==== uname -a``, ``==== /proc/cmdline``,
``==== /proc/sys/vm/min_free_kbytes``, ``==== /sys/kernel/mm/transparent_hugepage/enabled``,
``==== /sys/devices/system/cpu/online``, ``==== /proc/meminfo (again, end of dump)`` ...), and
``######## PROBE-DUMP-END ########``. Every boot message is in the capture twice (quirk §5.3),
so the ``==== dmesg`` section is used when present and the live console text only when it is
not (a boot that failed before the dump). Sections the planner does not read (vmstat, iomem
...) are listed in ``Evidence.sections`` and otherwise ignored. :func:`parse_bundle_text` reads
one capture (or a bare dmesg) into an :class:`~planner.evidence.records.Evidence`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from planner.errors import EvidenceError
from planner.evidence._text import check_text, clean, shorten
from planner.evidence.configured_ram import infer_memory_kib
from planner.evidence.dmesg import parse_dmesg
from planner.evidence.meminfo import parse_meminfo
from planner.evidence.records import Dmesg, Evidence, Slabinfo
from planner.evidence.size import parse_size
from planner.evidence.slabinfo import parse_slab_text
from planner.evidence.zoneinfo import parse_zoneinfo

__all__ = ["DUMP_BEGIN", "DUMP_END", "parse_bundle_text"]

DUMP_BEGIN = "######## PROBE-DUMP-BEGIN ########"
DUMP_END = "######## PROBE-DUMP-END ########"
SECTION_PREFIX = "==== "
_THP_RE = re.compile(r"\[(?P<mode>[a-z_]+)\]")
_CPU_RANGE_RE = re.compile(r"^(?P<first>\d{1,6})(?:-(?P<last>\d{1,6}))?$")
_MISSING_FILE_RE = re.compile(r"No such file|can't open|cannot open|not found", re.IGNORECASE)
_Record = TypeVar("_Record")


@dataclass(frozen=True)
class Section:
    name: str
    text: str
    line_offset: int  # 0-based index of the section's first content line in the file


def _split_capture(text: str) -> tuple[str, list[Section]]:
    """Return (live console text, ``==== `` sections of the dump); the live text starts at line 1."""
    raw = text.split("\n")
    terminated = text.endswith("\n")
    if terminated:
        raw.pop()
    cleaned = [clean(r)[0].strip() for r in raw]
    begin = next((i for i, c in enumerate(cleaned) if c == DUMP_BEGIN), None)
    search_from = begin + 1 if begin is not None else 0
    end = next((i for i in range(search_from, len(cleaned)) if cleaned[i] == DUMP_END), len(cleaned))
    headers = [i for i in range(search_from, end) if cleaned[i].startswith(SECTION_PREFIX)]
    live_end = begin if begin is not None else (headers[0] if headers else len(raw))
    live_text = "\n".join(raw[:live_end])
    if live_end < len(raw) or terminated:
        live_text += "\n"
    sections: list[Section] = []
    for k, h in enumerate(headers):
        stop = headers[k + 1] if k + 1 < len(headers) else end
        body_end = stop
        while body_end > h + 1 and not cleaned[body_end - 1]:
            body_end -= 1  # ``sec()`` echoes an empty line before each header
        body = "\n".join(raw[h + 1 : body_end])
        if body_end > h + 1 and (body_end < len(raw) or terminated):
            body += "\n"
        name = cleaned[h][len(SECTION_PREFIX) :].strip()
        sections.append(Section(name=name, text=body, line_offset=h + 1))
    return live_text, sections


def _section_key(name: str) -> str:
    """``/proc/meminfo`` -> ``meminfo``; ``uname -a`` -> ``uname``; the second meminfo -> ``meminfo_end``."""
    first = name.split()[0] if name.split() else ""
    key = first.rsplit("/", 1)[-1]
    if key == "meminfo" and "again" in name:
        return "meminfo_end"
    if first.endswith("transparent_hugepage/enabled"):
        return "thp"
    return key


def _first_value(section: Section) -> tuple[str, int, bool] | None:
    """The first non-empty cleaned line of a section: (text, line number, complete?)."""
    lines = section.text.split("\n")
    terminated = section.text.endswith("\n")
    if terminated:
        lines.pop()
    for i, raw in enumerate(lines):
        value = clean(raw)[0].strip()
        if value:
            return value, section.line_offset + i + 1, terminated or i != len(lines) - 1
    return None


def _parse_min_free(section: Section, source: str) -> int | None:
    found = _first_value(section)
    if found is None:
        return None
    value, line, complete = found
    if not value.isdigit():
        raise EvidenceError(
            f"expected an integer (kB); found {shorten(value)}",
            file=source,
            line=line,
            field="min_free_kbytes",
        )
    return int(value) if complete else None


def _parse_thp(section: Section, source: str) -> str | None:
    found = _first_value(section)
    if found is None:
        return None
    value, line, _ = found
    modes = _THP_RE.findall(value)
    if len(modes) == 1:
        return str(modes[0])
    if _MISSING_FILE_RE.search(value):
        return None  # s390x under TCG has no THP and no such file (bootlab quirk §5.8)
    raise EvidenceError(
        f"expected a value such as 'always [madvise] never'; found {shorten(value)}",
        file=source,
        line=line,
        field="transparent_hugepage",
    )


def _parse_cpu_list(section: Section, source: str) -> int | None:
    """Count the CPUs of a ``/sys/devices/system/cpu/online`` list such as ``0-3,5``."""
    found = _first_value(section)
    if found is None:
        return None
    value, line, complete = found
    if not complete:
        return None  # a cut final line may have lost digits
    count = 0
    for part in value.split(","):
        m = _CPU_RANGE_RE.match(part)
        if not m:
            raise EvidenceError(
                f"expected a CPU list such as '0-3,5'; found {shorten(value)}",
                file=source,
                line=line,
                field="cpus",
            )
        first, last = int(m.group("first")), int(m.group("last") or m.group("first"))
        if last < first:
            raise EvidenceError(
                f"expected a CPU list such as '0-3,5'; found {shorten(value)}",
                file=source,
                line=line,
                field="cpus",
            )
        count += last - first + 1
    return count


def _has_kernel_lines(dmesg: Dmesg) -> bool:
    return any(
        (
            dmesg.linux_version,
            dmesg.memory,
            dmesg.hash_tables,
            dmesg.e820,
            dmesg.node_ranges,
            dmesg.zones,
            dmesg.total_pages is not None,
            dmesg.percpu,
            dmesg.freed,
            dmesg.max_memory_kib is not None,
            dmesg.command_line is not None,
            dmesg.panic is not None,
        )
    )


def parse_bundle_text(
    text: str,
    source: str = "<bundle>",
    *,
    sha256: str | None = None,
    memory_kib: int | None = None,
    vcpu_count: int | None = None,
    machine: str | None = None,
) -> Evidence:
    """Parse a console capture (live console + ``==== NAME`` dump sections) or a bare dmesg.

    Parameters
    ----------
    text
        The whole capture.
    source
        File name or label used in errors and ``Evidence.source``.
    sha256
        Digest of the raw bytes, when the caller read them; defaults to the
        sha256 of ``text`` encoded as UTF-8.
    memory_kib, vcpu_count, machine
        Known facts about the boot (qemu ``-m``, ``-smp``, ``-machine``). When
        ``memory_kib`` is ``None`` it is inferred by :func:`infer_memory_kib`;
        when ``vcpu_count`` is ``None`` it is the number of CPUs in the dump's
        ``==== /sys/devices/system/cpu/online`` section, if any.

    Raises
    ------
    EvidenceError
        From any section's parser, located at the line of the file.
    """
    check_text(text, source)
    digest = (
        sha256 if sha256 is not None else hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    )
    live_text, sections = _split_capture(text)
    by_key: dict[str, Section] = {}
    for section in sections:
        by_key.setdefault(_section_key(section.name), section)
    dmesg = _capture_dmesg(by_key.get("dmesg"), live_text, bool(sections), source)
    slab: Slabinfo | None = None
    for key in ("slabinfo", "slabtop"):
        if key in by_key and slab is None:
            s = by_key[key]
            slab = parse_slab_text(s.text, source, s.line_offset)
    zoneinfo = _parsed(by_key.get("zoneinfo"), parse_zoneinfo, source)
    size = _parsed(by_key.get("size"), parse_size, source)
    online = _parse_cpu_list(by_key["online"], source) if "online" in by_key else None
    possible = _parse_cpu_list(by_key["possible"], source) if "possible" in by_key else None
    uname = _first_value(by_key["uname"]) if "uname" in by_key else None
    cmdline = _first_value(by_key["cmdline"]) if "cmdline" in by_key else None
    evidence = Evidence(
        source=source,
        sha256=digest,
        dmesg=dmesg,
        meminfo=_parsed(by_key.get("meminfo"), parse_meminfo, source),
        slabinfo=slab,
        zoneinfo=zoneinfo,
        size=size,
        uname=uname[0] if uname else None,
        cmdline=cmdline[0] if cmdline else None,
        min_free_kbytes=_parse_min_free(by_key["min_free_kbytes"], source)
        if "min_free_kbytes" in by_key
        else None,
        thp_mode=_parse_thp(by_key["thp"], source) if "thp" in by_key else None,
        memory_kib=memory_kib,
        vcpu_count=vcpu_count if vcpu_count is not None else online,
        machine=machine,
        sections=tuple(s.name for s in sections),
        possible_cpu_count=possible,
        meminfo_end=_parsed(by_key.get("meminfo_end"), parse_meminfo, source),
    )
    if evidence.memory_kib is None:
        evidence = replace(evidence, memory_kib=infer_memory_kib(evidence))
    return evidence


def _parsed(section: Section | None, parse: Callable[..., _Record], source: str) -> _Record | None:
    """A section read by its parser (``parse_meminfo``, ``parse_zoneinfo`` ...), at its line in
    the file; None when the capture has no such section."""
    return parse(section.text, source, line_offset=section.line_offset) if section is not None else None


def _capture_dmesg(section: Section | None, live_text: str, dumped: bool, source: str) -> Dmesg | None:
    """The boot's kernel log: the ``==== dmesg`` section, else the live console text; a text with
    no dump and none of the lines the planner reads is not a kernel log."""
    if section is not None:
        return parse_dmesg(section.text, source, line_offset=section.line_offset)
    if not live_text.strip():
        return None
    dmesg = parse_dmesg(live_text, source)
    if not dumped and not _has_kernel_lines(dmesg):
        last = next((c for c in reversed([clean(r)[0].strip() for r in live_text.split("\n")]) if c), "")
        raise EvidenceError(
            "expected a kernel log (dmesg or a console capture); found "
            f"{dmesg.line_count} line{'s' if dmesg.line_count != 1 else ''} and none the planner reads "
            "('Linux version', 'Memory:', '... hash table entries:', 'BIOS-e820:' ...), the last being "
            f"{shorten(last, 60)} (a guest that reset before the kernel printed anything?)",
            file=source,
        )
    return dmesg
