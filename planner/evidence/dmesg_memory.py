"""The two dmesg records whose damage is an error: the ``Memory:`` line and the hash-table lines.

The ``Memory:`` line is printed by ``mm/page_alloc.c mem_init_print_info()`` @ v6.1 (and
``arch/x86_64/mm/init.c mem_init()`` @ v2.6.18); each hash-table line by
``mm/page_alloc.c alloc_large_system_hash()`` @ v6.1 (``reference/kernel-memory-facts.md`` §1.1,
§2.1/§2.2). The model is calibrated on them, so a cut or malformed one is refused with what was
expected and what was found, never read partly.
"""

from __future__ import annotations

import re
from typing import Literal, cast

from planner.evidence._text import Line, line_error, shorten
from planner.evidence.records import HashPlacement, HashTable, MemoryLine
from planner.units import PAGE_BYTES

# ``Memory: 85928K/130552K available (14343K kernel code, ...)`` and the 2.6 ``k`` form
# (6.1 mm/page_alloc.c mem_init_print_info(); 2.6.18 arch/x86_64/mm/init.c mem_init())
MEMORY_START_RE = re.compile(r"^Memory: \d")
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
HASH_RE = re.compile(r"^(?P<name>.+?) hash table entries: (?P<entries>\d+)(?P<rest>.*)$")
_HASH_DETAIL_RE = re.compile(
    r"^ \(order:? (?P<order>-?\d+), (?P<bytes>\d+) bytes"
    r"(?:, (?P<placement>linear|vmalloc hugepage|vmalloc|bootmem))?\)$"
)
_HASH_EXPECTED = "'NAME hash table entries: N (order: O, B bytes[, linear|vmalloc|vmalloc hugepage])'"


def parse_memory_line(msg: str, source: str, line: Line) -> MemoryLine:
    """Parse one ``Memory:`` line, or raise saying what was expected and found."""
    m = _MEMORY_RE.match(msg)
    if not m:
        what = "truncated" if not msg.endswith(")") else "malformed"
        raise line_error(
            f"{what} 'Memory:' line: expected {_MEMORY_6X_EXPECTED} or the 2.6 form {_MEMORY_26_EXPECTED}; "
            f"found {shorten(msg)}",
            source,
            line,
            "Memory",
        )
    items = _memory_items(m.group("items"), msg, source, line)
    fmt = _memory_format(items, msg, source, line)
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
        format=fmt,
        line_number=line.number,
    )


def _memory_items(text: str, msg: str, source: str, line: Line) -> dict[str, int]:
    """The parenthesised ``NK label`` items of a ``Memory:`` line, each label once. [KiB]"""
    items: dict[str, int] = {}
    for raw_item in text.split(", "):
        im = _MEMORY_ITEM_RE.match(raw_item)
        if not im:
            raise line_error(
                f"malformed 'Memory:' line: expected items such as '14343K kernel code'; found item "
                f"{raw_item!r} in {shorten(msg)}",
                source,
                line,
                "Memory",
            )
        label = im.group("label")
        if label in items:
            raise line_error(
                f"malformed 'Memory:' line: item {label!r} appears twice in {shorten(msg)}", source, line
            )
        items[label] = int(im.group("kib"))
    return items


def _memory_format(items: dict[str, int], msg: str, source: str, line: Line) -> Literal["6.x", "2.6"]:
    """``6.x`` (``rwdata``, ``rodata`` or ``bss`` present) or ``2.6``, with every item of that
    format present and no other."""
    fmt: Literal["6.x", "2.6"]
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
        raise line_error(
            f"malformed 'Memory:' line: expected {expected}; found {shorten(msg)} ({'; '.join(found)})",
            source,
            line,
            "Memory",
        )
    return fmt


def parse_hash_table(m: re.Match[str], ts: float | None, source: str, line: Line) -> HashTable | None:
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
        raise line_error(
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
