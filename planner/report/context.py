"""The template context of an HTML report: typed, documented, and free of arithmetic.

Every number a template shows is computed here or in the builders (:mod:`.fit`,
:mod:`.predict`, :mod:`.check`) and reaches the templates already formatted; the
templates only lay it out. The templates receive one variable, ``page``
(a :class:`ReportPage`), and are rendered with ``StrictUndefined``, so a field that
a template names and the context lacks fails the render instead of printing nothing
(``tests/test_report.py`` renders every report and checks that each field of these
classes is used by some template).

The same :class:`Table` objects are written as CSV by ``--csv DIR``: the CSV gets the
raw values under unit-bearing headers (``guest_memory_kib``), the HTML the formatted
ones under readable headers (``guest size (MiB)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from planner.units import KIB_PER_MIB

#: A raw table value: text, a whole number (KiB, counts), a float (ratios), or missing.
Value = str | int | float | None

#: How a column's raw values are shown in the HTML (CSV always gets the raw value).
#: ``kib_as_mib``: KiB shown as MiB with one decimal; ``mib``: MiB (the CSV holds MiB too) with
#: one decimal; ``kib``: whole KiB with separators;
#: ``count``: whole number with separators; ``percent``: a share (0.123 -> 12.3 %);
#: ``float``: up to 4 significant digits; ``code``: monospace text (hashes, paths, URIs);
#: ``text``: a short name kept on one line; ``prose``: a sentence that wraps (sources, notes).
ColumnKind = Literal["text", "prose", "code", "kib_as_mib", "mib", "kib", "count", "percent", "float"]


def format_value(value: Value, kind: ColumnKind) -> str:
    """One raw value as the HTML shows it (``None`` -> an en dash)."""
    if value is None:
        return "–"
    if isinstance(value, str) or kind in ("text", "prose", "code"):
        return str(value)
    if kind == "kib_as_mib":
        return f"{value / KIB_PER_MIB:,.1f}"
    if kind == "mib":
        return f"{value:,.1f}"
    if kind in ("kib", "count"):
        return f"{round(value):,}"
    if kind == "percent":
        return f"{100 * value:.1f} %"
    return f"{value:,.4g}"


@dataclass(frozen=True)
class Column:
    """One table column.

    Attributes
    ----------
    key
        CSV header, with the unit in the name (``guest_memory_kib``, ``guests``).
    label
        HTML header (``guest size``).
    kind
        How the HTML formats the raw values (:data:`ColumnKind`).
    unit
        Unit shown after the HTML header (``MiB``), empty for none.
    """

    key: str
    label: str
    kind: ColumnKind = "text"
    unit: str = ""

    @property
    def css(self) -> str:
        """The HTML class of its cells: ``num`` (right-aligned), ``code``, ``prose`` or ``text``."""
        if self.kind in ("kib_as_mib", "mib", "kib", "count", "percent", "float"):
            return "num"
        return self.kind


@dataclass(frozen=True)
class Cell:
    """One formatted HTML cell and its class (:attr:`Column.css`)."""

    text: str
    css: str


@dataclass(frozen=True)
class Row:
    """One formatted HTML row; ``style`` is ``""``, ``"total"`` or ``"warn"``."""

    cells: tuple[Cell, ...]
    style: str


@dataclass(frozen=True)
class Table:
    """A table shown in the page and written as ``<slug>.csv`` by ``--csv``.

    Attributes
    ----------
    slug
        File stem of its CSV and HTML id; unique within a report.
    title
        Shown above the table.
    columns
        The columns, in order.
    rows
        Raw values, one tuple per row, as long as ``columns``.
    caption
        One sentence under the table: what it shows and where the numbers come from.
    row_styles
        Per row ``""``, ``"total"`` (a sum) or ``"warn"`` (a problem); empty for all plain.
    collapsed
        Shown folded (``<details>``) in the page: long tables kept for audit and CSV.
    """

    slug: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Value, ...], ...]
    caption: str = ""
    row_styles: tuple[str, ...] = ()
    collapsed: bool = False
    block: Literal["table"] = field(default="table", init=False)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.slug}: row {row!r} has not {len(self.columns)} values")

    @property
    def html_rows(self) -> tuple[Row, ...]:
        """The rows formatted for the page."""
        styles = self.row_styles or ("",) * len(self.rows)
        return tuple(
            Row(
                tuple(Cell(format_value(v, c.kind), c.css) for v, c in zip(row, self.columns, strict=True)),
                style,
            )
            for row, style in zip(self.rows, styles, strict=True)
        )


@dataclass(frozen=True)
class Chart:
    """A chart drawn by matplotlib, inlined as ``<svg>`` markup.

    ``svg`` is trusted markup: matplotlib writes every label as escaped XML text
    (``&lt;script&gt;``), and the page inserts it as it is. ``description`` says in
    words what the chart shows, for readers without the picture (screen readers, the
    page's text).
    """

    anchor: str
    title: str
    svg: str
    caption: str
    description: str
    block: Literal["chart"] = field(default="chart", init=False)


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text."""

    text: str
    block: Literal["paragraph"] = field(default="paragraph", init=False)


@dataclass(frozen=True)
class ItemList:
    """A bulleted list; ``style`` ``"warn"`` marks warnings, ``"note"`` notes."""

    title: str
    items: tuple[str, ...]
    style: str = ""
    block: Literal["list"] = field(default="list", init=False)


@dataclass(frozen=True)
class KeyFigure:
    """A headline number of the summary.

    Attributes
    ----------
    label
        What it is (``guaranteed guests``).
    value
        The number, formatted (``270``, ``67,584 KiB``).
    detail
        One line under it (``optimal; binds: node 0 memory``).
    tone
        ``""``, ``"good"``, ``"warn"`` or ``"muted"`` (an overcommitted figure).
    """

    label: str
    value: str
    detail: str = ""
    tone: str = ""


Block = Table | Chart | Paragraph | ItemList


@dataclass(frozen=True)
class Section:
    """A titled part of the report: a lead paragraph and its blocks, in order."""

    anchor: str
    title: str
    lead: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Provenance:
    """What a reader needs to audit the report.

    Attributes
    ----------
    command
        The planner command that makes this report again.
    generated_utc
        When it was made (ISO 8601, UTC).
    inputs
        Files read: role, path, sha256 (host file, profiles, calibrations).
    sources
        Where each parameter's value comes from (profile and calibration sources).
    versions
        planner, Python and the libraries that computed and drew it.
    """

    command: str
    generated_utc: str
    inputs: Table
    sources: Table
    versions: Table


@dataclass(frozen=True)
class ReportPage:
    """The whole context of one report (the templates' only variable, ``page``).

    Attributes
    ----------
    kind
        ``fit``, ``predict``, ``check`` or ``tune``: which template renders it.
    title, subtitle
        The page heading and the line under it.
    figures
        Headline numbers shown first.
    notices
        Warnings (``style="warn"``) and notes shown under the headline numbers.
    sections
        The body, in order; the page's table of contents lists them.
    provenance
        Inputs, sources and versions (the last section).
    """

    kind: Literal["fit", "predict", "check", "tune"]
    title: str
    subtitle: str
    figures: tuple[KeyFigure, ...]
    notices: tuple[ItemList, ...]
    sections: tuple[Section, ...]
    provenance: Provenance

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table of the report, in page order (what ``--csv`` writes)."""
        out = [b for s in self.sections for b in s.blocks if isinstance(b, Table)]
        out += [self.provenance.inputs, self.provenance.sources, self.provenance.versions]
        return tuple(out)

    @property
    def charts(self) -> tuple[Chart, ...]:
        return tuple(b for s in self.sections for b in s.blocks if isinstance(b, Chart))
