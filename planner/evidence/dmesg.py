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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import cast

from planner.errors import EvidenceError
from planner.evidence._text import Line, shorten, split_lines
from planner.evidence.records import (
    Dmesg,
    FreedMemory,
    HashPlacement,
    HashTable,
    MemoryLine,
    MemoryRange,
    Percpu,
    ZonePages,
)
from planner.units import KIB_PER_MIB, PAGE_BYTES

__all__ = ["SUPPORTED_ARCHES", "parse_dmesg", "require_arch", "require_memory_line"]

#: Architectures the kernel model knows.
SUPPORTED_ARCHES: tuple[str, ...] = ("x86_64", "s390x")

# --- line prefix ---------------------------------------------------------------------------------
#: ``<6>`` syslog level, ``[    2.708992]`` timestamp, ``[    T1]`` caller id (CONFIG_PRINTK_CALLER)
_PREFIX_RE = re.compile(r"^(?:<\d{1,3}>)?\[\s*(?P<ts>\d{1,10}\.\d{1,9})\](?:\[\s*[TC]\d+\])? ?")
_LEVEL_ONLY_RE = re.compile(r"^<\d{1,3}>")
#: a timestamp after other text: on a serial console the firmware's last line and the kernel's
#: first share a line (``Probing EDD (edd=off to disable)... o[    0.000000] Linux version ...``)
_EMBEDDED_TS_RE = re.compile(r"\[\s*(?P<ts>\d{1,10}\.\d{6})\](?:\[\s*[TC]\d+\])? ?")

# --- record formats ------------------------------------------------------------------------------
_VERSION_RE = re.compile(r"^Linux version (?P<rest>(?P<release>\S+).*)$")
_KCMDLINE_RE = re.compile(r"^Kernel command line:(?: (?P<cmd>.*))?$")
_CMDLINE_RE = re.compile(r"^Command line:(?: (?P<cmd>.*))?$")

# ``Memory: 85928K/130552K available (14343K kernel code, ...)`` and the 2.6 ``k`` form
# (6.1 mm/page_alloc.c mem_init_print_info(); 2.6.18 arch/x86_64/mm/init.c mem_init())
_MEMORY_START_RE = re.compile(r"^Memory: \d")
_MEMORY_RE = re.compile(
    r"^Memory: (?P<avail>\d+)[kK]/(?P<phys>\d+)[kK] available \((?P<items>[^()]*)\)$",
)
_MEMORY_ITEM_RE = re.compile(r"^(?P<kib>\d+)[kK] (?P<label>[a-z][a-z -]*[a-z])$")
_MEMORY_6X_EXPECTED = (
    "'Memory: AK/PK available (NK kernel code, NK rwdata, NK rodata, NK init, NK bss, "
    "NK reserved, NK cma-reserved)'"
)
_MEMORY_26_EXPECTED = "'Memory: Ak/Pk available (Nk kernel code, Nk reserved, Nk data, Nk init)'"
#: label -> MemoryLine field, per format
_MEMORY_6X_LABELS = {
    "kernel code": "kernel_code_kib",
    "rwdata": "rwdata_kib",
    "rodata": "rodata_kib",
    "init": "init_kib",
    "bss": "bss_kib",
    "reserved": "reserved_kib",
    "cma-reserved": "cma_reserved_kib",
    "highmem": "highmem_kib",
}
_MEMORY_6X_REQUIRED: tuple[str, ...] = ("kernel code", "rwdata", "rodata", "init", "bss", "reserved")
_MEMORY_26_LABELS = {
    "kernel code": "kernel_code_kib",
    "absent": "absent_kib",
    "reserved": "reserved_kib",
    "data": "data_kib",
    "init": "init_kib",
    "highmem": "highmem_kib",
}
_MEMORY_26_REQUIRED: tuple[str, ...] = ("kernel code", "reserved", "data", "init")

# ``Dentry cache hash table entries: 16384 (order: 5, 131072 bytes, linear)``;
# ``VFS: Dquot-cache hash table entries: 512 (order 0, 4096 bytes)``;
# 2.6.18 ``Mount-cache hash table entries: 256`` (no parenthesis).
_HASH_RE = re.compile(r"^(?P<name>.+?) hash table entries: (?P<entries>\d+)(?P<rest>.*)$")
_HASH_DETAIL_RE = re.compile(
    r"^ \(order:? (?P<order>-?\d+), (?P<bytes>\d+) bytes"
    r"(?:, (?P<placement>linear|vmalloc hugepage|vmalloc|bootmem))?\)$"
)
_HASH_EXPECTED = "'NAME hash table entries: N (order: O, B bytes[, linear|vmalloc|vmalloc hugepage])'"

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

