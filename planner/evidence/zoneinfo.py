"""Parse /proc/zoneinfo into a :class:`Zoneinfo` record.

Format: 6.1 ``mm/vmstat.c zoneinfo_show_print()``::

    Node 0, zone    DMA32
      pages free     21760
            boost    0
            min      262
            low      327
            high     392
            spanned  1044480
            present  28640
            managed  28192
            cma      0
            protection: (0, 0, 0, 0, 0)
          nr_free_pages 21760
          ...
      pagesets
        cpu: 0
                  count: 60
                  high:  171
                  batch: 63

An unpopulated zone stops after ``protection:``. 2.6.18 prints the same
watermark lines but no ``managed`` (added in 3.8); such zones are refused,
because ``managed`` is the figure the model needs.
"""

from __future__ import annotations

import re

from planner.errors import EvidenceError
from planner.evidence._text import shorten, split_lines
from planner.evidence.records import Zone, Zoneinfo

__all__ = ["parse_zoneinfo"]

_ZONE_HEADER_RE = re.compile(r"^Node (?P<node>\d+), zone\s+(?P<zone>\S+)$")
_FREE_RE = re.compile(r"^pages free\s+(?P<pages>\d+)$")
_WATERMARK_RE = re.compile(r"^(?P<key>min|low|high|spanned|present|managed)\s+(?P<pages>\d+)$")
_PROTECTION_RE = re.compile(r"^protection: \((?P<values>\d+(?:, \d+)*)\)$")
_COUNT_RE = re.compile(r"^count:\s+(?P<pages>\d+)$")
_REQUIRED = ("free", "min", "low", "high", "spanned", "present", "managed")


class _ZoneBuilder:
    def __init__(self, node: int, name: str, line: int) -> None:
        self.node = node
        self.name = name
        self.line = line
        self.values: dict[str, int] = {}
        self.protection: tuple[int, ...] = ()
        self.pcp_count_pages = 0

    def build(self, source: str) -> Zone:
        missing = [key for key in _REQUIRED if key not in self.values]
        if missing:
            shown = ", ".join("'pages free'" if key == "free" else repr(key) for key in missing)
            raise EvidenceError(
                f"zone {self.name} of node {self.node}: expected the lines 'pages free', 'min', 'low', "
                f"'high', 'spanned', 'present', 'managed' (kernels >= 3.8); found no {shown} (truncated?)",
                file=source,
                line=self.line,
                field=f"node{self.node}.{self.name}",
            )
        v = self.values
        return Zone(
            node=self.node,
            name=self.name,
            present_pages=v["present"],
            managed_pages=v["managed"],
            spanned_pages=v["spanned"],
            free_pages=v["free"],
            min_pages=v["min"],
            low_pages=v["low"],
            high_pages=v["high"],
            protection_pages=self.protection,
            pcp_count_pages=self.pcp_count_pages,
        )


def parse_zoneinfo(text: str, source: str = "<zoneinfo>", *, line_offset: int = 0) -> Zoneinfo:
    """Parse /proc/zoneinfo: per node and zone, the page counts and watermarks.

    ``pcp_count_pages`` sums the ``count:`` lines of the zone's per-CPU
    pagesets: free pages parked on per-CPU lists, not in ``MemFree``
    (``reference/bootlab-debian-6.1.md`` §3.3).

    Raises
    ------
    EvidenceError
        Text before the first ``Node N, zone NAME`` line, a zone missing one of
        its watermark or size lines, or no zone at all.
    """
    lines = split_lines(text, source, line_offset=line_offset)
    zones: list[Zone] = []
    current: _ZoneBuilder | None = None
    for line in lines:
        stripped = line.text.strip()
        if not stripped:
            continue
        hm = _ZONE_HEADER_RE.match(stripped)
        if hm:
            if current is not None:
                zones.append(current.build(source))
            current = _ZoneBuilder(int(hm.group("node")), hm.group("zone"), line.number)
            continue
        if current is None:
            raise EvidenceError(
                f"expected 'Node N, zone NAME' first; found {shorten(stripped)}",
                file=source,
                line=line.number,
            )
        if not line.complete:
            continue  # a cut final line: a number on it may have lost digits
        fm = _FREE_RE.match(stripped)
        if fm:
            current.values.setdefault("free", int(fm.group("pages")))
            continue
        wm = _WATERMARK_RE.match(stripped)
        if wm:
            current.values.setdefault(wm.group("key"), int(wm.group("pages")))
            continue
        pm = _PROTECTION_RE.match(stripped)
        if pm:
            if not current.protection:
                current.protection = tuple(int(v) for v in pm.group("values").split(", "))
            continue
        cm = _COUNT_RE.match(stripped)
        if cm:
            current.pcp_count_pages += int(cm.group("pages"))
            continue
    if current is not None:
        zones.append(current.build(source))
    if not zones:
        raise EvidenceError(
            "expected 'Node N, zone NAME' lines; found none", file=source, line=line_offset + 1
        )
    return Zoneinfo(zones=tuple(zones))
