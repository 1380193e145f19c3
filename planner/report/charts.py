"""Charts for the HTML reports: matplotlib (Agg) drawn to inline ``<svg>`` markup.

matplotlib is imported inside :func:`_pyplot`, so only writing an HTML report pays for
it (about half a second). Every chart reads without colour: each series or segment has
its own hatch pattern, line style and marker as well as its colour (Paul Tol's colour-blind
safe "light" and "bright" schemes), and bar segments carry their value as text. Hatches are
lines only (``/ \\ | - + x`` and their pairs): matplotlib writes a dot or circle hatch as
one SVG pattern of 20-300 KiB. Text
stays text (``svg.fonttype = none``: selectable, searchable, and small) and names only
generic font families, so the SVG needs no font, image or stylesheet from anywhere.
Every id in an SVG is salted with the chart's anchor (``svg.hashsalt``), so several
charts inline in one page never share an id, and the output is deterministic.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner.errors import PlannerError
from planner.units import KIB_PER_MIB

#: Chart width. [inch] (72 pt each; the page scales the SVG down on narrow screens)
WIDTH_IN = 10.4

#: Tol "bright", for lines
LINE_COLOURS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")
LINE_STYLES = ("-", "--", "-.", ":")
LINE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: light fills for one segment per guest profile (black text and hatching stay legible)
PROFILE_COLOURS = ("#77AADD", "#44BB99", "#AAAA00", "#C2A5CF", "#BFD3E6", "#B8E186", "#FDB863", "#80CDC1")
PROFILE_HATCHES = ("", "//", "--", "xx", "||", "++", "/|", "\\-")


@dataclass(frozen=True)
class Style:
    """How one kind of bar segment looks: legend label, fill colour and hatch."""

    label: str
    colour: str
    hatch: str = ""


@dataclass(frozen=True)
class Segment:
    """A part of a stacked bar: its style key and size [KiB]; ``text`` replaces the MiB label."""

    style: str
    kib: int
    text: str | None = None


@dataclass(frozen=True)
class Bar:
    """One stacked bar; ``limit_kib`` draws a tick (e.g. the node's RAM) across it."""

    label: str
    segments: tuple[Segment, ...]
    limit_kib: int | None = None
    limit_label: str = ""


@dataclass(frozen=True)
class BarPanel:
    """One row of the figure: a title and its bars, on a shared MiB axis."""

    title: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Mark:
    """A marked point of a line (a chosen size) and its annotation."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Series:
    """One line of a line chart, with marked points and optional horizontal guides.

    ``x`` and ``y`` are in the chart's units; ``marks`` are the chosen points;
    ``guides`` draw dotted horizontal lines (e.g. the memory a workload needs) with a label.
    """

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    marks: tuple[Mark, ...] = ()
    guides: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class CalibrationPoint:
    """One boot log of a calibration: RAM, vCPUs, and what the kernel keeps. [KiB]"""

    memory_kib: int
    vcpu_count: int
    measured_keep_kib: int | None  #: RAM - measured MemAvailable
    modelled_keep_kib: int | None
    mem_total_residual_kib: int | None  #: modelled - measured MemTotal
    mem_available_residual_kib: int | None


#: False while building a report that draws no chart (``--csv`` alone): charts are then "".
_DRAWING: contextvars.ContextVar[bool] = contextvars.ContextVar("drawing", default=True)


@contextlib.contextmanager
def drawing(enabled: bool) -> Iterator[None]:
    """Draw charts (the default) or skip them, so that CSV tables never import matplotlib."""
    token = _DRAWING.set(enabled)
    try:
        yield
    finally:
        _DRAWING.reset(token)


# --- matplotlib -------------------------------------------------------------------------------------
#: what to run when matplotlib is missing (it is the ``report`` extra, pyproject.toml)
INSTALL_HINT = "the HTML report needs matplotlib, which is not installed: pip install 'planner[report]'"


def require_matplotlib() -> None:
    """Refuse early (before any work) when matplotlib cannot be imported.

    Raises
    ------
    PlannerError
        With the command that installs it.
    """
    import importlib.util

    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise PlannerError(INSTALL_HINT)


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, with the report's style (imported on first use)."""
    try:
        import matplotlib
    except ImportError:
        raise PlannerError(INSTALL_HINT) from None

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "font.family": "sans-serif",
            "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
            "font.size": 9.0,
            "axes.titlesize": 10.0,
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": "#333333",
            "axes.grid": True,
            "grid.color": "#cccccc",
            "grid.linewidth": 0.5,
            "hatch.color": "#333333",
            "hatch.linewidth": 0.6,
            "legend.frameon": False,
            "legend.fontsize": 8.5,
            "figure.dpi": 72.0,
            "path.simplify": True,
        }
    )
    return plt


