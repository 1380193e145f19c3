"""Parse a kernel log (dmesg or a serial-console capture) into a :class:`Dmesg` record.

Every line format read here is quoted, with the kernel source that prints it,
in ``reference/kernel-memory-facts.md`` (§1.1 hash tables, §2.1/§2.2 the
``Memory:`` line, §4 percpu/swiotlb/crashkernel) and, as printed by Debian 6.1
kernels under qemu, in ``reference/bootlab-debian-6.1.md`` §4 and §5.

Lines may carry a ``[    2.708992] `` timestamp (optional; s390x timestamps do
not start at 0), a ``<6>`` syslog level, CRLF endings and ANSI escapes; see
:mod:`planner.evidence._text`.

Truncated logs: a final line that has no newline may have been cut. The
``Memory:`` line proves its own completeness (it must end with ``)``); other
records whose last field is a bare number (percpu, ``Total pages``, a hash
table line without parentheses ...) are not read from such a cut line, so a
truncated log never yields a number with missing digits.

The jobs, one module each: this one splits the log into lines, strips their prefixes and makes
the :class:`Dmesg` record; :mod:`planner.evidence.dmesg_scan` gives each line to the record it
belongs to; :mod:`planner.evidence.dmesg_memory` parses the ``Memory:`` and hash-table lines;
:mod:`planner.evidence.dmesg_arch` derives the architecture.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from planner.errors import EvidenceError
from planner.evidence._text import split_lines
from planner.evidence.dmesg_arch import SUPPORTED_ARCHES, derive_arch, require_arch
from planner.evidence.dmesg_scan import Message, Scan, scan_lines
from planner.evidence.records import Dmesg, MemoryLine

__all__ = ["SUPPORTED_ARCHES", "parse_dmesg", "require_arch", "require_memory_line"]

#: ``<6>`` syslog level, ``[    2.708992]`` timestamp, ``[    T1]`` caller id (CONFIG_PRINTK_CALLER)
_PREFIX_RE = re.compile(r"^(?:<\d{1,3}>)?\[\s*(?P<ts>\d{1,10}\.\d{1,9})\](?:\[\s*[TC]\d+\])? ?")
_LEVEL_ONLY_RE = re.compile(r"^<\d{1,3}>")
#: a timestamp after other text: on a serial console the firmware's last line and the kernel's
#: first share a line (``Probing EDD (edd=off to disable)... o[    0.000000] Linux version ...``)
_EMBEDDED_TS_RE = re.compile(r"\[\s*(?P<ts>\d{1,10}\.\d{6})\](?:\[\s*[TC]\d+\])? ?")


def _strip_prefix(text: str) -> tuple[str, float | None]:
    m = _PREFIX_RE.match(text)
    if m:
        return text[m.end() :], float(m.group("ts"))
    m = _LEVEL_ONLY_RE.match(text)
    if m:
        return text[m.end() :], None
    e = _EMBEDDED_TS_RE.search(text)
    if e:
        return text[e.end() :], float(e.group("ts"))
    return text, None


def parse_dmesg(text: str, source: str = "<dmesg>", *, line_offset: int = 0) -> Dmesg:
    """Parse one boot's kernel log.

    Parameters
    ----------
    text
        The log: ``dmesg`` output, a ``==== dmesg`` section, or a serial-console
        capture of one boot.
    source
        File name or label used in error messages.
    line_offset
        Added to line numbers (when ``text`` is a section of a larger file).

    Returns
    -------
    Dmesg
        Every record found; fields the log does not contain are ``None`` or empty.
        ``arch`` comes from, in order: the release suffix in ``Linux version``
        (``-cloud-amd64`` -> ``x86_64``, ``-s390x`` -> ``s390x``), an architecture
        word in that line (``x86_64``, ``amd64``, ``s390x``), s390 ``setup:`` lines
        (``s390x``), and x86 firmware-map lines together with a ``DMA32`` zone
        (``x86_64``; DMA32 exists only on 64-bit x86). Otherwise ``None``.

    Raises
    ------
    EvidenceError
        Binary data; a truncated or malformed ``Memory:`` or hash-table line;
        two different ``Memory:`` lines or two ``Linux version`` lines (two boots
        in one log); an architecture other than x86_64 or s390x.
    """
    lines = split_lines(text, source, line_offset=line_offset)
    scan = Scan(source)
    messages = []
    for line in lines:
        msg, ts = _strip_prefix(line.text)
        messages.append(Message(line, msg, msg.strip(), ts))
    scan_lines(scan, messages)
    arch = derive_arch(
        scan.release,
        scan.linux_version,
        scan.s390_hint,
        scan.x86_hint and scan.dma32_hint,
        source,
        scan.version_line,
    )
    swiotlb_kib = 0 if scan.swiotlb_kib is None and scan.swiotlb_none else scan.swiotlb_kib
    return Dmesg(
        linux_version=scan.linux_version,
        release=scan.release,
        arch=arch,
        command_line=scan.kernel_cmdline if scan.kernel_cmdline is not None else scan.x86_cmdline,
        memory=scan.memory,
        hash_tables=tuple(scan.hash_tables),
        e820=tuple(scan.e820),
        node_ranges=tuple(scan.node_ranges),
        zones=tuple(scan.zones),
        total_pages=scan.total_pages,
        node_total_pages=tuple(scan.node_totalpages),
        node_data=tuple(scan.node_data),
        percpu=scan.percpu,
        nr_cpu_ids=scan.nr_cpu_ids,
        log_buf_len_bytes=scan.log_buf_len_bytes,
        swiotlb_kib=swiotlb_kib,
        crashkernel_kib=scan.crashkernel_kib,
        freed=tuple(scan.freed),
        max_memory_kib=scan.max_memory_kib,
        deferred_init=scan.deferred_init,
        run_init=scan.run_init,
        panic=scan.panic,
        oom=scan.oom,
        line_count=len(lines),
    )


def require_memory_line(dmesg: Dmesg, source: str) -> MemoryLine:
    """Return the ``Memory:`` line, or raise saying what is missing and what is still usable.

    Raises
    ------
    EvidenceError
        When the log has no ``Memory:`` line (a boot that stopped before
        ``mem_init()``, or an excerpt without it).
    """
    if dmesg.memory is not None:
        return dmesg.memory
    still: list[str] = []
    if dmesg.hash_tables:
        still.append("hash tables")
    if dmesg.e820:
        still.append("e820 ranges")
    if dmesg.node_ranges:
        still.append("node ranges")
    if dmesg.percpu is not None:
        still.append("the percpu chunk")
    if dmesg.total_pages is not None:
        still.append("total pages")
    if dmesg.freed:
        still.append("freed memory")
    if dmesg.max_memory_kib is not None:
        still.append("the maximum memory size")
    hint = " (the boot stopped before mem_init?)" if dmesg.line_count else " (the log is empty)"
    tail = f"; {_join(still)} can still be read" if still else ""
    raise EvidenceError(
        f"expected a 'Memory: AK/PK available (...)' line; found none{hint}{tail}",
        file=source,
        field="Memory",
    )


def _join(items: Iterable[str]) -> str:
    parts = list(items)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
