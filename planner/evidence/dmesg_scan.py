"""One pass over a kernel log's lines: each line to the record it belongs to.

:class:`Scan` holds what has been read so far; :data:`HANDLERS`, tried in order, each take one
line (its text without the timestamp prefix) and say whether it was theirs. The formats, with
the kernel source that prints each, are quoted in ``reference/kernel-memory-facts.md`` (§1.1
hash tables, §2.1/§2.2 the ``Memory:`` line, §4 percpu/swiotlb/crashkernel) and, as printed by
Debian 6.1 kernels under qemu, in ``reference/bootlab-debian-6.1.md`` §4 and §5. A record whose
last field is a bare number is not read from a cut final line (``Line.complete``), so a
truncated log never yields a number with missing digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from planner.evidence._text import Line, line_error, shorten
from planner.evidence.dmesg_arch import S390_HINT_RE, X86_HINT_RE
from planner.evidence.dmesg_memory import HASH_RE, MEMORY_START_RE, parse_hash_table, parse_memory_line
from planner.evidence.records import FreedMemory, HashTable, MemoryLine, MemoryRange, Percpu, ZonePages
from planner.units import KIB_PER_MIB

_VERSION_RE = re.compile(r"^Linux version (?P<rest>(?P<release>\S+).*)$")
_KCMDLINE_RE = re.compile(r"^Kernel command line:(?: (?P<cmd>.*))?$")
_CMDLINE_RE = re.compile(r"^Command line:(?: (?P<cmd>.*))?$")

# e820: 2.6 ``BIOS-e820: 0000000000000000 - 000000000009fc00 (usable)`` (end exclusive);
# modern ``BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable`` (end inclusive).
_E820_OLD_RE = re.compile(
    r"^BIOS-e820: (?P<start>[0-9a-fA-F]{1,16}) - (?P<end>[0-9a-fA-F]{1,16}) \((?P<kind>[^()]+)\)$"
)
_E820_NEW_RE = re.compile(
    r"^BIOS-e820: \[mem 0x(?P<start>[0-9a-fA-F]{1,16})-0x(?P<end>[0-9a-fA-F]{1,16})\] (?P<kind>\S.*)$"
)
#: e820 type names as printed by arch/x86/kernel/e820.c e820_print_type() (6.1) and 2.6.18 e820_print_map()
_E820_KINDS_RE = re.compile(
    r"^(?:usable|reserved|ACPI data|ACPI NVS|unusable|soft reserved|persistent \(type \d+\)|"
    r"reserved-kern|type \d+|persistent RAM|unknown)$"
)
_NODE_RANGES_HEADER = "Early memory node ranges"
_NODE_RANGE_RE = re.compile(
    r"^\s*node\s+(?P<node>\d+): \[mem 0x(?P<start>[0-9a-fA-F]{1,16})-0x(?P<end>[0-9a-fA-F]{1,16})\]$"
)

_ZONE_RE = re.compile(r"^\s*(?P<zone>\w+) zone: (?P<pages>\d+) pages, LIFO batch:\s*\d+$")
_NODE_TOTALPAGES_RE = re.compile(r"^On node (?P<node>\d+) totalpages: (?P<pages>\d+)$")
_BUILT_ZONELISTS_RE = re.compile(r"^Built \d+ zonelists\b.*Total pages: (?P<pages>\d+)$")
_DMA32_HINT_RE = re.compile(r"^\s*DMA32(?:\s+\[mem |\s+zone: )")

_PERCPU_RE = re.compile(
    r"^(?:percpu|PERCPU): Embedded (?P<pages>\d+) pages/cpu (?:@\S+ )?"
    r"s(?P<s>\d+) r(?P<r>\d+) d(?P<d>\d+) u(?P<u>\d+)$"
)
_SETUP_PERCPU_RE = re.compile(
    r"^setup_percpu: NR_CPUS:\d+ nr_cpumask_bits:\d+ nr_cpu_ids:(?P<n>\d+)(?P<more> .*)?$"
)
_LOG_BUF_RE = re.compile(r"^(?:printk: )?log_buf_len: (?P<bytes>\d+)(?P<unit> bytes)?$")

_SWIOTLB_RES = (
    # 6.x: software IO TLB: mapped [mem 0x00000000bbee4000-0x00000000bfee4000] (64MB)
    re.compile(r"^software IO TLB: mapped \[mem 0x[0-9a-fA-F]+-0x[0-9a-fA-F]+\] \((?P<mib>\d+)MB\)$"),
    # 3.x-4.x: software IO TLB [mem 0x...-0x...] (64MB) mapped at [...]
    re.compile(r"^software IO TLB \[mem 0x[0-9a-fA-F]+-0x[0-9a-fA-F]+\] \((?P<mib>\d+)MB\) mapped at .*$"),
    # 2.6: Placing 64MB software IO TLB between ...
    re.compile(r"^Placing (?P<mib>\d+)MB software IO TLB between .*$"),
)
_SWIOTLB_NONE_RE = re.compile(r"^software IO TLB: No low mem$")

_CRASH_RES = (
    # 6.1 arch/x86/kernel/setup.c reserve_crashkernel()
    re.compile(
        r"^Reserving (?P<mib>\d+)MB of (?:low )?memory at \d+MB for crashkernel"
        r"(?: \(System (?:low )?RAM: \d+MB\))?$"
    ),
    # newer kernels: crashkernel reserved: 0x... - 0x... (128 MB)
    re.compile(
        r"^crashkernel (?:low memory )?reserved: 0x[0-9a-fA-F]+ - 0x[0-9a-fA-F]+ \((?P<mib>\d+) MB\)$"
    ),
)

# ``Freeing unused kernel image (initmem) memory: 2612K``, 2.6 ``Freeing unused kernel memory: 220k freed``,
# 2.6 ``Freeing SMP alternatives: 36k freed``, 3.x ``Freeing initrd memory: 7684K (ffff... - ffff...)``
_FREEING_RE = re.compile(
    r"^Freeing (?P<what>.+?)(?: memory)?: (?P<kib>\d+)[kK](?: freed| \([0-9a-fA-Fx -]*\))?$"
)
_MAX_MEMORY_RE = re.compile(r"^setup: The maximum memory size is (?P<mib>\d+)MB$")
_DEFERRED_RE = re.compile(r"^node \d+ deferred pages initialised in \d+ms$")
# arch/x86/mm/numa.c alloc_node_data() @ v6.1: ``NODE_DATA(1) allocated [mem 0x103fb19000-0x103fb43fff]``
_NODE_DATA_RE = re.compile(
    r"^NODE_DATA\((?P<node>\d+)\) allocated \[mem 0x(?P<start>[0-9a-fA-F]+)-0x(?P<end>[0-9a-fA-F]+)\]$"
)
_RUN_INIT_RE = re.compile(r"^Run \S+ as init process$")
_PANIC_RE = re.compile(r"^Kernel panic - not syncing:? ?(?P<msg>.*)$")


@dataclass(frozen=True)
class Message:
    """One line of the log: the line, its text without the prefix, that text stripped, and the
    timestamp of the prefix (None without one)."""

    line: Line
    msg: str
    stripped: str
    ts: float | None


@dataclass
class Scan:
    """What a pass over one log has read so far (mutable while :func:`scan_lines` runs)."""

    source: str
    linux_version: str | None = None
    release: str | None = None
    version_line: Line | None = None
    kernel_cmdline: str | None = None
    x86_cmdline: str | None = None
    memory: MemoryLine | None = None
    memory_text: str | None = None
    hash_tables: list[HashTable] = field(default_factory=list)
    e820: list[MemoryRange] = field(default_factory=list)
    node_ranges: list[MemoryRange] = field(default_factory=list)
    zones: list[ZonePages] = field(default_factory=list)
    node_totalpages: list[tuple[int, int]] = field(default_factory=list)
    node_data: list[tuple[int, int]] = field(default_factory=list)
    built_total_pages: int | None = None
    percpu: Percpu | None = None
    nr_cpu_ids: int | None = None
    log_buf_len_bytes: int | None = None
    swiotlb_kib: int | None = None
    swiotlb_none: bool = False
    crashkernel_kib: int | None = None
    freed: list[FreedMemory] = field(default_factory=list)
    max_memory_kib: int | None = None
    deferred_init: bool = False
    run_init: bool = False
    panic: str | None = None
    oom: bool = False
    s390_hint: bool = False
    x86_hint: bool = False
    dma32_hint: bool = False
    in_node_ranges: bool = False

    @property
    def total_pages(self) -> int | None:
        """``Built N zonelists ... Total pages: N``, else the sum of ``On node N totalpages``."""
        if self.built_total_pages is not None:
            return self.built_total_pages
        if self.node_totalpages:
            return sum(pages for _, pages in self.node_totalpages)
        return None


def scan_lines(scan: Scan, messages: list[Message]) -> None:
    """Give each message to the first handler that takes it; an empty one ends a node-ranges block."""
    for m in messages:
        if not m.stripped:
            scan.in_node_ranges = False
            continue
        for handler in HANDLERS:
            if handler(scan, m):
                break


def _node_ranges(scan: Scan, m: Message) -> bool:
    """``Early memory node ranges`` then ``  node   0: [mem ...]`` lines (end exclusive here)."""
    if m.stripped == _NODE_RANGES_HEADER:
        scan.in_node_ranges = True
        return True
    if scan.in_node_ranges:
        nm = _NODE_RANGE_RE.match(m.msg)
        if nm:
            if m.line.complete:
                scan.node_ranges.append(
                    MemoryRange(
                        start=int(nm.group("start"), 16),
                        end=int(nm.group("end"), 16) + 1,
                        kind=f"node{int(nm.group('node'))}",
                    )
                )
            return True
        scan.in_node_ranges = False
    return False


def _memory(scan: Scan, m: Message) -> bool:
    """The ``Memory:`` line: once per boot (a repeat of the same text is the same boot)."""
    if not MEMORY_START_RE.match(m.stripped):
        return False
    line, stripped = m.line, m.stripped
    if line.damaged:
        raise line_error(
            f"damaged 'Memory:' line: it contains non-printing bytes; found {shorten(stripped)}",
            scan.source,
            line,
            "Memory",
        )
    parsed = parse_memory_line(stripped, scan.source, line)
    if scan.memory is None:
        scan.memory, scan.memory_text = parsed, stripped
    elif stripped != scan.memory_text:
        raise line_error(
            f"a second, different 'Memory:' line (the first is at line {scan.memory.line_number}): "
            f"expected one boot per log; found {shorten(stripped)}",
            scan.source,
            line,
            "Memory",
        )
    return True


def _hash_table(scan: Scan, m: Message) -> bool:
    hm = HASH_RE.match(m.stripped)
    if not hm:
        return False
    if m.line.damaged:
        raise line_error(
            f"damaged hash table line: it contains non-printing bytes; found {shorten(m.stripped)}",
            scan.source,
            m.line,
            "hash table",
        )
    table = parse_hash_table(hm, m.ts, scan.source, m.line)
    if table is not None:
        scan.hash_tables.append(table)
    return True


def _version(scan: Scan, m: Message) -> bool:
    """``Linux version RELEASE ...``: once per log."""
    vm = _VERSION_RE.match(m.stripped)
    if not vm:
        return False
    if scan.version_line is not None:
        raise line_error(
            f"a second 'Linux version' line (the first is at line {scan.version_line.number}): "
            "expected one boot per log; pass the '==== dmesg' section of a capture, or split the log",
            scan.source,
            m.line,
            "Linux version",
        )
    scan.version_line = m.line
    scan.linux_version = vm.group("rest")
    scan.release = vm.group("release")
    return True


def _cmdline(scan: Scan, m: Message) -> bool:
    """``Kernel command line:`` (every arch) and ``Command line:`` (only arch/x86/kernel/setup.c)."""
    km = _KCMDLINE_RE.match(m.stripped)
    if km:
        if scan.kernel_cmdline is None:
            scan.kernel_cmdline = (km.group("cmd") or "").strip()
        return True
    cm = _CMDLINE_RE.match(m.stripped)
    if cm:
        scan.x86_hint = True  # only arch/x86/kernel/setup.c prints ``Command line:``
        if scan.x86_cmdline is None:
            scan.x86_cmdline = (cm.group("cmd") or "").strip()
        return True
    return False


def _e820(scan: Scan, m: Message) -> bool:
    stripped = m.stripped
    if not stripped.startswith("BIOS-e820:"):
        return False
    scan.x86_hint = True
    em = _E820_OLD_RE.match(stripped)
    end_inclusive = False
    if not em:
        em = _E820_NEW_RE.match(stripped)
        end_inclusive = True
    if em and m.line.complete and _E820_KINDS_RE.match(em.group("kind")):
        start = int(em.group("start"), 16)
        end = int(em.group("end"), 16) + (1 if end_inclusive else 0)
        if end > start:
            scan.e820.append(MemoryRange(start=start, end=end, kind=em.group("kind")))
    return True


def _zones(scan: Scan, m: Message) -> bool:
    """``  DMA32 zone: 3512 pages, LIFO batch:0`` lines and other DMA32 mentions."""
    zm = _ZONE_RE.match(m.msg)
    if zm:
        scan.zones.append(ZonePages(zone=zm.group("zone"), pages=int(zm.group("pages"))))
        if zm.group("zone") == "DMA32":
            scan.dma32_hint = True
        return True
    if _DMA32_HINT_RE.match(m.msg):
        scan.dma32_hint = True
        return True
    return False


def _nodes(scan: Scan, m: Message) -> bool:
    """``NODE_DATA(N) allocated``, ``On node N totalpages:`` and ``Built N zonelists ... Total pages:``."""
    stripped, complete = m.stripped, m.line.complete
    nd = _NODE_DATA_RE.match(stripped)
    if nd:
        if complete:
            size = int(nd.group("end"), 16) + 1 - int(nd.group("start"), 16)
            scan.node_data.append((int(nd.group("node")), size // 1024))
        return True
    tm = _NODE_TOTALPAGES_RE.match(stripped)
    if tm:
        if complete:
            scan.node_totalpages.append((int(tm.group("node")), int(tm.group("pages"))))
        return True
    bm = _BUILT_ZONELISTS_RE.match(stripped)
    if bm:
        if complete and scan.built_total_pages is None:
            scan.built_total_pages = int(bm.group("pages"))
        return True
    return False


def _percpu(scan: Scan, m: Message) -> bool:
    """``percpu: Embedded N pages/cpu``, ``setup_percpu: ... nr_cpu_ids:N`` and ``log_buf_len: N``."""
    stripped, complete = m.stripped, m.line.complete
    pm = _PERCPU_RE.match(stripped)
    if pm:
        if complete and scan.percpu is None:
            scan.percpu = Percpu(
                pages_per_cpu=int(pm.group("pages")),
                static_bytes=int(pm.group("s")),
                reserved_bytes=int(pm.group("r")),
                dynamic_bytes=int(pm.group("d")),
                unit_bytes=int(pm.group("u")),
            )
        return True
    sm = _SETUP_PERCPU_RE.match(stripped)
    if sm:
        if (complete or sm.group("more")) and scan.nr_cpu_ids is None:
            scan.nr_cpu_ids = int(sm.group("n"))
        return True
    lm = _LOG_BUF_RE.match(stripped)
    if lm:
        if (complete or lm.group("unit")) and scan.log_buf_len_bytes is None:
            scan.log_buf_len_bytes = int(lm.group("bytes"))
        return True
    return False


def _swiotlb_crashkernel(scan: Scan, m: Message) -> bool:
    stripped = m.stripped
    if stripped.startswith(("software IO TLB", "Placing ")):
        for pattern in _SWIOTLB_RES:
            wm = pattern.match(stripped)
            if wm:
                if scan.swiotlb_kib is None:
                    scan.swiotlb_kib = int(wm.group("mib")) * KIB_PER_MIB
                break
        else:
            if _SWIOTLB_NONE_RE.match(stripped):
                scan.swiotlb_none = True
        return True
    if "crashkernel" in stripped:
        for pattern in _CRASH_RES:
            ck = pattern.match(stripped)
            if ck:
                scan.crashkernel_kib = (scan.crashkernel_kib or 0) + int(ck.group("mib")) * KIB_PER_MIB
                break
        return True
    return False


def _freeing(scan: Scan, m: Message) -> bool:
    """``Freeing ... memory: NK`` (and the 2.6 ``Freeing ...: Nk freed``); ``setup: The maximum
    memory size is NMB`` (s390)."""
    fm = _FREEING_RE.match(m.stripped)
    if fm:
        what = fm.group("what")
        scan.freed.append(FreedMemory(what=what, size_kib=int(fm.group("kib")), line_number=m.line.number))
        if what == "unused kernel":  # 2.6: free_initmem() runs right before init
            scan.run_init = True
        return True
    mm = _MAX_MEMORY_RE.match(m.stripped)
    if mm:
        scan.s390_hint = True
        if scan.max_memory_kib is None:
            scan.max_memory_kib = int(mm.group("mib")) * KIB_PER_MIB
        return True
    return False


def _late_boot(scan: Scan, m: Message) -> bool:
    """Deferred page init, ``Run /init``, a panic, an OOM, and the architecture hints."""
    stripped = m.stripped
    if _DEFERRED_RE.match(stripped):
        scan.deferred_init = True
    elif _RUN_INIT_RE.match(stripped):
        scan.run_init = True
    elif km2 := _PANIC_RE.match(stripped):
        if scan.panic is None:
            scan.panic = km2.group("msg").strip()
    elif "Out of memory" in stripped:
        scan.oom = True
    elif S390_HINT_RE.match(stripped):
        scan.s390_hint = True
    elif X86_HINT_RE.match(stripped):
        scan.x86_hint = True
    else:
        return False
    return True


#: the line handlers in the order they are tried
HANDLERS: tuple[Callable[[Scan, Message], bool], ...] = (
    _node_ranges,
    _memory,
    _hash_table,
    _version,
    _cmdline,
    _e820,
    _zones,
    _nodes,
    _percpu,
    _swiotlb_crashkernel,
    _freeing,
    _late_boot,
)