_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SIZE = re.compile(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"')


def _svg(fig: Any, salt: str) -> str:
    """The figure as ``<svg>`` markup: no XML prologue, no date, ids salted with ``salt``."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    _pyplot().close(fig)
    text = _METADATA.sub("", _PROLOGUE.sub("", buf.getvalue(), count=1), count=1)
    # keep the aspect ratio but let the page scale the picture to its column
    return _SIZE.sub(
        r'<svg\1 width="\2pt" height="\3pt" preserveAspectRatio="xMinYMin meet" role="img"', text, count=1
    )


def plain(text: str) -> str:
    """A name as literal matplotlib text: ``$`` would start mathtext."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def _mib(kib: float) -> float:
    return kib / KIB_PER_MIB


def _mib_text(kib: float) -> str:
    mib = _mib(kib)
    return f"{mib:,.0f}" if mib >= 100 else f"{mib:,.1f}"


# --- stacked bars -----------------------------------------------------------------------------------
def stacked_bars(
    panels: Sequence[BarPanel],
    styles: Mapping[str, Style],
    *,
    salt: str,
    xlabel: str = "MiB",
    label_share: float = 0.045,
) -> str:
    """Horizontal stacked bars, one panel per row, each on its own MiB axis.

    A segment wider than ``label_share`` of its panel's widest bar carries its size in
    MiB. The legend lists the styles in use, in the order of ``styles``.
    """
    if not _DRAWING.get():
        return ""
    plt = _pyplot()
    heights = [0.5 + 0.4 * len(p.bars) for p in panels]
    used = {s.style for p in panels for b in p.bars for s in b.segments if s.kib > 0}
    legend = [k for k in styles if k in used]
    legend_rows = -(-len(legend) // 4)
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(WIDTH_IN, sum(heights) + 0.45 + 0.22 * legend_rows),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
        layout="constrained",
    )
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        widest = max((sum(s.kib for s in b.segments) for b in panel.bars), default=0)
        widest = max(widest, *(b.limit_kib or 0 for b in panel.bars))
        for row, bar in enumerate(panel.bars):
            _draw_bar(ax, bar, len(panel.bars) - 1 - row, styles, label_share * widest if widest else None)
        ax.set_yticks(range(len(panel.bars)))
        ax.set_yticklabels([plain(b.label) for b in reversed(panel.bars)])
        ax.set_ylim(-0.6, len(panel.bars) - 0.4)
        ax.set_xlim(0, _mib(widest) * 1.02 if widest else 1)
        ax.grid(axis="y", visible=False)
        ax.set_axisbelow(True)
        ax.xaxis.set_major_formatter(_thousands())
        if panel.title:
            ax.set_title(plain(panel.title), loc="left")
    axes[-1, 0].set_xlabel(xlabel)
    _legend(plt, fig, styles, legend)
    return _svg(fig, salt)


def _draw_bar(ax: Any, bar: Bar, y: int, styles: Mapping[str, Style], label_kib: float | None) -> None:
    """One bar of segments at row ``y``; segments of at least ``label_kib`` carry their size."""
    left = 0.0
    for seg in bar.segments:
        if seg.kib <= 0:
            continue
        style = styles[seg.style]
        width = _mib(seg.kib)
        ax.barh(
            y,
            width,
            left=left,
            height=0.62,
            color=style.colour,
            hatch=style.hatch,
            edgecolor="#222222",
            linewidth=0.6,
        )
        if label_kib is not None and seg.kib >= label_kib:
            ax.text(
                left + width / 2,
                y,
                plain(seg.text) if seg.text is not None else _mib_text(seg.kib),
                ha="center",
                va="center",
                fontsize=7.5,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )
        left += width
    if bar.limit_kib:
        x = _mib(bar.limit_kib)
        ax.plot([x, x], [y - 0.42, y + 0.42], color="black", linewidth=1.6)
        if bar.limit_label:
            ax.text(x, y + 0.36, " " + plain(bar.limit_label), fontsize=7, va="bottom")


def _legend(plt: Any, fig: Any, styles: Mapping[str, Style], legend: list[str]) -> None:
    handles = [
        plt.Rectangle(
            (0, 0), 1, 1, facecolor=styles[k].colour, hatch=styles[k].hatch, edgecolor="#222222", lw=0.6
        )
        for k in legend
    ]
    fig.legend(
        handles,
        [plain(styles[k].label) for k in legend],
        loc="outside lower center",
        ncol=min(4, max(1, len(legend))),
        handleheight=1.3,
        handlelength=2.2,
    )


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def _log_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos: int) -> str:
        return f"{v:,.0f}" if v >= 1 else f"{v:g}"

    return FuncFormatter(fmt)


# --- lines ------------------------------------------------------------------------------------------
def line_chart(
    series: Sequence[Series],
    *,
    salt: str,
    xlabel: str,
    ylabel: str,
    logx: bool = True,
    logy: bool = True,
    identity_label: str = "",
    height_in: float = 4.2,
) -> str:
    """Lines (colour, style and marker per series) with the chosen point of each marked.

    ``identity_label`` draws ``y = x`` as a thin grey line with that label (e.g.
    "the whole guest", against which usable memory is read).
    """
    if not _DRAWING.get():
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, height_in))
    xs = [x for s in series for x in s.x]
    annotations: list[Any] = []
    for i, line in enumerate(series):
        _draw_series(ax, i, line, xs, annotations)
    if identity_label and xs:
        lo, hi = min(xs), max(xs)
        ax.plot([lo, hi], [lo, hi], color="#888888", linewidth=0.9, linestyle=(0, (6, 3)))
        ax.text(hi, hi, plain(identity_label) + " ", fontsize=7.5, ha="right", va="bottom", color="#444")
    if logx:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(_log_formatter())
    if logy:
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(_log_formatter())
    else:
        ax.yaxis.set_major_formatter(_thousands())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    fig.tight_layout()
    _spread(fig, annotations)
    return _svg(fig, salt)


