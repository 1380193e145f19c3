"""Parse /proc/slabinfo (version 2.1) and ``slabtop`` output into :class:`Slabinfo` records.

Formats (``reference/kernel-memory-facts.md`` §5):

* /proc/slabinfo, identical in 2.6.18 ``mm/slab.c`` and 6.1 ``mm/slab_common.c``::

      slabinfo - version: 2.1            ("2.1 (statistics)" with CONFIG_DEBUG_SLAB)
      # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ...
      "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu"

  The statistics variant appends ``: globalstat ...`` and ``: cpustat ...``.
  Memory per cache = ``num_slabs * pagesperslab * 4 KiB``.
* procps ``slabtop`` (and ``slabtop -o``): five summary lines, then
  ``OBJS ACTIVE USE OBJ SIZE SLABS OBJ/SLAB CACHE SIZE NAME`` and rows
  ``"%6u %6u %3u%% %7.2fK %6u %8u %9uK %-23s"``.

slabtop rows are read as a token stream, eight tokens a row, so rows wrapped
across lines (the seed talk prints ``20560 20560 100% 0.24K 1285`` / ``16`` /
``5140K dentry_cache``) parse as they stand; so do summary lines whose value
sits on the next line.
"""

from __future__ import annotations

import re

from planner.errors import EvidenceError
from planner.evidence._text import Line, shorten, split_lines
from planner.evidence.records import SlabCache, Slabinfo
from planner.units import BYTES_PER_KIB, PAGE_KIB

__all__ = ["parse_slab_text", "parse_slabinfo", "parse_slabtop"]

_VERSION_RE = re.compile(r"^slabinfo - version: (?P<version>\S+(?: \(statistics\))?)$")
_SUPPORTED_VERSIONS = ("2.1", "2.1 (statistics)")
_ROW_RE = re.compile(
    r"^(?P<name>\S.*?)\s+(?P<active>\d+)\s+(?P<num>\d+)\s+(?P<size>\d+)\s+(?P<per>\d+)\s+(?P<pages>\d+)"
    r"\s*:\s*tunables\s+\d+\s+\d+\s+\d+"
    r"\s*:\s*slabdata\s+(?P<active_slabs>\d+)\s+(?P<num_slabs>\d+)\s+\d+"
    r"(?P<stats>\s*:\s*globalstat(?:\s+\d+)+\s*:\s*cpustat(?:\s+\d+)+)?$"
)
_ROW_EXPECTED = (
    "'name active_objs num_objs objsize objperslab pagesperslab : tunables L B S : slabdata A N S'"
)


def parse_slabinfo(text: str, source: str = "<slabinfo>", *, line_offset: int = 0) -> Slabinfo:
    """Parse /proc/slabinfo version 2.1 or ``2.1 (statistics)``.

    Parameters
    ----------
    text
        The file's text.
    source
        File name or label used in error messages.
    line_offset
        Added to line numbers (when ``text`` is a section of a larger file).

    Raises
    ------
    EvidenceError
        No version header, another version, or a row that is not a full 2.1 row
        (a truncated file ends in one).
    """
    lines = split_lines(text, source, line_offset=line_offset)
    version: str | None = None
    caches: list[SlabCache] = []
    for line in lines:
        stripped = line.text.strip()
        if not stripped:
            continue
        if version is None:
            vm = _VERSION_RE.match(stripped)
            if not vm:
                raise EvidenceError(
                    f"expected 'slabinfo - version: 2.1'; found {shorten(stripped)}",
                    file=source,
                    line=line.number,
                )
            version = vm.group("version")
            if version not in _SUPPORTED_VERSIONS:
                raise EvidenceError(
                    f"expected slabinfo version {' or '.join(repr(v) for v in _SUPPORTED_VERSIONS)}; "
                    f"found {version!r}",
                    file=source,
                    line=line.number,
                )
            continue
        if stripped.startswith("#"):
            continue
        rm = _ROW_RE.match(stripped)
        # a cut final row fails here too: every field up to num_slabs is followed by another field
        if not rm or (version == "2.1 (statistics)") != bool(rm.group("stats")):
            what = "truncated" if not line.complete else "malformed"
            raise EvidenceError(
                f"{what} slabinfo row: expected {_ROW_EXPECTED}"
                f"{' : globalstat ... : cpustat ...' if version != '2.1' else ''}; found {shorten(stripped)}",
                file=source,
                line=line.number,
            )
        pages_per_slab = int(rm.group("pages"))
        num_slabs = int(rm.group("num_slabs"))
        caches.append(
            SlabCache(
                name=rm.group("name"),
                active_objs=int(rm.group("active")),
                num_objs=int(rm.group("num")),
                obj_size_bytes=int(rm.group("size")),
                objs_per_slab=int(rm.group("per")),
                pages_per_slab=pages_per_slab,
                num_slabs=num_slabs,
                # 6.1 mm/slab_common.c: memory per cache = num_slabs << order pages
                cache_kib=num_slabs * pages_per_slab * PAGE_KIB,
                active_slabs=int(rm.group("active_slabs")),
            )
        )
    if version is None:
        raise EvidenceError(
            "expected 'slabinfo - version: 2.1'; found an empty file", file=source, line=line_offset + 1
        )
    return Slabinfo(version=version, caches=tuple(caches))


def parse_slab_text(text: str, source: str, line_offset: int = 0) -> Slabinfo:
    """/proc/slabinfo (it has a ``slabinfo - version`` header) or else ``slabtop`` output."""
    if "slabinfo - version" in text:
        return parse_slabinfo(text, source, line_offset=line_offset)
    return parse_slabtop(text, source, line_offset=line_offset)


