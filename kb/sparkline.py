"""A tiny trend chart as server-side SVG: no JavaScript, no chart library, prints as it shows.

The SVG is built here as text, so everything put into it is escaped (the label is the only text, and
it may name a topic whose title a rep typed). It has a fixed size so a table of sparklines lines up,
and it is accessible: ``role="img"`` with an ``aria-label`` that reads the numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 120, 28, 3


def _points(values: Sequence[float], width: int, height: int) -> list[tuple[float, float]]:
    top = max(max(values), 1)  # a flat zero line sits at the bottom, not in the middle
    step = (width - 2 * PAD) / max(len(values) - 1, 1)
    usable = height - 2 * PAD
    return [(PAD + i * step, height - PAD - (value / top) * usable) for i, value in enumerate(values)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def sparkline_svg(values: Sequence[float], *, label: str = "", width: int = WIDTH, height: int = HEIGHT) -> str:
    """An SVG sparkline of ``values`` (oldest first); ``label`` prefixes the numbers in the aria-label.

    Negative values count as zero (these are counts); an empty series draws an empty baseline.
    """
    numbers = [max(0.0, float(v)) for v in values]
    spoken = ", ".join(_number(v) for v in numbers) or "no data"
    aria = f"{label}: {spoken}" if label else spoken
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(aria, quote=True)}">',
        f'<title>{escape(aria)}</title>',
        f'<line x1="{PAD}" y1="{height - PAD}" x2="{width - PAD}" y2="{height - PAD}" stroke="#e3e7ef" '
        'stroke-width="1"/>',
    ]
    if numbers:
        points = _points(numbers, width, height)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        area = f"{points[0][0]:.1f},{height - PAD} {path} {points[-1][0]:.1f},{height - PAD}"
        parts.append(f'<polygon points="{area}" fill="#2f5bea" fill-opacity="0.12" stroke="none"/>')
        parts.append(f'<polyline points="{path}" fill="none" stroke="#2f5bea" stroke-width="1.6" '
                     'stroke-linejoin="round" stroke-linecap="round"/>')
        last_x, last_y = points[-1]
        parts.append(f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.2" fill="#2f5bea"/>')
    parts.append("</svg>")
    return "".join(parts)