# --- architecture --------------------------------------------------------------------------------
#: release suffix -> architecture; first match wins. Debian flavours (``-cloud-amd64``, ``-s390x``),
#: Fedora/RHEL/SUSE (``.x86_64``, ``.s390x``), and the unsupported ones so they can be named.
_ARCH_SUFFIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[-.+_](?:cloud-|rt-)?amd64$"), "x86_64"),
    (re.compile(r"[-.+_]x86_64$"), "x86_64"),
    (re.compile(r"[-.+_]s390x?$"), "s390x"),
    (re.compile(r"[-.+_](?:rt-)?(?:arm64|aarch64)(?:-16k)?$"), "aarch64"),
    (re.compile(r"[-.+_]armmp(?:-lpae)?$|[-.+_]arm(?:el|hf|v7hl?)$"), "arm"),
    (re.compile(r"[-.+_](?:ppc64el|ppc64le|powerpc64le)$"), "ppc64le"),
    (re.compile(r"[-.+_](?:ppc64|powerpc(?:-smp)?)$"), "ppc64"),
    (re.compile(r"[-.+_](?:686(?:-pae)?|i[3-6]86)$"), "i686"),
    (re.compile(r"[-.+_](?:riscv64)$"), "riscv64"),
    (re.compile(r"[-.+_](?:loong64|loongarch64)$"), "loongarch64"),
    (re.compile(r"[-.+_](?:mips\w*|octeon|loongson-3)$"), "mips"),
)
#: architecture words that may appear anywhere in the ``Linux version`` line (build host, compiler)
_ARCH_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w])(?:x86_64|x86-64|amd64)(?![\w])"), "x86_64"),
    (re.compile(r"(?<![\w])s390x(?![\w])"), "s390x"),
    (re.compile(r"(?<![\w])(?:aarch64|arm64)(?![\w])"), "aarch64"),
    (re.compile(r"(?<![\w])(?:ppc64le|powerpc64le|ppc64el)(?![\w])"), "ppc64le"),
    (re.compile(r"(?<![\w])riscv64(?![\w])"), "riscv64"),
)
#: s390 setup messages (arch/s390/kernel/setup.c)
_S390_HINT_RE = re.compile(r"^setup: (?:Linux is running (?:natively|under|as)|The maximum memory size is )")
#: x86 firmware map and x86 subsystem messages
_X86_HINT_RE = re.compile(r"^(?:BIOS-e820: |e820: |x86/|x86-64: )")


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


def _error(message: str, source: str, line: Line, field: str | None = None) -> EvidenceError:
    return EvidenceError(message, file=source, line=line.number, field=field)


def _parse_memory_line(msg: str, source: str, line: Line) -> MemoryLine:
    """Parse one ``Memory:`` line, or raise saying what was expected and found."""
    m = _MEMORY_RE.match(msg)
    if not m:
        what = "truncated" if not msg.endswith(")") else "malformed"
        raise _error(
            f"{what} 'Memory:' line: expected {_MEMORY_6X_EXPECTED} or the 2.6 form {_MEMORY_26_EXPECTED}; "
            f"found {shorten(msg)}",
            source,
            line,
            "Memory",
        )
    items: dict[str, int] = {}
    for raw_item in m.group("items").split(", "):
        im = _MEMORY_ITEM_RE.match(raw_item)
        if not im:
            raise _error(
                f"malformed 'Memory:' line: expected items such as '14343K kernel code'; found item "
                f"{raw_item!r} in {shorten(msg)}",
                source,
                line,
                "Memory",
            )
        label = im.group("label")
        if label in items:
            raise _error(
                f"malformed 'Memory:' line: item {label!r} appears twice in {shorten(msg)}", source, line
            )
        items[label] = int(im.group("kib"))
    if "rwdata" in items or "rodata" in items or "bss" in items:
        fmt, labels, required, expected = "6.x", _MEMORY_6X_LABELS, _MEMORY_6X_REQUIRED, _MEMORY_6X_EXPECTED
    else:
        fmt, labels, required, expected = "2.6", _MEMORY_26_LABELS, _MEMORY_26_REQUIRED, _MEMORY_26_EXPECTED
    unknown = [label for label in items if label not in labels]
    missing = [label for label in required if label not in items]
    if unknown or missing:
        found = []
        if missing:
            found.append("missing " + ", ".join(repr(x) for x in missing))
        if unknown:
            found.append("unexpected " + ", ".join(repr(x) for x in unknown))
        raise _error(
            f"malformed 'Memory:' line: expected {expected}; found {shorten(msg)} ({'; '.join(found)})",
            source,
            line,
            "Memory",
        )
    get = items.get
    return MemoryLine(
        available_kib=int(m.group("avail")),
        physical_kib=int(m.group("phys")),
        kernel_code_kib=items["kernel code"],
        reserved_kib=items["reserved"],
        init_kib=items["init"],
        rwdata_kib=get("rwdata"),
        rodata_kib=get("rodata"),
        bss_kib=get("bss"),
        cma_reserved_kib=get("cma-reserved"),
        data_kib=get("data"),
        highmem_kib=get("highmem"),
        absent_kib=get("absent"),
        format="6.x" if fmt == "6.x" else "2.6",
        line_number=line.number,
    )