# --- slabtop ---------------------------------------------------------------------------------------
_SUMMARY_RE = re.compile(
    r"(?P<label>Active / Total (?:Objects|Slabs|Caches|Size) \(% used\))\s*:\s*"
    r"(?P<active>\d+(?:\.\d+)?)K? / (?P<total>\d+(?:\.\d+)?)K? \((?P<pct>\d+(?:\.\d+)?)%\)"
)
_OBJECT_SIZES_RE = re.compile(
    r"Minimum / Average / Maximum Object\s*:\s*(?P<min>\d+(?:\.\d+)?)K / (?P<avg>\d+(?:\.\d+)?)K / "
    r"(?P<max>\d+(?:\.\d+)?)K"
)
_HEADER_RE = re.compile(r"^OBJS\s+ACTIVE\s+USE\s+OBJ\s+SIZE\s+SLABS\s+OBJ/SLAB\s+CACHE\s+SIZE\s+NAME$")
#: the seven numeric columns of a slabtop row, then the name
_COLUMN_RES = (
    ("OBJS", re.compile(r"^\d+$")),
    ("ACTIVE", re.compile(r"^\d+$")),
    ("USE", re.compile(r"^\d+%$")),
    ("OBJ SIZE", re.compile(r"^\d+(?:\.\d+)?K$")),
    ("SLABS", re.compile(r"^\d+$")),
    ("OBJ/SLAB", re.compile(r"^\d+$")),
    ("CACHE SIZE", re.compile(r"^\d+K$")),
    ("NAME", re.compile(r"^\S+$")),
)
_ROW_TOKENS = len(_COLUMN_RES)


def parse_slabtop(text: str, source: str = "<slabtop>", *, line_offset: int = 0) -> Slabinfo:
    """Parse ``slabtop`` / ``slabtop -o`` output, rows possibly wrapped across lines.

    ``obj_size_bytes`` is slabtop's ``OBJ SIZE`` (printed in KiB with two
    decimals) times 1024, rounded: the exact object size is not in the output.
    ``pages_per_slab`` is ``None`` (slabtop does not print it); ``cache_kib`` is
    the ``CACHE SIZE`` column.

    Raises
    ------
    EvidenceError
        Neither summary lines nor the column header; a row token that does not
        fit its column; a row cut short (truncated output).
    """
    lines = split_lines(text, source, line_offset=line_offset)
    header_index: int | None = None
    for index, line in enumerate(lines):
        if _HEADER_RE.match(line.text.strip()):
            header_index = index
            break
    head_lines = lines if header_index is None else lines[:header_index]
    head_text = " ".join(line.text.strip() for line in head_lines)
    summary: dict[str, tuple[float, float]] = {}
    for sm in _SUMMARY_RE.finditer(head_text):
        summary[sm.group("label")] = (float(sm.group("active")), float(sm.group("total")))
    om = _OBJECT_SIZES_RE.search(head_text)
    object_size_kib = (float(om.group("min")), float(om.group("avg")), float(om.group("max"))) if om else None
    if header_index is None and not summary and object_size_kib is None:
        raise EvidenceError(
            "expected slabtop output ('Active / Total Objects (% used) : ...' lines and the "
            "'OBJS ACTIVE USE OBJ SIZE SLABS OBJ/SLAB CACHE SIZE NAME' header); found neither",
            file=source,
            line=line_offset + 1,
        )
    caches = _slabtop_rows(lines[header_index + 1 :], source) if header_index is not None else []
    return Slabinfo(version="slabtop", caches=tuple(caches), summary=summary, object_size_kib=object_size_kib)


def _slabtop_rows(lines: list[Line], source: str) -> list[SlabCache]:
    """The rows below the column header, read as a token stream of eight tokens a row."""
    tokens: list[tuple[str, int]] = []
    for line in lines:
        stripped = line.text.strip()
        if not stripped or stripped in {"...", "…"}:
            continue
        if not line.complete:
            # a cut final line: its last token (a name, a size) may have lost characters
            raise EvidenceError(
                f"truncated slabtop output: the last line has no newline; found {shorten(stripped)}",
                file=source,
                line=line.number,
            )
        tokens.extend((tok, line.number) for tok in stripped.split())
    if len(tokens) % _ROW_TOKENS:
        start = len(tokens) - len(tokens) % _ROW_TOKENS
        raise EvidenceError(
            f"truncated slabtop row: expected {_ROW_TOKENS} columns (OBJS ACTIVE USE OBJ SIZE SLABS "
            f"OBJ/SLAB CACHE SIZE NAME); found {' '.join(t for t, _ in tokens[start:])!r}",
            file=source,
            line=tokens[start][1],
        )
    caches: list[SlabCache] = []
    for start in range(0, len(tokens), _ROW_TOKENS):
        row = tokens[start : start + _ROW_TOKENS]
        for (column, pattern), (tok, lineno) in zip(_COLUMN_RES, row, strict=True):
            if not pattern.match(tok):
                raise EvidenceError(
                    f"malformed slabtop row: expected {column} column; found {shorten(tok)}",
                    file=source,
                    line=lineno,
                    field=column,
                )
        objs, active, _use, obj_size, slabs, per_slab, cache_size, name = (t for t, _ in row)
        caches.append(
            SlabCache(
                name=name,
                active_objs=int(active),
                num_objs=int(objs),
                obj_size_bytes=round(float(obj_size[:-1]) * BYTES_PER_KIB),
                objs_per_slab=int(per_slab),
                pages_per_slab=None,
                num_slabs=int(slabs),
                cache_kib=int(cache_size[:-1]),
            )
        )
    return caches
