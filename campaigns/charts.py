"""Small server-rendered SVG charts for the effectiveness report and the admin dashboard.

No JavaScript and no plotting library: a line chart is a few dozen SVG elements, and the same
markup works in an e-mailed report, in the admin and in a headless browser test.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def line_chart(
    title: str,
    series: dict[str, list[float]],
    labels: list[str],
    *,
    width: int = 460,
    height: int = 220,
    percent: bool = False,
) -> str:
    """An SVG line chart: one line per series over the same x labels (e.g. days)."""
    left, right, top, bottom = 48, 12, 28, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for points in series.values() for v in points if v is not None]
    high = max(values, default=0) or 1
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / high

    def fmt(v: float) -> str:
        return f"{v:.0%}" if percent else (f"{v:,.0f}" if v >= 10 else f"{v:.2g}")

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for frac in (0, 0.5, 1):
        yy = y(high * frac)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end">{fmt(high * frac)}</text>'
        )
    step = max(1, n // 7)
    for i in range(0, n, step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle">'
            f"{escape(str(labels[i]))}</text>"
        )
    for k, (name, points) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(points) if v is not None)
        if path:
            parts.append(
                f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{color}" '
                f'stroke-width="2" points="{path}"/>'
            )
        parts.append(
            f'<rect x="{left + 110 * k}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + 110 * k + 14}" y="{height - 5}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: dict[str, float], *, width: int = 460, percent: bool = False) -> str:
    """A horizontal SVG bar chart, one bar per label."""
    row, left, top = 20, 150, 26
    height = top + row * max(len(bars), 1) + 8
    high = max(bars.values(), default=0) or 1
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars.items()):
        yy = top + i * row
        w = (width - left - 60) * value / high
        shown = f"{value:.1%}" if percent else f"{value:,.0f}"
        parts.append(
            f'<text x="{left - 6}" y="{yy + 13}" font-size="11" text-anchor="end">{escape(str(label))}</text>'
            f'<rect class="bar" x="{left}" y="{yy + 2}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[0]}"/>'
            f'<text x="{left + w + 4:.1f}" y="{yy + 13}" font-size="11">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