def _parse_hash_table(m: re.Match[str], ts: float | None, source: str, line: Line) -> HashTable | None:
    name = m.group("name").strip()
    if ": " in name:  # ``VFS: Dquot-cache`` -> ``Dquot-cache``
        name = name.rsplit(": ", 1)[1]
    entries = int(m.group("entries"))
    rest = m.group("rest")
    if not rest:
        if not line.complete:
            return None  # a cut final line: the entry count may have lost digits
        # 2.6.18 fs/namespace.c mnt_init(): ``mount_hashtable = __get_free_page(GFP_ATOMIC)``; it prints
        # only the entry count. The table is that one page: order 0, PAGE_SIZE bytes.
        return HashTable(
            name=name,
            entries=entries,
            order=0,
            size_bytes=PAGE_BYTES,
            placement=None,
            timestamp_s=ts,
            line_number=line.number,
            size_printed=False,
        )
    d = _HASH_DETAIL_RE.match(rest)
    if not d:
        what = "truncated" if not rest.endswith(")") else "malformed"
        raise _error(
            f"{what} hash table line: expected {_HASH_EXPECTED}; found {shorten(m.group(0))}",
            source,
            line,
            "hash table",
        )
    # _HASH_DETAIL_RE admits exactly the HashPlacement values
    placement = cast("HashPlacement | None", d.group("placement"))
    return HashTable(
        name=name,
        entries=entries,
        order=int(d.group("order")),
        size_bytes=int(d.group("bytes")),
        placement=placement,
        timestamp_s=ts,
        line_number=line.number,
    )


def _arch_from_release(release: str) -> str | None:
    for pattern, arch in _ARCH_SUFFIXES:
        if pattern.search(release):
            return arch
    return None


