"""Render a :class:`~planner.report.context.ReportPage` with Jinja2 and write files atomically.

One environment for every report: templates from the ``planner.templates`` package
(``templates/`` in the source tree), ``autoescape=True`` (every name, path and note is
escaped: a domain called ``<script>`` shows as text), ``StrictUndefined`` (a field a
template names and the context lacks fails the render).
"""

from __future__ import annotations

import csv
import functools
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from planner import data_dir
from planner.errors import InputError, PlannerError
from planner.files import write_atomic
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


def csv_text(table: Table) -> str:
    """One table as CSV: a header of unit-bearing keys, then the raw values; the minus and
    times signs of row labels as ASCII ``-`` and ``x`` (a spreadsheet or ``grep`` finds them)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow(
            ["" if v is None else v.translate(_CSV_ASCII) if isinstance(v, str) else v for v in row]
        )
    return buf.getvalue()


def _cannot_create_in(directory: Path) -> str | None:
    """Why no file can be created in ``directory`` (None when one can): a real probe, since
    permission bits say nothing for root, /proc or a read-only mount."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".planner-probe.", dir=directory)
    except OSError as err:
        return err.strerror or str(err)
    os.close(fd)
    os.unlink(probe)
    return None


def check_html_target(path: Path) -> Path:
    """Refuse an ``--html`` path the report could not be written to, before any work is done.

    Raises
    ------
    InputError
        When ``path`` is a directory, its directory does not exist, or no file can be created there.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"expected a file name for the HTML report; found the directory {path}", field="--html"
        )
    parent = path.parent
    if not parent.is_dir():
        found = f"the file {parent}" if parent.exists() else f"no directory {parent}"
        raise InputError(
            f"expected an existing directory to write the HTML report into; found {found}", field="--html"
        )
    why = _cannot_create_in(parent)
    if why is not None:
        raise InputError(
            f"expected a directory the HTML report can be written into; "
            f"found {parent}, where no file can be created ({why})",
            field="--html",
        )
    return path


def check_csv_target(directory: Path) -> Path:
    """Refuse a ``--csv`` directory the tables could not be written to, before any work is done.

    The directory itself may be missing (it is created with its parents when the tables are
    written); the nearest part of it that exists must be a directory where files can be created.

    Raises
    ------
    InputError
        When ``directory`` or one of its parents is a file, or nothing can be created there.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"expected a directory for the CSV tables; found the file {directory}", field="--csv"
        )
    existing = next((p for p in (directory, *directory.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise InputError(
            f"expected a directory for the CSV tables; found the file {existing} in {directory}",
            field="--csv",
        )
    why = _cannot_create_in(existing)
    if why is not None:
        raise InputError(
            f"expected a directory the CSV tables can be written into; "
            f"found {existing}, where no file can be created ({why})",
            field="--csv",
        )
    return directory


def _csv_target(directory: Path) -> Path:
    check_csv_target(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"expected a directory that can be created; {err.strerror}", field="--csv") from None
    return directory


def write(page: ReportPage, *, html: Path | None = None, csv_dir: Path | None = None) -> list[Path]:
    """Write the HTML report and/or one CSV per table; return the files written.

    Raises
    ------
    InputError
        When the HTML file's directory does not exist, or ``csv_dir`` is a file.
    PlannerError
        When a file cannot be written (permissions, disk full).
    """
    targets: list[tuple[Path, str]] = []
    if html is not None:
        targets.append((check_html_target(Path(html)), render(page)))
    if csv_dir is not None:
        directory = _csv_target(Path(csv_dir))
        slugs = [t.slug for t in page.tables]
        duplicates = {s for s in slugs if slugs.count(s) > 1}
        if duplicates:  # a builder bug, not bad input
            raise AssertionError(f"duplicate table slugs: {sorted(duplicates)}")
        targets += [(directory / f"{t.slug}.csv", csv_text(t)) for t in page.tables]
    written: list[Path] = []
    for path, text in targets:
        try:
            write_atomic(path, text)
        except OSError as err:
            raise PlannerError(f"could not write {path}: {err.strerror or err}") from None
        written.append(path)
    return written


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
