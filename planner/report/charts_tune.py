"""Charts of the ``planner tune`` report: the savings waterfall and guests per host.

Drawn like every report chart (:mod:`.charts`): matplotlib on Agg to inline SVG, colour and a
hatch per term, values written on the bars, nothing fetched from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.report.charts import (
    _DRAWING,
    LINE_COLOURS,
    WIDTH_IN,
    Segment,
    Style,
    _pyplot,
    _svg,
    _thousands,
    plain,
)


@dataclass(frozen=True)
class WaterfallStep:
    """One change of the waterfall: what it saves, per term group (negative: a term grows). [KiB]"""

    label: str
    segments: tuple[Segment, ...]

    @property
    def net_kib(self) -> int:
        return sum(s.kib for s in self.segments)


@dataclass(frozen=True)
class CountBar:
    """One packing of the host: its label and guests per host."""

    label: str
    count: int


#: one drawn part of a step: (bottom, height, style key, whether the term grows) [KiB]
Part = tuple[float, int, str, bool]


def _parts(level: float, step: WaterfallStep) -> tuple[list[Part], float]:
    """A floating bar from ``level``: terms that shrink stacked up, then terms that grow back
    down; and the level after it."""
    parts: list[Part] = []
    bottom = level
    for s in sorted(step.segments, key=lambda s: s.kib < 0):
        parts.append((bottom, s.kib, s.style, s.kib < 0))
        bottom += s.kib
    return parts, bottom


def savings_waterfall(steps: Sequence[WaterfallStep], styles: Mapping[str, Style], *, salt: str) -> str:
    """Cumulative saving, change by change, then the whole recommendation (KiB, from 0 up).

    Each step floats from the saving of the changes before it; its terms are stacked in the
    colour and hatch of ``styles``; a term a change makes grow is drawn white with a dashed
    outline. The last bar is the recommendation's total, by term.
    """
    if not _DRAWING.get():
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.8), layout="constrained")
    totals: dict[str, int] = {}
    level = 0.0
    bars: list[tuple[int, list[Part]]] = []
    for i, step in enumerate(steps):
        parts, after = _parts(level, step)
        bars.append((i, parts))
        top = level + sum(s.kib for s in step.segments if s.kib > 0)
        ax.text(i, max(top, after), f"{step.net_kib:+,}", ha="center", va="bottom", fontsize=7.5)
        ax.plot([i + 0.31, i + 0.69], [after, after], color="#555555", linewidth=0.8, linestyle=":")
        level = after
        for s in step.segments:
            totals[s.style] = totals.get(s.style, 0) + s.kib
    total = WaterfallStep("recommended", tuple(Segment(k, v) for k, v in totals.items() if v))
    bars.append((len(steps), _parts(0.0, total)[0]))
    for x, parts in bars:
        for bottom, height, key, grows in parts:
            style = styles[key]
            ax.bar(x, height, bottom=bottom, width=0.62, color="white" if grows else style.colour,
                   hatch=style.hatch, edgecolor=style.colour if grows else "#222222",
                   linestyle="--" if grows else "-", linewidth=0.8)  # fmt: skip
    ax.text(
        len(steps), max(level, 0), f"{level:,.0f} KiB", ha="center", va="bottom", fontsize=8, weight="bold"
    )
    ax.set_xticks(range(len(steps) + 1))
    ax.set_xticklabels([plain(s.label) for s in steps] + ["recommended (all)"], rotation=18, ha="right")
    ax.set_ylabel("saved per kernel, KiB")
    ax.yaxis.set_major_formatter(_thousands())
    ax.grid(axis="x", visible=False)
    ax.set_axisbelow(True)
    ax.axhline(0, color="#222222", linewidth=0.8)
    used = [k for k in styles if k in totals]
    handles = [
        plt.Rectangle(
            (0, 0), 1, 1, facecolor=styles[k].colour, hatch=styles[k].hatch, edgecolor="#222", lw=0.6
        )
        for k in used
    ]
    fig.legend(handles, [plain(styles[k].label) for k in used], loc="outside lower center", ncol=4)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.08)
    return _svg(fig, salt)


def count_bars(bars: Sequence[CountBar], *, salt: str) -> str:
    """Guests per host for each packing, the first (now) as the reference line."""
    if not _DRAWING.get():
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.8 + 0.42 * len(bars)))
    base = bars[0].count if bars else 0
    for row, bar in enumerate(bars):
        y = len(bars) - 1 - row
        first = row == 0
        ax.barh(
            y,
            bar.count,
            height=0.62,
            color="#DDDDDD" if first else LINE_COLOURS[0],
            hatch="" if first else "//",
            edgecolor="#222222",
            linewidth=0.6,
        )
        text = f"{bar.count:,}" if first else f"{bar.count:,} ({bar.count - base:+,})"
        ax.text(bar.count, y, " " + text, va="center", fontsize=8)
    ax.axvline(base, color="#222222", linewidth=1.0, linestyle="--")
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([plain(b.label) for b in reversed(bars)])
    widest = max((b.count for b in bars), default=1)
    ax.set_xlim(0, widest * 1.15)
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_xlabel("guests per host (planner fit, guaranteed)")
    ax.grid(axis="y", visible=False)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return _svg(fig, salt)