def _arch_from_words(text: str) -> str | None:
    for pattern, arch in _ARCH_WORDS:
        if pattern.search(text):
            return arch
    return None


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

    linux_version: str | None = None
    release: str | None = None
    version_line: Line | None = None
    kernel_cmdline: str | None = None
    x86_cmdline: str | None = None
    memory: MemoryLine | None = None
    memory_text: str | None = None
    hash_tables: list[HashTable] = []
    e820: list[MemoryRange] = []
    node_ranges: list[MemoryRange] = []
    zones: list[ZonePages] = []
    node_totalpages: list[tuple[int, int]] = []
    node_data: list[tuple[int, int]] = []
    built_total_pages: int | None = None
    percpu: Percpu | None = None
    nr_cpu_ids: int | None = None
    log_buf_len_bytes: int | None = None
    swiotlb_kib: int | None = None
    swiotlb_none = False
    crashkernel_kib: int | None = None
    freed: list[FreedMemory] = []
    max_memory_kib: int | None = None
    deferred_init = False
    run_init = False
    panic: str | None = None
    oom = False
    s390_hint = False
    x86_hint = False
    dma32_hint = False
    in_node_ranges = False

    for line in lines:
        msg, ts = _strip_prefix(line.text)
        stripped = msg.strip()
        if not stripped:
            in_node_ranges = False
            continue

        # --- node ranges block: ``Early memory node ranges`` then ``  node   0: [mem ...]`` lines
        if stripped == _NODE_RANGES_HEADER:
            in_node_ranges = True
            continue
        if in_node_ranges:
            nm = _NODE_RANGE_RE.match(msg)
            if nm:
                if line.complete:
                    node_ranges.append(
                        MemoryRange(
                            start=int(nm.group("start"), 16),
                            end=int(nm.group("end"), 16) + 1,
                            kind=f"node{int(nm.group('node'))}",
                        )
                    )
                continue
            in_node_ranges = False

        if _MEMORY_START_RE.match(stripped):
            if line.damaged:
                raise _error(
                    f"damaged 'Memory:' line: it contains non-printing bytes; found {shorten(stripped)}",
                    source,
                    line,
                    "Memory",
                )
            parsed = _parse_memory_line(stripped, source, line)
            if memory is None:
                memory, memory_text = parsed, stripped
            elif stripped != memory_text:
                raise _error(
                    f"a second, different 'Memory:' line (the first is at line {memory.line_number}): "
                    f"expected one boot per log; found {shorten(stripped)}",
                    source,
                    line,
                    "Memory",
                )
            continue

        hm = _HASH_RE.match(stripped)
        if hm:
            if line.damaged:
                raise _error(
                    f"damaged hash table line: it contains non-printing bytes; found {shorten(stripped)}",
                    source,
                    line,
                    "hash table",
                )
            table = _parse_hash_table(hm, ts, source, line)
            if table is not None:
                hash_tables.append(table)
            continue

        vm = _VERSION_RE.match(stripped)
        if vm:
            if version_line is not None:
                raise _error(
                    f"a second 'Linux version' line (the first is at line {version_line.number}): "
                    "expected one boot per log; pass the '==== dmesg' section of a capture, or split the log",
                    source,
                    line,
                    "Linux version",
                )
            version_line = line
            linux_version = vm.group("rest")
            release = vm.group("release")
            continue

        km = _KCMDLINE_RE.match(stripped)
        if km:
            if kernel_cmdline is None:
                kernel_cmdline = (km.group("cmd") or "").strip()
            continue
        cm = _CMDLINE_RE.match(stripped)
        if cm:
            x86_hint = True  # only arch/x86/kernel/setup.c prints ``Command line:``
            if x86_cmdline is None:
                x86_cmdline = (cm.group("cmd") or "").strip()
            continue

        if stripped.startswith("BIOS-e820:"):
            x86_hint = True
            em = _E820_OLD_RE.match(stripped)
            end_inclusive = False
            if not em:
                em = _E820_NEW_RE.match(stripped)
                end_inclusive = True
            if em and line.complete and _E820_KINDS_RE.match(em.group("kind")):
                start = int(em.group("start"), 16)
                end = int(em.group("end"), 16) + (1 if end_inclusive else 0)
                if end > start:
                    e820.append(MemoryRange(start=start, end=end, kind=em.group("kind")))
            continue

        zm = _ZONE_RE.match(msg)
        if zm:
            zones.append(ZonePages(zone=zm.group("zone"), pages=int(zm.group("pages"))))
            if zm.group("zone") == "DMA32":
                dma32_hint = True
            continue
        if _DMA32_HINT_RE.match(msg):
            dma32_hint = True
            continue

        nd = _NODE_DATA_RE.match(stripped)
        if nd:
            if line.complete:
                size = int(nd.group("end"), 16) + 1 - int(nd.group("start"), 16)
                node_data.append((int(nd.group("node")), size // 1024))
            continue
        tm = _NODE_TOTALPAGES_RE.match(stripped)
        if tm:
            if line.complete:
                node_totalpages.append((int(tm.group("node")), int(tm.group("pages"))))
            continue
        bm = _BUILT_ZONELISTS_RE.match(stripped)
        if bm:
            if line.complete and built_total_pages is None:
                built_total_pages = int(bm.group("pages"))
            continue

        pm = _PERCPU_RE.match(stripped)
        if pm:
            if line.complete and percpu is None:
                percpu = Percpu(
                    pages_per_cpu=int(pm.group("pages")),
                    static_bytes=int(pm.group("s")),
                    reserved_bytes=int(pm.group("r")),
                    dynamic_bytes=int(pm.group("d")),
                    unit_bytes=int(pm.group("u")),
                )
            continue
        sm = _SETUP_PERCPU_RE.match(stripped)
        if sm:
            if (line.complete or sm.group("more")) and nr_cpu_ids is None:
                nr_cpu_ids = int(sm.group("n"))
            continue
        lm = _LOG_BUF_RE.match(stripped)
        if lm:
            if (line.complete or lm.group("unit")) and log_buf_len_bytes is None:
                log_buf_len_bytes = int(lm.group("bytes"))
            continue

        if stripped.startswith(("software IO TLB", "Placing ")):
            for pattern in _SWIOTLB_RES:
                wm = pattern.match(stripped)
                if wm:
                    if swiotlb_kib is None:
                        swiotlb_kib = int(wm.group("mib")) * KIB_PER_MIB
                    break
            else:
                if _SWIOTLB_NONE_RE.match(stripped):
                    swiotlb_none = True
            continue

        if "crashkernel" in stripped:
            for pattern in _CRASH_RES:
                ck = pattern.match(stripped)
                if ck:
                    crashkernel_kib = (crashkernel_kib or 0) + int(ck.group("mib")) * KIB_PER_MIB
                    break
            continue

        fm = _FREEING_RE.match(stripped)
        if fm:
            what = fm.group("what")
            freed.append(FreedMemory(what=what, size_kib=int(fm.group("kib")), line_number=line.number))
            if what == "unused kernel":  # 2.6: free_initmem() runs right before init
                run_init = True
            continue

        mm = _MAX_MEMORY_RE.match(stripped)
        if mm:
            s390_hint = True
            if max_memory_kib is None:
                max_memory_kib = int(mm.group("mib")) * KIB_PER_MIB
            continue

        if _DEFERRED_RE.match(stripped):
            deferred_init = True
            continue
        if _RUN_INIT_RE.match(stripped):
            run_init = True
            continue
        km2 = _PANIC_RE.match(stripped)
        if km2:
            if panic is None:
                panic = km2.group("msg").strip()
            continue
        if "Out of memory" in stripped:
            oom = True
            continue
        if _S390_HINT_RE.match(stripped):
            s390_hint = True
            continue
        if _X86_HINT_RE.match(stripped):
            x86_hint = True
            continue

    arch = _derive_arch(release, linux_version, s390_hint, x86_hint and dma32_hint, source, version_line)

    if built_total_pages is not None:
        total_pages: int | None = built_total_pages
    elif node_totalpages:
        total_pages = sum(pages for _, pages in node_totalpages)
    else:
        total_pages = None
    if swiotlb_kib is None and swiotlb_none:
        swiotlb_kib = 0

    return Dmesg(
        linux_version=linux_version,
        release=release,
        arch=arch,
        command_line=kernel_cmdline if kernel_cmdline is not None else x86_cmdline,
        memory=memory,
        hash_tables=tuple(hash_tables),
        e820=tuple(e820),
        node_ranges=tuple(node_ranges),
        zones=tuple(zones),
        total_pages=total_pages,
        node_total_pages=tuple(node_totalpages),
        node_data=tuple(node_data),
        percpu=percpu,
        nr_cpu_ids=nr_cpu_ids,
        log_buf_len_bytes=log_buf_len_bytes,
        swiotlb_kib=swiotlb_kib,
        crashkernel_kib=crashkernel_kib,
        freed=tuple(freed),
        max_memory_kib=max_memory_kib,
        deferred_init=deferred_init,
        run_init=run_init,
        panic=panic,
        oom=oom,
        line_count=len(lines),
    )


def _derive_arch(
    release: str | None,
    linux_version: str | None,
    s390_hint: bool,
    x86_64_hint: bool,
    source: str,
    version_line: Line | None,
) -> str | None:
    arch: str | None = None
    how = ""
    if release is not None:
        arch = _arch_from_release(release)
        how = f"release {release!r}"
    if arch is None and linux_version is not None:
        arch = _arch_from_words(linux_version)
        how = "the 'Linux version' line"
    if arch is None and s390_hint:
        return "s390x"
    if arch is None and x86_64_hint:
        return "x86_64"
    if arch is not None and arch not in SUPPORTED_ARCHES:
        raise EvidenceError(
            f"unknown architecture: expected a kernel for {' or '.join(SUPPORTED_ARCHES)}; "
            f"found {arch} (from {how})",
            file=source,
            line=version_line.number if version_line else None,
            field="Linux version",
        )
    return arch


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


def require_arch(dmesg: Dmesg, source: str) -> str:
    """Return the log's architecture, or raise if it cannot be derived."""
    if dmesg.arch is not None:
        return dmesg.arch
    found = f"release {dmesg.release!r}" if dmesg.release else "no 'Linux version' line"
    raise EvidenceError(
        "unknown architecture: expected a 'Linux version' line whose release names it (such as "
        f"6.1.0-56-cloud-amd64 or 6.1.0-50-s390x), s390 'setup:' lines or x86 e820 lines; found {found}",
        file=source,
        field="arch",
    )


def _join(items: Iterable[str]) -> str:
    parts = list(items)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
