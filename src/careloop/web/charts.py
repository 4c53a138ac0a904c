"""Small server-rendered SVG line charts (trends of vitals and labs) with an accessible title and description."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from careloop.web.formatting import day, number

WIDTH, HEIGHT = 320, 132
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 24


@dataclass(frozen=True)
class Series:
    """One line: a name, (time, value) points in any order, and a tone (CSS modifier) for its colour."""

    name: str
    points: tuple[tuple[dt.datetime, float], ...]
    tone: str = "primary"


def describe(series: Sequence[Series], unit: str, tz: str) -> str:
    """A text equivalent of the chart for screen readers: range of dates and the latest values."""
    parts = []
    for s in series:
        ordered = sorted(s.points)
        first, last = ordered[0], ordered[-1]
        parts.append(f"{s.name}: {len(ordered)} values from {day(first[0], tz)} to {day(last[0], tz)}, "
                     f"latest {number(last[1])} {unit}")
    return "; ".join(parts)


def _scale(lo: float, hi: float, size: float, start: float, *, invert: bool = False):
    span = hi - lo

    def to(value: float) -> float:
        ratio = 0.5 if span == 0 else (value - lo) / span
        return round(start + (1 - ratio if invert else ratio) * size, 1)
    return to


def line_chart(series: Sequence[Series], *, chart_id: str, title: str, unit: str, tz: str = "UTC") -> Markup:
    """An SVG line chart of one or more series sharing a time axis and a unit; empty series are skipped."""
    series = [s for s in series if s.points]
    if not series:
        return Markup("")
    times = [t.timestamp() for s in series for t, _ in s.points]
    values = [v for s in series for _, v in s.points]
    pad = max((max(values) - min(values)) * 0.1, 1.0)
    lo, hi = min(values) - pad, max(values) + pad
    x = _scale(min(times), max(times), WIDTH - LEFT - RIGHT, LEFT)
    y = _scale(lo, hi, HEIGHT - TOP - BOTTOM, TOP, invert=True)
    first, last = min(t for s in series for t, _ in s.points), max(t for s in series for t, _ in s.points)
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" focusable="false" '
           f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
           f'<title id="{chart_id}-title">{escape(title)}</title>',
           f'<desc id="{chart_id}-desc">{escape(describe(series, unit, tz))}</desc>']
    for value in (max(values), min(values)):
        out.append(f'<line class="chart-gridline" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value)}" y2="{y(value)}"/>'
                   f'<text class="chart-label" x="{LEFT - 6}" y="{y(value) + 4}" text-anchor="end">'
                   f'{escape(number(value))}</text>')
    out.append(f'<text class="chart-label" x="{LEFT}" y="{HEIGHT - 6}">{escape(day(first, tz))}</text>'
               f'<text class="chart-label" x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
               f'{escape(day(last, tz))}</text>')
    for s in series:
        ordered = sorted(s.points)
        coords = " ".join(f"{x(t.timestamp())},{y(v)}" for t, v in ordered)
        out.append(f'<polyline class="chart-line chart-line--{escape(s.tone)}" points="{coords}"/>')
        out.extend(f'<circle class="chart-point chart-point--{escape(s.tone)}" cx="{x(t.timestamp())}" '
                   f'cy="{y(v)}" r="2.5"><title>{escape(s.name)} {escape(number(v))} {escape(unit)}, '
                   f'{escape(day(t, tz))}</title></circle>' for t, v in ordered)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text and attribute value above is escaped)
