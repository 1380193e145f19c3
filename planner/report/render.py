"""Render a :class:`~planner.report.context.ReportPage` with Jinja2 and write files atomically.

One environment for every report: templates from the ``planner.templates`` package
(``templates/`` in the source tree), ``autoescape=True`` (every name, path and note is
escaped: a domain called ``<script>`` shows as text), ``StrictUndefined`` (a field a
template names and the context lacks fails the render).

CSV cells are made in one place (:func:`csv_cell`), which neutralises text a spreadsheet
would run as a formula. Files are written under :mod:`planner.files`' output rule:
:func:`prepare` renders everything in memory and checks every target (before the command
prints anything), :meth:`PendingReport.write` checks again and writes all or nothing.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner import data_dir
from planner.errors import PlannerError
from planner.files import (
    Output,
    OutputDir,
    check_output_dir,
    check_output_file,
    check_outputs,
    write_outputs,
)
from planner.report.context import ReportPage, Table


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment of the reports (made once per process)."""
    import jinja2

    root = data_dir("templates")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_names() -> tuple[str, ...]:
    """Every template file (``base.html``, the partials, one page per report kind)."""
    root = data_dir("templates")
    return tuple(sorted(e.name for e in root.iterdir() if e.name.endswith(".html")))


def render(page: ReportPage) -> str:
    """The report as one self-contained HTML document."""
    return str(environment().get_template(f"{page.kind}.html").render(page=page))


#: typography the HTML uses in row labels, as plain ASCII in CSV (``− host kernel``, ``× 1.2``)
_CSV_ASCII = str.maketrans({"\u2212": "-", "\u00d7": "x"})
#: what a spreadsheet takes as the start of a formula (OWASP "CSV Injection"): ``= + - @``,
#: and tab and carriage return, which some strip before looking
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: a plain number, which keeps its sign and stays a number (``-2``, ``1.5e3``)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """One CSV cell: None as empty, the row labels' typography as ASCII, and text that a
    spreadsheet would run as a formula neutralised with a leading ``'`` (OWASP "CSV
    Injection": a domain named ``=1+2+cmd|x!A0`` is written ``'=1+2+cmd|x!A0``, the label
    ``− host kernel`` is written ``'- host kernel``). Numbers, and text that is a plain
    number (``-2``), stay as they are."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = value.translate(_CSV_ASCII)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(table: Table) -> str:
    """One table as CSV: a header of unit-bearing keys, then the raw values, every cell
    through :func:`csv_cell` (the one place CSV cells are made)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(c.key) for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def check_html_target(path: Path) -> Path:
    """Refuse an ``--html`` path the report may not be written to (:mod:`planner.files`' rule),
    before any work is done."""
    return check_output_file(path, option="--html", what="the HTML report")


def check_csv_target(directory: Path) -> Path:
    """Refuse a ``--csv`` directory the tables may not be written into, before any work is done:
    a directory, or a new name in an existing directory (it is created when the tables are
    written; its parents are not)."""
    return check_output_dir(directory, option="--csv", what="the CSV tables")


@dataclass(frozen=True)
class PendingReport:
    """A report rendered in memory and checked against its targets and inputs, not yet written."""

    outputs: tuple[Output, ...]
    new_dirs: tuple[OutputDir, ...]
    inputs: tuple[tuple[str, str], ...]

    def write(self) -> list[Path]:
        """Write every file, all or nothing (checked again first); return the files written.

        Raises
        ------
        InputError
            A target the output rule refuses (made so since it was checked).
        PlannerError
            A file that cannot be written (permissions, disk full).
        """
        try:
            return write_outputs(self.outputs, inputs=self.inputs, new_dirs=self.new_dirs)
        except OSError as err:
            where = f" {err.filename}" if err.filename else ""
            raise PlannerError(f"could not write{where}: {err.strerror or err}") from None


def prepare(
    page: ReportPage,
    *,
    html: Path | None = None,
    csv_dir: Path | None = None,
    inputs: Sequence[tuple[str, str]] = (),
) -> PendingReport:
    """Render the HTML report and/or one CSV per table in memory, and check every target
    (:func:`planner.files.check_outputs`) before anything is written or printed.

    Raises
    ------
    InputError
        A target the output rule refuses: not a regular file, a symlink, a missing directory,
        one of ``inputs``.
    """
    outputs: list[Output] = []
    new_dirs: list[OutputDir] = []
    if html is not None:
        outputs.append(Output(Path(html), render(page), "--html", "the HTML report"))
    if csv_dir is not None:
        directory = Path(csv_dir)
        new_dirs.append(OutputDir(directory, "--csv", "the CSV tables"))
        slugs = [t.slug for t in page.tables]
        duplicates = {s for s in slugs if slugs.count(s) > 1}
        if duplicates:  # a builder bug, not bad input
            raise AssertionError(f"duplicate table slugs: {sorted(duplicates)}")
        outputs += [
            Output(directory / f"{t.slug}.csv", csv_text(t), "--csv", f"the CSV table {t.slug}.csv")
            for t in page.tables
        ]
    pending = PendingReport(tuple(outputs), tuple(new_dirs), tuple(inputs))
    check_outputs(pending.outputs, inputs=pending.inputs, new_dirs=pending.new_dirs)
    return pending


def write(
    page: ReportPage,
    *,
    html: Path | None = None,
    csv_dir: Path | None = None,
    inputs: Sequence[tuple[str, str]] = (),
) -> list[Path]:
    """Write the HTML report and/or one CSV per table (:func:`prepare`, then write); return
    the files written."""
    return prepare(page, html=html, csv_dir=csv_dir, inputs=inputs).write()


def slug(text: str) -> str:
    """A CSV file stem / HTML id from a name: lower case letters, digits and dashes."""
    out = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in out.split("-") if part) or "x"


def unique(slugs: Iterable[str]) -> list[str]:
    """Make slugs unique by numbering repeats (``a``, ``a-2``)."""
    seen: dict[str, int] = {}
    out = []
    for s in slugs:
        seen[s] = seen.get(s, 0) + 1
        out.append(s if seen[s] == 1 else f"{s}-{seen[s]}")
    return out
