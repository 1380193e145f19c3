"""Load one boot's evidence from a console capture, a directory, or a bare dmesg file.

Inputs (:func:`load_evidence`):

(a) A serial-console capture made by the bootlab recipe
    (``reference/bootlab-debian-6.1.md`` §1.1): the live console (every boot
    message, with CRLF and SeaBIOS ANSI escapes), then
    ``######## PROBE-DUMP-BEGIN ########``, sections headed ``==== NAME``
    (``==== dmesg``, ``==== /proc/meminfo``, ``==== /proc/slabinfo``,
    ``==== /proc/zoneinfo``, ``==== uname -a``, ``==== /proc/cmdline``,
    ``==== /proc/sys/vm/min_free_kbytes``,
    ``==== /sys/kernel/mm/transparent_hugepage/enabled``,
    ``==== /proc/meminfo (again, end of dump)`` ...), and
    ``######## PROBE-DUMP-END ########``. Every boot message is in the capture
    twice (quirk §5.3), so the ``==== dmesg`` section is used when present and
    the live console text only when it is not (a boot that failed before the
    dump). Sections the planner does not read (vmstat, iomem ...) are listed in
    ``Evidence.sections`` and otherwise ignored.
(b) A directory holding any of the files ``dmesg``, ``meminfo``, ``slabinfo``
    (or ``slabtop``), ``zoneinfo``, ``size`` (also with a ``.txt`` or ``.log``
    suffix).
(c) A bare dmesg file (or a single file named ``meminfo``, ``slabinfo``,
    ``slabtop``, ``zoneinfo`` or ``size``).

Bootlab manifest hook: if a ``manifest.json`` sits beside the log (in the same
directory; for a directory input, beside that directory) and lists the log, its
``memory_kib``, ``vcpu_count``, ``machine`` and ``guest_ram_resident_kib`` (qemu's resident
guest RAM when the dump ended, see :mod:`planner.bootlab.resident`) are used. Accepted shapes::

    {"boots": [{"log": "128M-1cpu.log", "memory_kib": 131072, "vcpu_count": 1, "machine": "pc"}]}
    [{"log": "128M-1cpu.log", ...}]                      # a bare list
    {"128M-1cpu.log": {"memory_kib": 131072, ...}}       # keyed by file name

The entry's file key may be ``log``, ``file``, ``path`` or ``name``; it matches
the log's name or its path relative to the manifest. Values passed to
:func:`load_evidence` win over the manifest, which wins over
:func:`infer_memory_kib`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from planner.errors import EvidenceError
from planner.evidence._text import check_text, clean, decode_bytes, shorten
from planner.evidence.dmesg import parse_dmesg
from planner.evidence.meminfo import parse_meminfo
from planner.evidence.records import Dmesg, Evidence, Meminfo, Slabinfo, Zoneinfo
from planner.evidence.size import parse_size
from planner.evidence.slabinfo import parse_slabinfo, parse_slabtop
from planner.evidence.zoneinfo import parse_zoneinfo
from planner.units import BYTES_PER_KIB, KIB_PER_MIB

__all__ = [
    "DUMP_BEGIN",
    "DUMP_END",
    "MANIFEST_NAME",
    "infer_memory_kib",
    "load_evidence",
    "parse_bundle_text",
]

DUMP_BEGIN = "######## PROBE-DUMP-BEGIN ########"
DUMP_END = "######## PROBE-DUMP-END ########"
SECTION_PREFIX = "==== "
MANIFEST_NAME = "manifest.json"

#: qemu ``pc`` (i440fx + SeaBIOS) RAM that is not present to the kernel: of the first MiB only
#: pages 0x1000-0x9efff (158 pages, 632 KiB) are present (392 KiB lost to page 0, the EBDA at
#: 0x9fc00 and the 0xa0000-0xfffff hole), plus the 128 KiB e820-reserved at the top of low RAM.
#: ``Memory: A/B`` has B = RAM - 520 KiB on every x86 boot of ``reference/bootlab-debian-6.1.md``
#: §3.1 and of tests/data/bootlab. [KiB]
QEMU_PC_HOLES_KIB = 520
#: RAM below this address is "low" RAM in the e820 rule (qemu ``pc`` keeps all RAM below 3.5 GiB
#: when it fits, else splits at 3 GiB; q35 at 2 GiB; PCs end low RAM below it). [bytes]
_LOW_RAM_LIMIT_BYTES = 0xE000_0000
_FOUR_GIB_BYTES = 1 << 32
_MIB_BYTES = KIB_PER_MIB * BYTES_PER_KIB

_DIR_FILES = ("dmesg", "meminfo", "slabinfo", "slabtop", "zoneinfo", "size")
_DIR_SUFFIXES = ("", ".txt", ".log")
_MEM_OPTION_RE = re.compile(r"(?:^|\s)mem=\S")
_THP_RE = re.compile(r"\[(?P<mode>[a-z_]+)\]")
_CPU_RANGE_RE = re.compile(r"^(?P<first>\d{1,6})(?:-(?P<last>\d{1,6}))?$")
_MISSING_FILE_RE = re.compile(r"No such file|can't open|cannot open|not found", re.IGNORECASE)


@dataclass(frozen=True)
class _Section:
    name: str
    text: str
    line_offset: int  # 0-based index of the section's first content line in the file


def _split_capture(text: str) -> tuple[str, list[_Section]]:
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
    sections: list[_Section] = []
    for k, h in enumerate(headers):
        stop = headers[k + 1] if k + 1 < len(headers) else end
        body_end = stop
        while body_end > h + 1 and not cleaned[body_end - 1]:
            body_end -= 1  # ``sec()`` echoes an empty line before each header
        body = "\n".join(raw[h + 1 : body_end])
        if body_end > h + 1 and (body_end < len(raw) or terminated):
            body += "\n"
        name = cleaned[h][len(SECTION_PREFIX) :].strip()
        sections.append(_Section(name=name, text=body, line_offset=h + 1))
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


def _first_value(section: _Section) -> tuple[str, int, bool] | None:
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


def _parse_min_free(section: _Section, source: str) -> int | None:
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


def _parse_thp(section: _Section, source: str) -> str | None:
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


def _parse_cpu_list(section: _Section, source: str) -> int | None:
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


def _parse_slab(text: str, source: str, line_offset: int = 0) -> Slabinfo:
    if "slabinfo - version" in text:
        return parse_slabinfo(text, source, line_offset=line_offset)
    return parse_slabtop(text, source, line_offset=line_offset)


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
    by_key: dict[str, _Section] = {}
    for section in sections:
        by_key.setdefault(_section_key(section.name), section)

    dmesg: Dmesg | None = None
    if "dmesg" in by_key:
        s = by_key["dmesg"]
        dmesg = parse_dmesg(s.text, source, line_offset=s.line_offset)
    elif live_text.strip():
        dmesg = parse_dmesg(live_text, source)
        if not sections and not _has_kernel_lines(dmesg):
            last = next((c for c in reversed([clean(r)[0].strip() for r in live_text.split("\n")]) if c), "")
            raise EvidenceError(
                "expected a kernel log (dmesg or a console capture); found "
                f"{dmesg.line_count} line{'s' if dmesg.line_count != 1 else ''} and none the planner reads "
                "('Linux version', 'Memory:', '... hash table entries:', 'BIOS-e820:' ...), the last being "
                f"{shorten(last, 60)} (a guest that reset before the kernel printed anything?)",
                file=source,
            )

    def parsed_meminfo(key: str) -> Meminfo | None:
        s = by_key.get(key)
        return parse_meminfo(s.text, source, line_offset=s.line_offset) if s is not None else None

    slab: Slabinfo | None = None
    for key in ("slabinfo", "slabtop"):
        if key in by_key and slab is None:
            s = by_key[key]
            slab = _parse_slab(s.text, source, s.line_offset)
    zoneinfo: Zoneinfo | None = None
    if "zoneinfo" in by_key:
        s = by_key["zoneinfo"]
        zoneinfo = parse_zoneinfo(s.text, source, line_offset=s.line_offset)
    size = None
    if "size" in by_key:
        s = by_key["size"]
        size = parse_size(s.text, source, line_offset=s.line_offset)
    online = _parse_cpu_list(by_key["online"], source) if "online" in by_key else None
    possible = _parse_cpu_list(by_key["possible"], source) if "possible" in by_key else None
    uname = _first_value(by_key["uname"]) if "uname" in by_key else None
    cmdline = _first_value(by_key["cmdline"]) if "cmdline" in by_key else None

    evidence = Evidence(
        source=source,
        sha256=digest,
        dmesg=dmesg,
        meminfo=parsed_meminfo("meminfo"),
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
        meminfo_end=parsed_meminfo("meminfo_end"),
    )
    if evidence.memory_kib is None:
        evidence = replace(evidence, memory_kib=infer_memory_kib(evidence))
    return evidence


def infer_memory_kib(evidence: Evidence) -> int | None:
    """The configured RAM (qemu ``-m``) of a boot, from its log. [KiB]

    Rules, first that applies:

    1. **s390x**: ``setup: The maximum memory size is 128MB`` (the s390 machine
       has no firmware holes; ``Memory: A/B`` has B = RAM exactly,
       ``reference/bootlab-debian-6.1.md`` §3.1).
    2. **x86 on qemu ``pc``** (``evidence.machine`` is ``pc`` or ``pc-i440fx-*``),
       with a ``Memory:`` line and no ``mem=`` on the command line:
       physpages (B) + 520 KiB of firmware holes, rounded up to a whole MiB
       (B = RAM - 520 KiB on every bootlab x86 boot, §3.1).
    3. **x86 with e820 lines** (any machine, also ``mem=`` boots, whose
       ``BIOS-e820`` map still shows all RAM): the end of the highest e820
       range below 3.5 GiB plus every ``usable`` range at or above 4 GiB,
       rounded up to a whole MiB. On the seed's PC this gives 1024 MiB (the
       8 MiB frame buffer is an e820 ``reserved`` range inside RAM).
    4. Otherwise ``None``.
    """
    dmesg = evidence.dmesg
    if dmesg is None:
        return None
    if dmesg.max_memory_kib is not None and dmesg.arch in (None, "s390x"):
        return dmesg.max_memory_kib
    machine = (evidence.machine or "").lower()
    cmdline = evidence.cmdline or dmesg.command_line or ""
    is_pc = machine == "pc" or machine.startswith("pc-i440fx") or machine.startswith("pc-")
    if is_pc and dmesg.memory is not None and dmesg.arch != "s390x" and not _MEM_OPTION_RE.search(cmdline):
        physical_kib = dmesg.memory.physical_kib + QEMU_PC_HOLES_KIB
        return -(-physical_kib // KIB_PER_MIB) * KIB_PER_MIB
    if dmesg.e820:
        low_end = max((r.end for r in dmesg.e820 if r.end <= _LOW_RAM_LIMIT_BYTES), default=0)
        high = sum(r.size_bytes for r in dmesg.e820 if r.start >= _FOUR_GIB_BYTES and r.kind == "usable")
        total_bytes = low_end + high
        if total_bytes <= 0:
            return None
        return -(-total_bytes // _MIB_BYTES) * KIB_PER_MIB
    return None


# --- files -----------------------------------------------------------------------------------------
def _read_text(path: Path) -> tuple[bytes, str]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise EvidenceError(f"expected a readable file; found {err.strerror or err}", file=path) from None
    return raw, decode_bytes(raw, str(path))


def _manifest_entry(path: Path) -> dict[str, Any] | None:
    """The bootlab manifest entry for ``path`` (see the module docstring), if any."""
    manifest = path.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise EvidenceError(f"expected a readable JSON manifest; found {err}", file=manifest) from None
    except json.JSONDecodeError as err:
        raise EvidenceError(f"expected JSON; found {err.msg}", file=manifest, line=err.lineno) from None
    entries: list[tuple[str | None, Any]] = []
    if isinstance(data, dict) and any(isinstance(data.get(k), list) for k in ("boots", "logs", "runs")):
        for k in ("boots", "logs", "runs"):
            if isinstance(data.get(k), list):
                entries.extend((None, e) for e in data[k])
    elif isinstance(data, list):
        entries.extend((None, e) for e in data)
    elif isinstance(data, dict):
        entries.extend((str(k), v) for k, v in data.items())
    names = {path.name, path.as_posix()}
    for key, entry in entries:
        if not isinstance(entry, dict):
            continue
        listed = key
        for file_key in ("log", "file", "path", "name"):
            if listed is None and isinstance(entry.get(file_key), str):
                listed = entry[file_key]
        if listed is None:
            continue
        listed_path = Path(listed)
        same_file = listed_path.name == path.name and (
            len(listed_path.parts) == 1 or (manifest.parent / listed_path).resolve() == path.resolve()
        )
        if listed in names or same_file:
            return _check_manifest_entry(entry, manifest)
    return None


def _check_manifest_entry(entry: dict[str, Any], manifest: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("memory_kib", "vcpu_count"):
        value = entry.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise EvidenceError(f"expected a positive integer; found {value!r}", file=manifest, field=key)
        out[key] = value
    resident = entry.get("guest_ram_resident_kib")
    if resident is not None:
        if not isinstance(resident, int) or isinstance(resident, bool) or resident < 0:
            raise EvidenceError(
                f"expected a whole number of KiB; found {resident!r}",
                file=manifest,
                field="guest_ram_resident_kib",
            )
        out["guest_ram_resident_kib"] = resident
    machine = entry.get("machine")
    if machine is not None:
        if not isinstance(machine, str) or not machine:
            raise EvidenceError(
                f"expected a machine type such as 'pc'; found {machine!r}", file=manifest, field="machine"
            )
        out["machine"] = machine
    return out


def _dir_file(directory: Path, name: str) -> Path | None:
    for suffix in _DIR_SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _load_directory(directory: Path) -> Evidence:
    found = {name: p for name in _DIR_FILES if (p := _dir_file(directory, name)) is not None}
    if not found:
        raise EvidenceError(
            f"expected files named {', '.join(_DIR_FILES)} in the directory; found none", file=directory
        )
    digest = hashlib.sha256()
    texts: dict[str, tuple[str, str]] = {}
    for name in sorted(found):
        raw, text = _read_text(found[name])
        # the digest covers each file's name, length and bytes, in name order
        digest.update(f"{name}\0{len(raw)}\0".encode())
        digest.update(raw)
        texts[name] = (text, str(found[name]))
    dmesg = parse_dmesg(*texts["dmesg"]) if "dmesg" in texts else None
    meminfo = parse_meminfo(*texts["meminfo"]) if "meminfo" in texts else None
    slab: Slabinfo | None = None
    for name in ("slabinfo", "slabtop"):
        if name in texts and slab is None:
            slab = _parse_slab(*texts[name])
    zoneinfo = parse_zoneinfo(*texts["zoneinfo"]) if "zoneinfo" in texts else None
    size = parse_size(*texts["size"]) if "size" in texts else None
    return Evidence(
        source=str(directory),
        sha256=digest.hexdigest(),
        dmesg=dmesg,
        meminfo=meminfo,
        slabinfo=slab,
        zoneinfo=zoneinfo,
        size=size,
    )


def _load_single(path: Path, raw: bytes, text: str) -> Evidence:
    source = str(path)
    digest = hashlib.sha256(raw).hexdigest()
    kind = path.name.split(".")[0]
    if kind == "meminfo":
        return Evidence(source=source, sha256=digest, meminfo=parse_meminfo(text, source))
    if kind in ("slabinfo", "slabtop"):
        return Evidence(source=source, sha256=digest, slabinfo=_parse_slab(text, source))
    if kind == "zoneinfo":
        return Evidence(source=source, sha256=digest, zoneinfo=parse_zoneinfo(text, source))
    if kind == "size":
        return Evidence(source=source, sha256=digest, size=parse_size(text, source))
    if not text.strip():
        raise EvidenceError("expected a kernel log; found an empty file", file=source)
    return parse_bundle_text(text, source, sha256=digest)


def load_evidence(
    path: str | Path,
    *,
    memory_kib: int | None = None,
    vcpu_count: int | None = None,
    machine: str | None = None,
) -> Evidence:
    """Load one boot's evidence from a console capture, a directory or a bare dmesg file.

    Parameters
    ----------
    path
        See the module docstring for the accepted inputs.
    memory_kib
        Configured RAM (qemu ``-m``). [KiB] Overrides the manifest and inference.
    vcpu_count
        Online vCPUs. Overrides the manifest, which overrides the dump's
        ``/sys/devices/system/cpu/online``.
    machine
        qemu machine type (``pc``, ``q35``, ``s390-ccw-virtio``). Overrides the manifest.

    Returns
    -------
    Evidence
        With ``sha256`` of the raw bytes read (for a directory: of each file's
        name, length and bytes, in name order).

    Raises
    ------
    EvidenceError
        Unreadable or binary input, a bad manifest, or any parser's error.
    """
    p = Path(path)
    if p.is_dir():
        evidence = _load_directory(p)
    elif p.is_file():
        raw, text = _read_text(p)
        evidence = _load_single(p, raw, text)
    else:
        raise EvidenceError(
            "expected a log file or a directory of evidence files; found nothing there", file=p
        )
    facts = _manifest_entry(p) or {}
    evidence = replace(
        evidence,
        memory_kib=memory_kib if memory_kib is not None else facts.get("memory_kib"),
        vcpu_count=vcpu_count if vcpu_count is not None else facts.get("vcpu_count", evidence.vcpu_count),
        machine=machine if machine is not None else facts.get("machine"),
        guest_ram_resident_kib=facts.get("guest_ram_resident_kib"),
    )
    if evidence.memory_kib is None:
        evidence = replace(evidence, memory_kib=infer_memory_kib(evidence))
    return evidence
