"""Small bar charts drawn as SVG, embedded in the report's HTML (no plotting library needed)."""

from __future__ import annotations

from html import escape


def bar_chart_svg(
    *, bars: list[tuple[str, float]], title: str, unit: str = "", width: int = 720, height: int = 220
) -> str:
    """A vertical bar chart: one bar per (label, value), value labels on top, every label under its bar
    when they fit (else every few)."""
    left, right, top, bottom = 40, 10, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((value for _, value in bars), default=0) or 1
    slot = plot_w / max(len(bars), 1)
    every = max(1, round(len(bars) / 16))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Sarabun" font-size="10">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{_number(peak)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for index, (label, value) in enumerate(bars):
        bar_h = plot_h * value / peak
        x = left + index * slot + slot * 0.15
        y = top + plot_h - bar_h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="#2f6db5"/>')
        if value:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{y - 2:.1f}" text-anchor="middle">{_number(value)}{unit}</text>'
            )
        if index % every == 0:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
