"""Small charts drawn on the server as inline SVG (no script, no library in the browser): a bar
per week with its value written on it, so the page reads the same on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

WIDTH = 320
HEIGHT = 140
TOP = 16
BOTTOM = 22


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # under the bar (a week: "3/11")
    value: Decimal | None  # 0..1; None: nothing to measure that week
    note: str  # what the bar rests on ("45/50"), in its tooltip


def rate_bars(title: str, bars: Sequence[Bar], *, none_label: str = "–") -> str:
    """An SVG bar chart of rates from 0 to 100 %, each bar labelled with its percentage."""
    slot = WIDTH / max(len(bars), 1)
    inner = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="0" y1="{TOP + inner}" x2="{WIDTH}" y2="{TOP + inner}" stroke="#999"/>',
    ]
    for index, bar in enumerate(bars):
        x = index * slot + slot * 0.15
        width = slot * 0.7
        middle = index * slot + slot / 2
        if bar.value is None:
            parts.append(
                f'<text x="{middle:.1f}" y="{TOP + inner - 4}" text-anchor="middle" '
                f'font-size="10" fill="#777">{escape(none_label)}</text>'
            )
        else:
            height = float(bar.value) * inner
            y = TOP + inner - height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
                f'fill="#2f6f4f"><title>{escape(bar.note)}</title></rect>'
            )
            parts.append(
                f'<text x="{middle:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">'
                f"{round(float(bar.value) * 100)}%</text>"
            )
        parts.append(
            f'<text x="{middle:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="10" '
            f'fill="#555">{escape(bar.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
