"""Parse /proc/meminfo into a :class:`Meminfo` record.

Formats (``reference/kernel-memory-facts.md`` §5): 6.1 ``fs/proc/meminfo.c``
pads labels to 16 columns (``MemTotal:       1004104 kB``), 2.6.18
``fs/proc/proc_misc.c`` to 14; ``HugePages_Total``/``_Free``/``_Rsvd``/``_Surp``
are counts without a unit. Any set of fields is accepted.

The input is read as a stream of tokens, not line by line, so a record that
was wrapped across lines (the seed talk prints ``MemTotal:`` on one line and
``1004104 kB`` on the next) parses as it stands. Lines that are just ``...``
(an excerpt's elision) are skipped.
"""

from __future__ import annotations

import re

from planner.errors import EvidenceError
from planner.evidence._text import shorten, split_lines
from planner.evidence.records import Meminfo

__all__ = ["parse_meminfo"]

_LABEL_RE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_()]*):$")
_NUMBER_RE = re.compile(r"^\d+$")
_EXPECTED = "expected 'Name: value kB' (or 'HugePages_Name: count')"


def _is_count(name: str) -> bool:
    """Fields printed without ``kB``: page counts (6.1 ``hugetlb_report_meminfo()``)."""
    return name.startswith("HugePages_")


def parse_meminfo(text: str, source: str = "<meminfo>", *, line_offset: int = 0) -> Meminfo:
    """Parse /proc/meminfo (any kernel version, any subset of fields).

    Parameters
    ----------
    text
        The file's text; records may be wrapped across lines.
    source
        File name or label used in error messages.
    line_offset
        Added to line numbers (when ``text`` is a section of a larger file).

    Returns
    -------
    Meminfo
        ``fields_kib`` maps each name to its value: KiB for ``kB`` fields, a
        count for ``HugePages_*``.

    Raises
    ------
    EvidenceError
        A token that is not part of a ``Name: value [kB]`` record, a value
        without ``kB`` where the kernel prints one (a truncated file), a field
        given twice, or no field at all.
    """
    lines = split_lines(text, source, line_offset=line_offset)
    # tokens as (text, line, complete-line?)
    tokens: list[tuple[str, int, bool]] = []
    for line in lines:
        stripped = line.text.strip()
        if not stripped or stripped in {"...", "…"}:
            continue
        for tok in stripped.split():
            tokens.append((tok, line.number, line.complete))
    fields: dict[str, int] = {}
    first_line: dict[str, int] = {}
    i = 0
    n = len(tokens)
    while i < n:
        tok, lineno, _ = tokens[i]
        lm = _LABEL_RE.match(tok)
        if not lm:
            raise EvidenceError(f"{_EXPECTED}; found {shorten(tok)}", file=source, line=lineno)
        name = lm.group("name")
        if i + 1 >= n:
            raise EvidenceError(
                f"{_EXPECTED}; found {name + ':'!r} with no value (truncated?)",
                file=source,
                line=lineno,
                field=name,
            )
        value_tok, value_line, value_complete = tokens[i + 1]
        if not _NUMBER_RE.match(value_tok):
            raise EvidenceError(
                f"{_EXPECTED}; found {name}: {shorten(value_tok)}", file=source, line=value_line, field=name
            )
        has_unit = i + 2 < n and tokens[i + 2][0] == "kB"
        if has_unit:
            i += 3
        else:
            i += 2
            if not _is_count(name):
                raise EvidenceError(
                    f"expected '{name}: {value_tok} kB'; found no 'kB' after the value (truncated?)",
                    file=source,
                    line=value_line,
                    field=name,
                )
            if not value_complete and i >= n:
                continue  # a count on a cut final line may have lost digits: do not record it
        if name in fields:
            raise EvidenceError(
                f"expected each field once; found {name!r} again (first at line {first_line[name]})",
                file=source,
                line=lineno,
                field=name,
            )
        fields[name] = int(value_tok)
        first_line[name] = lineno
    if not fields:
        raise EvidenceError(f"{_EXPECTED}; found no meminfo field", file=source, line=line_offset + 1)
    return Meminfo(fields_kib=fields)