def _draw_series(ax: Any, i: int, s: Series, xs: list[float], annotations: list[Any]) -> None:
    """Series ``i``: its line, its marks (labelled alternately above and below, counting the
    ``annotations`` drawn so far) and its guides (``xs``: every x, for the guides' labels)."""
    colour = LINE_COLOURS[i % len(LINE_COLOURS)]
    marker = LINE_MARKERS[i % len(LINE_MARKERS)]
    every = max(1, len(s.x) // 8)
    ax.plot(
        s.x,
        s.y,
        color=colour,
        linestyle=LINE_STYLES[i % len(LINE_STYLES)],
        marker=marker,
        markevery=every,
        markersize=4.5,
        markerfacecolor="white",
        linewidth=1.5,
        label=plain(s.label),
    )
    for mark in s.marks:
        ax.plot(
            [mark.x],
            [mark.y],
            marker=marker,
            markersize=10,
            color=colour,
            markeredgecolor="black",
            linestyle="none",
        )
        ann = ax.annotate(
            plain(mark.label),
            (mark.x, mark.y),
            xytext=(9, -15 if len(annotations) % 2 else 7),
            textcoords="offset points",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": colour},
        )
        annotations.append(ann)
    for guide_y, guide_label in s.guides:
        ax.axhline(guide_y, color=colour, linestyle=":", linewidth=1.0)
        if xs:
            ax.text(min(xs), guide_y, " " + plain(guide_label), fontsize=7.5, va="bottom", color="#222")


def _spread(fig: Any, annotations: list[Any], step_pt: float = 4.0, tries: int = 40) -> None:
    """Move annotations down (then up) until their boxes no longer overlap earlier ones."""
    if len(annotations) < 2:
        return
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for ann in annotations:
        x0, y0 = ann.xyann
        for i in range(tries):
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            shift = step_pt * (i // 2 + 1) * (-1 if i % 2 == 0 else 1)
            ann.xyann = (x0, y0 + shift * 2)
        placed.append(ann.get_window_extent(renderer))


# --- calibration ------------------------------------------------------------------------------------
def calibration_chart(points: Sequence[CalibrationPoint], *, salt: str) -> str:
    """Two panels over guest RAM (log scale): what the kernel keeps (RAM - MemAvailable),
    measured (open circles) against modelled (crosses); and the residuals (model -
    measured, KiB) of MemTotal (squares) and MemAvailable (triangles)."""
    if not _DRAWING.get():
        return ""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(WIDTH_IN, 5.4), sharex=True, gridspec_kw={"height_ratios": (3, 2)}
    )
    keep = [p for p in points if p.measured_keep_kib is not None and p.modelled_keep_kib is not None]
    x = [_mib(p.memory_kib) for p in keep]
    top.plot(
        x,
        [_mib(p.measured_keep_kib or 0) for p in keep],
        "o",
        markersize=7,
        markerfacecolor="none",
        color=LINE_COLOURS[0],
        label="measured (boot log)",
    )
    top.plot(
        x,
        [_mib(p.modelled_keep_kib or 0) for p in keep],
        "x",
        markersize=7,
        color=LINE_COLOURS[1],
        label="modelled",
    )
    top.set_ylabel("kernel keeps, MiB\n(RAM − MemAvailable)")
    top.legend(loc="upper left")
    top.yaxis.set_major_formatter(_thousands())
    total = [p for p in points if p.mem_total_residual_kib is not None]
    avail = [p for p in points if p.mem_available_residual_kib is not None]
    bottom.axhline(0, color="#222222", linewidth=0.8)
    bottom.plot(
        [_mib(p.memory_kib) for p in total],
        [p.mem_total_residual_kib for p in total],
        "s",
        markersize=5.5,
        markerfacecolor="none",
        color=LINE_COLOURS[2],
        label="MemTotal",
    )
    bottom.plot(
        [_mib(p.memory_kib) for p in avail],
        [p.mem_available_residual_kib for p in avail],
        "^",
        markersize=6,
        color=LINE_COLOURS[5],
        label="MemAvailable",
    )
    bottom.set_ylabel("residual, KiB\n(model − measured)")
    bottom.set_xlabel("guest RAM, MiB")
    bottom.legend(loc="best", ncol=2)
    bottom.set_xscale("log", base=2)
    bottom.xaxis.set_major_formatter(_log_formatter())
    fig.tight_layout()
    return _svg(fig, salt)
