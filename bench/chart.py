"""The picture beside the table: an SVG chart of a run's comparisons (``bench/targets.py``),
drawn from its results JSON, so a live run and ``bench/run.py --chart FILE`` draw the same.

One group per scenario, one horizontal bar per comparison: Berth's figure divided by the
peer's, on a log scale around parity (1.0x), so 2x and 0.5x are the same length on either
side and a 7x fan-out does not flatten a 0.35x ceiling. Each bar has a black tick at its
target, is green when the target was met and red when it was not (grey, with the reason, when
there is no ratio), and its row ends with the figures in words. A "lower is better" metric
(latency, memory, instructions) says so in its label: its bar meets the target on the left of
the tick. An informational comparison (what the compiled hot path is worth over the pure
one) is blue whatever its verdict: it is a figure to watch, not a promise to keep.

Written by hand as plain SVG text (no plotting library: the harness runs on the standard
library only, and the file is small and diffable). Text sizes assume a sans-serif font of
about 0.6 em per character, which is what the column widths are computed from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from bench.targets import ratio_words

# Layout, in px.
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
FONT_SIZE = 13
CHAR_W = 0.6 * FONT_SIZE  # average advance of a sans-serif character, for column widths
MARGIN = 16
TITLE_H = 62  # title and the legend line under it
AXIS_H = 24  # tick labels above the plot
GROUP_H = 26  # a scenario's heading
ROW_H = 24
BAR_H = 14
PLOT_W = 460
REASON_CHARS = 32  # of an error shown in place of a verdict
VALUE_W = (32 + REASON_CHARS) * CHAR_W  # "not measured · target <= 0.50x · <reason>"
SCALE_MIN, SCALE_MAX = 1 / 64, 64.0  # ratios beyond are drawn at the edge

MET, MISSED, UNKNOWN, INFO = "#2e8b57", "#c0392b", "#9e9e9e", "#4a78b5"
_GRID_STYLE = 'stroke="#dddddd" stroke-width="1" stroke-dasharray="3,3"'
# The metrics whose ratio is the scenario's own per-second figure need no word in the label.
_METRIC_WORDS = {
    "requests_per_sec": "",
    "messages_per_sec": "",
    "p99": "p99 latency",
    "kib_per_conn": "KiB/conn",
    "server_us_per_delivery": "CPU/delivery",
    "instructions_per_request": "instructions/req",
}


@dataclass(frozen=True)
class Bar:
    """One comparison as drawn."""

    scenario: str
    label: str
    ratio: float | None
    target: float
    higher_is_better: bool
    met: bool | None
    error: str | None
    informational: bool = False

    @classmethod
    def from_json(cls, comparison: Mapping[str, Any]) -> Bar:
        metric = str(comparison.get("metric", "requests_per_sec"))
        words = _METRIC_WORDS.get(metric, metric)
        higher = bool(comparison.get("higher_is_better", True))
        label = f"{comparison['subject']} / {comparison['baseline']}"
        if words:
            label += f" \u00b7 {words}"
        if not higher:
            label += " (lower is better)"
        ratio = comparison.get("ratio")
        return cls(
            scenario=str(comparison["scenario"]),
            label=label,
            ratio=float(ratio) if ratio is not None else None,
            target=float(comparison["target"]),
            higher_is_better=higher,
            met=comparison.get("met"),
            error=comparison.get("error"),
            informational=bool(comparison.get("informational", False)),
        )

    @property
    def colour(self) -> str:
        if self.ratio is None or self.met is None:
            return UNKNOWN
        if self.informational:
            return INFO
        return MET if self.met else MISSED

    @property
    def figure(self) -> str:
        return ratio_words(self.ratio, self.target) if self.ratio is not None else "not measured"

    @property
    def target_words(self) -> str:
        sign = "\u2265" if self.higher_is_better else "\u2264"
        return f"target {sign} {self.target:.2f}x"

    @property
    def verdict(self) -> str:
        """met, NOT met, or why there is no ratio (cut short: the whole reason is in the bar's
        tooltip and the results file)."""
        if self.ratio is None or self.met is None:
            reason = self.error or ""
            return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "\u2026"
        if self.informational:
            return "informational: " + ("met" if self.met else "not met")
        return "met" if self.met else "NOT met"

    @property
    def words(self) -> str:
        """The figures at the end of the row, as one line (the bar's tooltip)."""
        return " \u00b7 ".join(
            part for part in (self.figure, self.target_words, self.verdict) if part
        )


def groups(bars: Sequence[Bar]) -> list[tuple[str, list[Bar]]]:
    """The bars by scenario, scenarios in the order they first appear (the run's order)."""
    out: dict[str, list[Bar]] = {}
    for bar in bars:
        out.setdefault(bar.scenario, []).append(bar)
    return list(out.items())


def scale_bounds(bars: Sequence[Bar]) -> tuple[float, float]:
    """Powers of two around every ratio and target, parity always inside."""
    values = [1.0] + [bar.target for bar in bars]
    values += [bar.ratio for bar in bars if bar.ratio is not None and bar.ratio > 0]
    low = max(min(values) / 1.15, SCALE_MIN)
    high = min(max(values) * 1.15, SCALE_MAX)
    return 2.0 ** math.floor(math.log2(low)), 2.0 ** math.ceil(math.log2(high))


def _tick_label(value: float) -> str:
    return f"{value:g}x" if value >= 0.1 else f"1/{round(1 / value)}x"


def _text(x: float, y: float, content: str, **attrs: str | float) -> str:
    extra = "".join(
        f" {name.replace('_', '-')}={quoteattr(str(value))}" for name, value in attrs.items()
    )
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def _words(x: float, y: float, bar: Bar) -> str:
    """The row's figures: the ratio in bold, the target in grey, the verdict in the bar's
    colour (a missed target in bold)."""
    verdict = bar.verdict
    weight = "bold" if bar.met is False and not bar.informational else "normal"
    parts = [
        f'<tspan font-weight="bold">{escape(bar.figure)}</tspan>',
        f'<tspan fill="#555555"> \u00b7 {escape(bar.target_words)}</tspan>',
    ]
    if verdict:
        parts.append(
            f'<tspan fill="{bar.colour}" font-weight="{weight}"> \u00b7 {escape(verdict)}</tspan>'
        )
    return f'<text class="figures" x="{x:.1f}" y="{y:.1f}">{"".join(parts)}</text>'


def render(data: Mapping[str, Any], source: str = "") -> str:
    """The SVG document for a results file's data (``source``: its name, for the title)."""
    bars = [Bar.from_json(comparison) for comparison in data.get("comparisons") or []]
    grouped = groups(bars)
    label_w = max([len(bar.label) for bar in bars] + [30]) * CHAR_W + 12
    plot_x = MARGIN + label_w
    width = plot_x + PLOT_W + 12 + VALUE_W + MARGIN
    height = MARGIN + TITLE_H + AXIS_H + sum(GROUP_H + ROW_H * len(b) for _, b in grouped)
    height += MARGIN + (ROW_H if not bars else 0)
    low, high = scale_bounds(bars)

    def x_of(ratio: float) -> float:
        clamped = min(max(ratio, low), high)
        return plot_x + PLOT_W * math.log(clamped / low) / math.log(high / low)

    git = data.get("git") or {}
    commit = str(git.get("commit") or "")[:7] + (" (dirty tree)" if git.get("dirty") else "")
    title = "Berth against its peers: each comparison's ratio and its target"
    params = data.get("params") or {}
    shape = (
        f"{params['runs']} x {params['duration_s']} s per cell"
        if "runs" in params and "duration_s" in params
        else ""
    )
    started = str(data.get("started", ""))
    subtitle = " \u00b7 ".join(
        part for part in (source, started, commit and f"commit {commit}", shape) if part
    )
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family={quoteattr(FONT)} '
        f'font-size="{FONT_SIZE}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        _text(MARGIN, MARGIN + 16, title, font_size=16, font_weight="bold"),
        _text(MARGIN, MARGIN + 34, subtitle, fill="#555555"),
    ]
    # The legend: what a bar, its colours and the tick mean.
    legend_y = MARGIN + 54
    legend = [
        (MET, "met"),
        (MISSED, "missed"),
        (UNKNOWN, "not measured"),
        (INFO, "informational"),
    ]
    x = float(MARGIN)
    intro = "bar: Berth's figure \u00f7 the peer's, from 1x (the same), log scale"
    out.append(_text(x, legend_y, intro, fill="#333333"))
    x += (len(intro) + 3) * CHAR_W
    for colour, word in legend:
        out.append(
            f'<rect x="{x:.1f}" y="{legend_y - 10:.1f}" width="18" height="10" fill="{colour}"/>'
        )
        out.append(_text(x + 22, legend_y, word))
        x += 22 + (len(word) + 3) * CHAR_W
    out.append(
        f'<line x1="{x + 4:.1f}" y1="{legend_y - 12:.1f}" x2="{x + 4:.1f}" y2="{legend_y + 2:.1f}" '
        'stroke="#000000" stroke-width="2.5"/>'
    )
    out.append(_text(x + 10, legend_y, "target"))

    top = MARGIN + TITLE_H + AXIS_H
    bottom = height - MARGIN
    # The scale: a gridline and a label per power of two, parity stronger.
    tick = low
    while tick <= high * 1.0001:
        tx = x_of(tick)
        parity = abs(tick - 1.0) < 1e-9
        style = 'stroke="#777777" stroke-width="1.5"' if parity else _GRID_STYLE
        out.append(
            f'<line class="grid" x1="{tx:.1f}" y1="{top - 4:.1f}" x2="{tx:.1f}" '
            f'y2="{bottom:.1f}" {style}/>'
        )
        out.append(_text(tx, top - 8, _tick_label(tick), text_anchor="middle", fill="#555555"))
        tick *= 2
    if not bars:
        out.append(_text(plot_x, top + 18, "no comparisons in this run", fill="#555555"))

    y = float(top)
    for scenario, scenario_bars in grouped:
        out.append(
            f'<rect x="{MARGIN}" y="{y + 2:.1f}" width="{width - 2 * MARGIN:.1f}" '
            f'height="{GROUP_H - 4}" fill="#f2f2f2"/>'
        )
        out.append(_text(MARGIN + 6, y + GROUP_H / 2 + 5, scenario, font_weight="bold"))
        y += GROUP_H
        for bar in scenario_bars:
            mid = y + ROW_H / 2
            out.append(_text(plot_x - 10, mid + 4.5, bar.label, text_anchor="end", fill="#222222"))
            if bar.ratio is not None and bar.ratio > 0:
                x1, x2 = sorted((x_of(1.0), x_of(bar.ratio)))
                out.append(
                    f'<rect class="bar" x="{x1:.1f}" y="{mid - BAR_H / 2:.1f}" '
                    f'width="{max(x2 - x1, 1.5):.1f}" height="{BAR_H}" fill="{bar.colour}">'
                    f"<title>{escape(bar.label + ': ' + bar.words)}</title></rect>"
                )
            else:
                out.append(
                    f'<rect class="bar" x="{x_of(1.0) - 0.75:.1f}" y="{mid - BAR_H / 2:.1f}" '
                    f'width="1.5" height="{BAR_H}" fill="{UNKNOWN}">'
                    f"<title>{escape(bar.label + ': ' + str(bar.error))}</title></rect>"
                )
            tx = x_of(bar.target)
            out.append(
                f'<line class="target" x1="{tx:.1f}" y1="{mid - BAR_H / 2 - 4:.1f}" '
                f'x2="{tx:.1f}" y2="{mid + BAR_H / 2 + 4:.1f}" stroke="#000000" '
                'stroke-width="2.5"/>'
            )
            out.append(_words(plot_x + PLOT_W + 12, mid + 4.5, bar))
            y += ROW_H
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_chart(results: Mapping[str, Any], path: Path, source: str = "") -> None:
    """Render ``results`` (a results file's data) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, source), encoding="utf-8")
