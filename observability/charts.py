"""Server-side SVG charts: a person reads them at a glance; no script, no inline style.

Colours come from classes (`series-0` … `series-7`) in static/observability/dashboards.css, so
the strict CSP (no 'unsafe-inline') holds.
"""

from __future__ import annotations

import math
from datetime import date
from html import escape

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28
PALETTE = 8


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times 10^n at or above `value` (an axis top people can read)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def _fmt(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:,.0f}{(' ' + unit) if unit else ''}"


def _frame(title: str, top: float, unit: str, days: list[date], body: list[str]) -> SafeString:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        format_html(
            '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>',
            WIDTH,
            HEIGHT,
            title,
            title,
        )
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 6,
                f"{y + 4:.1f}",
                _fmt(value, unit),
            )
        )
    last = len(days) - 1
    for index in sorted({0, last // 2, last}) if days else []:
        # The end labels hug the plot's edges so they are not cut off.
        anchor = "start" if index == 0 and last else "end" if index == last and last else "middle"
        x = (
            LEFT
            if anchor == "start"
            else WIDTH - RIGHT
            if anchor == "end"
            else _x(index, len(days))
        )
        parts.append(
            format_html(
                '<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                f"{x:.1f}",
                HEIGHT - 8,
                anchor,
                days[index].isoformat(),
            )
        )
    parts.extend(body)
    parts.append("</svg>")
    return mark_safe("".join(str(p) for p in parts))  # every piece above is escaped


def _x(index: int, count: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    return LEFT + (plot_w * (index + 0.5) / count if count else 0)


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * value / top


def line_chart(title: str, days: list[date], series: list, unit: str = "") -> SafeString:
    """One line per series; a gap where a day has no data."""
    values = [v for _, points in series for v in points if v is not None]
    top = nice_max(max(values, default=0))
    body = []
    for n, (name, points) in enumerate(series):
        segment: list[str] = []
        segments = [segment]
        for index, value in enumerate(points):
            if value is None:
                segment = []
                segments.append(segment)
                continue
            segment.append(f"{_x(index, len(days)):.1f},{_y(value, top):.1f}")
        for points_attr in (" ".join(s) for s in segments if s):
            body.append(
                format_html(
                    '<polyline class="line series-{}" points="{}"><title>{}</title></polyline>',
                    n % PALETTE,
                    points_attr,
                    name,
                )
            )
    return _frame(title, top, unit, days, body)


def stacked_bar_chart(title: str, days: list[date], series: list, unit: str = "") -> SafeString:
    """One bar per day, stacked by series (e.g. cost per day by model)."""
    stacks = [sum(points[i] or 0 for _, points in series) for i in range(len(days))]
    top = nice_max(max(stacks, default=0))
    width = max((WIDTH - LEFT - RIGHT) / max(len(days), 1) * 0.7, 1)
    body = []
    base = [0.0] * len(days)
    for n, (name, points) in enumerate(series):
        # A year is ~1,500 bars: plain f-strings, with the only free text (the name) escaped once.
        label = escape(str(name))
        for index, value in enumerate(points):
            if not value:
                continue
            y_top, y_base = _y(base[index] + value, top), _y(base[index], top)
            body.append(
                f'<rect class="bar series-{n % PALETTE}" x="{_x(index, len(days)) - width / 2:.1f}"'
                f' y="{y_top:.1f}" width="{width:.1f}" height="{max(y_base - y_top, 0.5):.1f}">'
                f"<title>{days[index].isoformat()} {label}: {escape(_fmt(value, unit))}</title>"
                "</rect>"
            )
            base[index] += value
    return _frame(title, top, unit, days, body)


def legend(series: list) -> SafeString:
    items = "".join(
        str(format_html('<li><span class="swatch series-{}"></span>{}</li>', n % PALETTE, name))
        for n, (name, _) in enumerate(series)
    )
    return mark_safe(f'<ul class="legend">{items}</ul>') if items else mark_safe("")
