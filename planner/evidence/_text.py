"""Text hygiene shared by the evidence parsers.

Console captures are not clean text: qemu's serial console gives CRLF line
endings, SeaBIOS writes ANSI escapes (``ESC c``, ``ESC[?7l``, ``ESC[2J``) and a
crashing guest may leave other non-printing bytes. Every parser first turns its
input into :class:`Line` records: CR and ANSI escape sequences removed, other
control characters removed (and the line marked ``damaged``), trailing
whitespace stripped, numbered as in the source file.

A final line that does not end with a newline may have been cut by a
truncated capture; it is marked ``complete=False`` so that parsers can refuse
to read a number from it that might have lost digits (see ``dmesg.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.errors import EvidenceError

#: ANSI/VT100 escape sequences: CSI (``ESC [ ... final``), OSC (``ESC ] ... BEL``),
#: and two-character escapes such as ``ESC c`` (reset) or ``ESC ( B``.
_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)")
#: C0/C1 control characters other than TAB and LF (CR is removed separately), DEL, and
#: U+FFFD (the decoder's stand-in for bytes that were not UTF-8).
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\ufffd]")
#: Characters that make a text look binary (ESC and CR are normal in console captures).
_BINARY_RE = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")

#: Share of non-printing characters above which an input is not text at all. [fraction]
BINARY_FRACTION = 0.10

#: Magic numbers of files that are certainly not logs.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\x7fELF", "an ELF binary"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\x04\x22\x4d\x18", "lz4-compressed data"),
    (b"PK\x03\x04", "a zip archive"),
)


@dataclass(frozen=True)
class Line:
    """One cleaned line of an input text."""

    number: int  # 1-based line number in the source file
    text: str  # without CR, ANSI escapes, control characters and trailing whitespace
    complete: bool = True  # False for a final line with no newline: it may have been cut
    damaged: bool = False  # True if non-printing characters were removed from it


def decode_bytes(raw: bytes, source: str) -> str:
    """Decode a file's bytes as text, refusing binary files.

    Bytes that are not UTF-8 become U+FFFD; :func:`check_text` then decides
    whether the whole is still text.

    Raises
    ------
    EvidenceError
        For compressed or executable files, or mostly non-printing data.
    """
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise EvidenceError(
                f"expected a text log; found {what} (starts with {raw[: len(magic)]!r})", file=source, line=1
            )
    text = raw.decode("utf-8", errors="replace")
    check_text(text, source)
    return text


def check_text(text: str, source: str, *, line_offset: int = 0) -> None:
    """Raise :class:`EvidenceError` if ``text`` is mostly non-printing characters.

    A few stray control bytes (a console line hit by noise) are tolerated and
    removed line by line; more than :data:`BINARY_FRACTION` of the characters
    means the input is not a text log.
    """
    if not text:
        return
    bad = len(_BINARY_RE.findall(text))
    if bad and bad > BINARY_FRACTION * len(text):
        first = _BINARY_RE.search(text)
        line = line_offset + 1 + (text.count("\n", 0, first.start()) if first else 0)
        raise EvidenceError(
            f"expected a text log; found binary data ({bad} of {len(text)} characters are not printable)",
            file=source,
            line=line,
        )


def clean(text: str) -> tuple[str, bool]:
    """Return ``text`` without CR, ANSI escapes, control characters and trailing blanks.

    The flag says whether control characters (not CR, not ANSI escapes) had to be removed.
    """
    out = text.replace("\r", "")
    if "\x1b" in out:
        out = _ANSI_RE.sub("", out)
    damaged = False
    if _CTRL_RE.search(out):
        out = _CTRL_RE.sub("", out)
        damaged = True
    return out.rstrip(), damaged


def split_lines(text: str, source: str, *, line_offset: int = 0) -> list[Line]:
    """Check and clean ``text`` and return its lines.

    Lines are split on ``\\n`` only (not on the other characters
    :meth:`str.splitlines` treats as breaks), so line numbers match what an
    editor shows. ``line_offset`` is added to every line number: a section of a
    larger file reports lines of that file.
    """
    check_text(text, source, line_offset=line_offset)
    if not text:
        return []
    raw_lines = text.split("\n")
    terminated = text.endswith("\n")
    if terminated:
        raw_lines.pop()
    lines: list[Line] = []
    last = len(raw_lines) - 1
    for i, raw in enumerate(raw_lines):
        cleaned, damaged = clean(raw)
        lines.append(
            Line(
                number=line_offset + i + 1,
                text=cleaned,
                complete=terminated or i != last,
                damaged=damaged,
            )
        )
    return lines


def shorten(text: str, limit: int = 120) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters, for error messages."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + "..."


def line_error(message: str, source: str, line: Line, field: str | None = None) -> EvidenceError:
    """An :class:`EvidenceError` located at ``line`` of ``source``."""
    return EvidenceError(message, file=source, line=line.number, field=field)
