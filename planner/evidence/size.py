"""Parse ``size vmlinux`` (Berkeley format) into a :class:`SizeOutput` record.

binutils ``binutils/size.c`` (``reference/kernel-memory-facts.md`` §6) prints::

       text\t   data\t    bss\t    dec\t    hex\tfilename
    4791288\t1185948\t 626328\t6603564\t 64c32c\tvmlinux

Columns may be separated by tabs or spaces (the seed talk shows spaces). The
``dec`` and ``hex`` columns repeat ``text + data + bss``; a row where they do
not agree is refused, which also catches a truncated or altered row.
"""

from __future__ import annotations

import re

from planner.errors import EvidenceError
from planner.evidence._text import shorten, split_lines
from planner.evidence.records import SizeOutput

__all__ = ["parse_size"]

_HEADER_RE = re.compile(r"^text\s+data\s+bss\s+dec\s+hex\s+filename$")
_ROW_RE = re.compile(
    r"^(?P<text>\d+)\s+(?P<data>\d+)\s+(?P<bss>\d+)\s+(?P<dec>\d+)\s+(?P<hex>[0-9a-fA-F]+)\s+(?P<file>\S.*)$"
)
_EXPECTED = "expected Berkeley 'size' output ('text data bss dec hex filename' and one row per file)"


def parse_size(text: str, source: str = "<size>", *, line_offset: int = 0) -> SizeOutput:
    """Parse Berkeley ``size`` output for one file (``vmlinux``).

    With several rows, the row whose file name is or ends in ``vmlinux`` is
    taken; several rows and none of them ``vmlinux`` is an error.

    Raises
    ------
    EvidenceError
        No header, a malformed row, ``dec``/``hex`` not equal to
        ``text + data + bss``, or an ambiguous choice of row.
    """
    lines = split_lines(text, source, line_offset=line_offset)
    header_seen = False
    rows: list[tuple[SizeOutput, int]] = []
    for line in lines:
        stripped = line.text.strip()
        if not stripped:
            continue
        if not header_seen:
            if not _HEADER_RE.match(stripped):
                raise EvidenceError(f"{_EXPECTED}; found {shorten(stripped)}", file=source, line=line.number)
            header_seen = True
            continue
        rm = _ROW_RE.match(stripped)
        if not rm:
            raise EvidenceError(
                f"{_EXPECTED}; found row {shorten(stripped)}", file=source, line=line.number, field="size"
            )
        text_bytes, data_bytes, bss_bytes = int(rm.group("text")), int(rm.group("data")), int(rm.group("bss"))
        dec_bytes, hex_bytes = int(rm.group("dec")), int(rm.group("hex"), 16)
        total = text_bytes + data_bytes + bss_bytes
        if dec_bytes != total or hex_bytes != total:
            raise EvidenceError(
                f"expected dec = hex = text + data + bss = {total} ({total:x}); "
                f"found dec {dec_bytes}, hex {rm.group('hex')} in {shorten(stripped)}",
                file=source,
                line=line.number,
                field="size",
            )
        rows.append(
            (
                SizeOutput(
                    text_bytes=text_bytes,
                    data_bytes=data_bytes,
                    bss_bytes=bss_bytes,
                    dec_bytes=dec_bytes,
                    filename=rm.group("file").strip(),
                ),
                line.number,
            )
        )
    if not rows:
        raise EvidenceError(f"{_EXPECTED}; found no row", file=source, line=line_offset + 1)
    if len(rows) == 1:
        return rows[0][0]
    vmlinux = [row for row, _ in rows if row.filename.rsplit("/", 1)[-1].startswith("vmlinux")]
    if len(vmlinux) == 1:
        return vmlinux[0]
    raise EvidenceError(
        f"expected one row for vmlinux; found {len(rows)} rows ({', '.join(r.filename for r, _ in rows)})",
        file=source,
        line=rows[0][1],
        field="size",
    )
