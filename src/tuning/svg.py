"""Small inline SVG charts for the offline reports: no script, no external file.

Each function returns the markup of one ``<svg>`` element; text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 140, 14, 44
COLORS = ("#1f5fa8", "#d9622b", "#2b8a3e", "#8a2b8a")


def _nice_max(values: Sequence[float]) -> float:
    top = max([v for v in values if v is not None] + [0.0])
    if top <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(top))
    for m in (1, 2, 2.5, 5, 10):
        if top <= m * step:
            return m * step
    return 10 * step


def _frame(y_max: float, y_label: str, x_labels: list[tuple[float, str]], percent: bool) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(y_label)}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    for i in range(5):
        v = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        text = f"{v:.0%}" if percent else (f"{v:g}" if v != int(v) else str(int(v)))
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    for x, label in x_labels:
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.0f}" transform="rotate(-90 12 {TOP + plot_h / 2:.0f})"'
        f' text-anchor="middle">{escape(y_label)}</text>'
    )
    return "".join(parts)


def _legend(names: Sequence[str]) -> str:
    parts = []
    for i, name in enumerate(names):
        y = TOP + 10 + 18 * i
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{y - 8}" width="12" height="10" '
            f'fill="{COLORS[i % len(COLORS)]}"/>'
            f'<text x="{WIDTH - RIGHT + 30}" y="{y + 1}">{escape(name)}</text>'
        )
    return "".join(parts)


def lines(
    x: Sequence[float],
    series: dict[str, Sequence[float | None]],
    y_label: str,
    x_text: Sequence[str] | None = None,
    percent: bool = False,
    mark_x: float | None = None,
    x_label: str = "",
) -> str:
    """One polyline per series over numeric ``x`` (None breaks a line); ``x`` spanning ten
    times or more (all positive) is drawn on a log scale."""
    if not x:
        return ""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    log = min(x) > 0 and max(x) >= 10 * min(x)
    scale = math.log10 if log else float
    lo, hi = scale(min(x)), scale(max(x))
    span = (hi - lo) or 1.0
    y_max = 1.0 if percent else _nice_max([v for s in series.values() for v in s if v is not None])

    def px(v: float) -> float:
        return LEFT + plot_w * (scale(v) - lo) / span if hi > lo else LEFT + plot_w / 2

    def py(v: float) -> float:
        return TOP + plot_h - plot_h * v / y_max

    labels = list(x_text) if x_text is not None else [f"{v:g}" for v in x]
    step = max(1, math.ceil(len(x) / 10))
    ticks = [(px(v), labels[i]) for i, v in enumerate(x) if i % step == 0]
    parts = [_frame(y_max, y_label, ticks, percent)]
    if x_label:
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
            f"{escape(x_label)}{' (log scale)' if log else ''}</text>"
        )
    if mark_x is not None:
        parts.append(
            f'<line x1="{px(mark_x):.1f}" x2="{px(mark_x):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            'stroke="#444" stroke-dasharray="4 3"/>'
        )
    for i, (name, values) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path, pen = [], "M"
        for xv, yv in zip(x, values, strict=True):
            if yv is None:
                pen = "M"
                continue
            path.append(f"{pen}{px(xv):.1f},{py(yv):.1f}")
            pen = "L"
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2">'
            f"<title>{escape(name)}</title></path>"
        )
    parts.append(_legend(list(series)))
    parts.append("</svg>")
    return "".join(parts)


def bars(
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    y_label: str,
    percent: bool = False,
) -> str:
    """Grouped bars, one group per category; a None value is drawn as "n/a"."""
    if not categories:
        return ""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max = 1.0 if percent else _nice_max([v for s in series.values() for v in s if v is not None])
    group = plot_w / len(categories)
    bar = group * 0.8 / max(len(series), 1)
    ticks = [(LEFT + group * (i + 0.5), c) for i, c in enumerate(categories)]
    parts = [_frame(y_max, y_label, ticks, percent)]
    for j, (name, values) in enumerate(series.items()):
        color = COLORS[j % len(COLORS)]
        for i, v in enumerate(values):
            x = LEFT + group * i + group * 0.1 + bar * j
            if v is None:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h - 4}" text-anchor="middle" '
                    'fill="#888">n/a</text>'
                )
                continue
            h = plot_h * v / y_max
            value = f"{v:.0%}" if percent else f"{v:g}"
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(name)} '
                f"{escape(categories[i])}: {value}</title></rect>"
            )
    parts.append(_legend(list(series)))
    parts.append("</svg>")
    return "".join(parts)
