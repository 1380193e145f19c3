"""HTML and CSV reports of ``planner fit``, ``predict``, ``check`` and ``tune``, and the
readable text of every result (:mod:`.text`).

A typed result (:mod:`planner.results`, which carries everything a report shows) is turned
into a typed template context (:mod:`planner.report.context`) by a builder (:mod:`.fit`,
:mod:`.predict`, :mod:`.check`, :mod:`.tune`), drawn with matplotlib to inline SVG (:mod:`.charts`) and
rendered by one Jinja2 environment (:mod:`.render`, templates in ``templates/``) into one
self-contained HTML file: inline CSS and charts, no script, no request to anything.
``--csv DIR`` writes each of the report's tables as ``DIR/<slug>.csv``. A report never reads
an input again, runs the kernel model or solves. ``prepare_*_report`` renders a report and
checks its targets (never one of the result's input files) without writing anything;
``write_*_report`` then writes it, all or nothing.

Jinja2 and matplotlib are imported only when a report is written.

Examples
--------
>>> from planner.api import fit                                   # doctest: +SKIP
>>> write_fit_report(fit("examples/kvm-two-nodes.yaml"), html=Path("plan.html"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from planner.report import charts, render
from planner.report.context import ReportPage
from planner.results import CheckResult, FitResult, PredictResult
from planner.results.tune import TuneReport

__all__ = [
    "ReportPage",
    "check_page",
    "fit_page",
    "predict_page",
    "prepare_check_report",
    "prepare_fit_report",
    "prepare_predict_report",
    "prepare_tune_report",
    "tune_page",
    "write_check_report",
    "write_fit_report",
    "write_predict_report",
    "write_tune_report",
]

R = TypeVar("R", FitResult, PredictResult, CheckResult, TuneReport)


def fit_page(result: FitResult) -> ReportPage:
    """The context of a ``planner fit`` report."""
    from planner.report.fit import fit_page as build

    return build(result)


def predict_page(result: PredictResult) -> ReportPage:
    """The context of a ``planner predict`` report."""
    from planner.report.predict import predict_page as build

    return build(result)


def check_page(result: CheckResult) -> ReportPage:
    """The context of a ``planner check`` report."""
    from planner.report.check import check_page as build

    return build(result)


def tune_page(result: TuneReport) -> ReportPage:
    """The context of a ``planner tune`` report."""
    from planner.report.tune import tune_page as build

    return build(result)


def _prepare(
    build: Callable[[R], ReportPage], result: R, html: Path | None, csv_dir: Path | None
) -> render.PendingReport:
    inputs = tuple((f.role, f.path) for f in result.input_files)
    if html is None and csv_dir is None:
        return render.PendingReport((), (), inputs)
    with charts.drawing(html is not None):
        page = build(result)
    return render.prepare(page, html=html, csv_dir=csv_dir, inputs=inputs)


def prepare_fit_report(
    result: FitResult, *, html: Path | None = None, csv_dir: Path | None = None
) -> render.PendingReport:
    """The fit report rendered and its targets checked (against the files the fit read, too)."""
    return _prepare(fit_page, result, html, csv_dir)


def prepare_predict_report(
    result: PredictResult, *, html: Path | None = None, csv_dir: Path | None = None
) -> render.PendingReport:
    """The predict report rendered and its targets checked."""
    return _prepare(predict_page, result, html, csv_dir)


def prepare_check_report(
    result: CheckResult, *, html: Path | None = None, csv_dir: Path | None = None
) -> render.PendingReport:
    """The check report rendered and its targets checked."""
    return _prepare(check_page, result, html, csv_dir)


def prepare_tune_report(
    result: TuneReport, *, html: Path | None = None, csv_dir: Path | None = None
) -> render.PendingReport:
    """The tune report rendered and its targets checked (against the files the tune read, too)."""
    return _prepare(tune_page, result, html, csv_dir)


def write_fit_report(
    result: FitResult, *, html: Path | None = None, csv_dir: Path | None = None
) -> list[Path]:
    """Write the fit report as HTML and/or CSV tables; return the files written."""
    return prepare_fit_report(result, html=html, csv_dir=csv_dir).write()


def write_predict_report(
    result: PredictResult, *, html: Path | None = None, csv_dir: Path | None = None
) -> list[Path]:
    """Write the predict report as HTML and/or CSV tables; return the files written."""
    return prepare_predict_report(result, html=html, csv_dir=csv_dir).write()


def write_check_report(
    result: CheckResult, *, html: Path | None = None, csv_dir: Path | None = None
) -> list[Path]:
    """Write the check report as HTML and/or CSV tables; return the files written."""
    return prepare_check_report(result, html=html, csv_dir=csv_dir).write()


def write_tune_report(
    result: TuneReport, *, html: Path | None = None, csv_dir: Path | None = None
) -> list[Path]:
    """Write the tune report as HTML and/or CSV tables; return the files written."""
    return prepare_tune_report(result, html=html, csv_dir=csv_dir).write()
