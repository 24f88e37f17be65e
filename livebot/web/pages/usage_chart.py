"""A stacked bar chart as inline SVG, drawn on the server: no script, no CDN, CSS for colours."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Final

WIDTH: Final = 880
HEIGHT: Final = 220
LEFT: Final = 64
RIGHT: Final = 24
BOTTOM: Final = 24
TOP: Final = 12
GRID_LINES: Final = 4
SERIES_COLOURS: Final = 6  # .series-0 … .series-5 in page.css


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.01
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor * GRID_LINES >= value:
            return step * factor * GRID_LINES
    return value


def stacked_bars(
    days: list[date], series: dict[str, dict[date, float]], title: str, label: str
) -> str:
    """One bar per day, one coloured segment per series, with a legend and an axis."""
    totals = [sum(values.get(day, 0.0) for values in series.values()) for day in days]
    top = _nice_max(max(totals, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for n in range(GRID_LINES + 1):
        y = TOP + plot_h - plot_h * n / GRID_LINES
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        text = escape(label.format(top * n / GRID_LINES))
        parts.append(
            f'<text class="chart-axis" x="{LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{text}</text>'
        )
    for i, day in enumerate(days):
        x = LEFT + i * slot + slot * 0.15
        y = TOP + plot_h
        for n, (name, values) in enumerate(series.items()):
            value = values.get(day, 0.0)
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            tip = escape(f"{day.isoformat()} · {name}: {label.format(value)}")
            parts.append(
                f'<rect class="chart-bar series-{n % SERIES_COLOURS}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}"><title>{tip}</title></rect>'
            )
        if i % 15 == 0 or i == len(days) - 1:
            parts.append(
                f'<text class="chart-axis" x="{x + slot * 0.35:.1f}" y="{HEIGHT - 6}" '
                f'text-anchor="middle">{day.strftime("%b %d")}</text>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="legend-swatch series-{n % SERIES_COLOURS}"></span>{escape(name)}</li>'
        for n, name in enumerate(series)
    )
    return (
        f'<h2 class="box-header">{escape(title)}</h2><div class="chart-body">{"".join(parts)}'
        f'<ul class="chart-legend">{legend}</ul></div>'
    )
