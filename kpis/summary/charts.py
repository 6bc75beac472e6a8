"""Inline SVG charts for the HTML summary.

Hand-written SVG rather than a plotting library: the charts are simple (a line over five score
bands, stacked bars), the output must be self-contained text inside the HTML (no fonts, scripts
or images to embed), and the figures must match the tables to the digit. Every text node passes
through `escape`, though charts only ever receive periods, labels and numbers.
"""
from __future__ import annotations

from decimal import Decimal
from html import escape

STATUS_COLOURS = {"on_target": "#1a7f37", "at_risk": "#bf8700", "off_track": "#cf222e", "no_data": "#8c959f"}
BAND_FILLS = ("#fbe3e4", "#fdf0d5", "#fdf8d5", "#e6f4ea", "#d1ecd9")  # score 1..5, light so print stays legible


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def trend_chart(points: list[tuple[str, Decimal | None, str]], title: str, width: int = 640, height: int = 180) -> str:
    """Composite score per period on the 1–5 scale; missing composites leave a gap in the line."""
    left, right, top, bottom = 34, 40, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(score: float) -> float:
        return top + plot_h * (5 - score) / 4

    body = []
    for band in range(1, 5):  # bands between integer scores, coloured by the score they reach
        body.append(f'<rect x="{left}" y="{y(band + 1):.1f}" width="{plot_w}" height="{plot_h / 4:.1f}" '
                    f'fill="{BAND_FILLS[band]}"/>')
    for score in range(1, 6):
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(score):.1f}" y2="{y(score):.1f}" '
                    f'stroke="#d0d7de" stroke-width="1"/>')
        body.append(f'<text x="{left - 6}" y="{y(score) + 4:.1f}" text-anchor="end" font-size="11">{score}</text>')
    n = len(points)
    step = plot_w / max(n - 1, 1)
    xs = [left + (i * step if n > 1 else plot_w / 2) for i in range(n)]
    segment: list[str] = []
    segments = []
    for x, (_, value, _) in zip(xs, points):
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
        else:
            segment.append(f"{x:.1f},{y(float(value)):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            body.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="#24292f" stroke-width="2"/>')
    for x, (label, value, status) in zip(xs, points):
        if value is not None:
            body.append(f'<circle cx="{x:.1f}" cy="{y(float(value)):.1f}" r="4" '
                        f'fill="{STATUS_COLOURS.get(status, "#8c959f")}" stroke="#24292f" stroke-width="1"/>')
        body.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" font-size="11">{escape(label)}</text>')
    return _svg(width, height, title, body)


def stacked_bars(rows: list[tuple[str, Decimal, Decimal]], title: str, legend: tuple[str, str],
                 width: int = 520) -> str:
    """One horizontal bar per row: the integrated part, then the rest of the total.

    rows: (label, integrated, total). Bars share one scale so rows compare at a glance.
    """
    label_w, bar_h, gap, legend_h = 90, 18, 10, 22
    height = legend_h + len(rows) * (bar_h + gap) + 4
    scale_max = max((float(total) for _, _, total in rows), default=0.0) or 1.0
    plot_w = width - label_w - 10
    body = [
        f'<rect x="{label_w}" y="4" width="12" height="12" fill="#0969da"/>'
        f'<text x="{label_w + 16}" y="14" font-size="11">{escape(legend[0])}</text>',
        f'<rect x="{label_w + 170}" y="4" width="12" height="12" fill="#d0d7de" stroke="#8c959f"/>'
        f'<text x="{label_w + 186}" y="14" font-size="11">{escape(legend[1])}</text>',
    ]
    for i, (label, integrated, total) in enumerate(rows):
        top = legend_h + i * (bar_h + gap)
        total_w = plot_w * float(total) / scale_max
        integrated_w = plot_w * float(integrated) / scale_max
        body.append(f'<text x="{label_w - 6}" y="{top + 13}" text-anchor="end" font-size="11">{escape(label)}</text>')
        body.append(f'<rect x="{label_w}" y="{top}" width="{total_w:.1f}" height="{bar_h}" fill="#d0d7de" '
                    f'stroke="#8c959f"/>')
        body.append(f'<rect x="{label_w}" y="{top}" width="{integrated_w:.1f}" height="{bar_h}" fill="#0969da"/>')
    return _svg(width, height, title, body)
