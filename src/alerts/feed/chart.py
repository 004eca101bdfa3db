"""The curve of an alert (用电曲线, or a station sensor's readings), laid out for an inline
SVG from frozen evidence.

The evidence an alert freezes holds the readings before the detection (``values``), the
baseline they were compared with (``baseline``, same length, same slots; optional), the
threshold crossed (``threshold``), the slot length and the end time of the first slot. An
optional band (``baseline_low``/``baseline_high``) is drawn when present, and a station's
limit lines (``limits``: name -> value, such as its warning level) as labelled lines.
Missing readings (null) break the line instead of being drawn as zero. Series far from
zero (a water level of 100 m against limits of 101 and 102 m) get an axis that does not
start at zero; daily points (``slot_minutes`` of a day) are labelled with their dates.

>>> c = curve({"values": [1.0, None, 3.0], "baseline": [1.0, 1.0, 1.0], "threshold": 2.0,
...            "first_end_ms": 0, "slot_minutes": 15, "unit": "kWh"})
>>> c.observed.count("M"), c.points
(2, 2)
>>> w = curve({"values": [100.2, 100.9], "limits": {"warning_level_m": 101.0},
...            "first_end_ms": 0, "slot_minutes": 5, "unit": "m", "metric": "water.level_m"})
>>> [(line.label, line.value) for line in w.limits], w.y_ticks[0].label, w.title
([('warning_level_m', 101.0)], '100', '水位 / water level')
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.catalogue import CATALOGUE

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
CST = datetime.timezone(datetime.timedelta(hours=8))
Scale = Callable[[int], float]
ValueScale = Callable[[float], float]


@dataclass(frozen=True, slots=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class LimitLine:
    """A station limit drawn across the plot (its evidence name and value)."""

    y: float
    label: str
    value: float


@dataclass(frozen=True, slots=True)
class Curve:
    """Everything the template needs: SVG path data and axis ticks, in pixels."""

    width: int
    height: int
    unit: str
    observed: str  # path data of the readings
    baseline: str  # path data of the baseline centre
    band: str  # closed path of the baseline band, or ""
    threshold_y: float | None
    threshold: float | None
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    points: int  # readings drawn (non-null values)
    limits: tuple[LimitLine, ...] = ()
    title: str = "用电曲线 / Usage curve"
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM


def curve(evidence: dict[str, Any]) -> Curve | None:
    """Lay out the curve, or None when the evidence has no series (e.g. meter_offline)."""
    values = _series(evidence.get("values"))
    if not values or all(v is None for v in values):
        return None
    n = len(values)
    baseline = _fit(_series(evidence.get("baseline")), n)
    low = _fit(_series(evidence.get("baseline_low")), n)
    high = _fit(_series(evidence.get("baseline_high")), n)
    threshold = _number(evidence.get("threshold"))
    limits = _limits(evidence.get("limits"))

    bottom, top, step = _value_range([*values, *baseline, *low, *high, threshold, *limits.values()])
    x = _x_scale(n)

    def y(v: float) -> float:
        return round(HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (v - bottom) / (top - bottom), 1)

    band = ""
    if any(v is not None for v in low) and any(v is not None for v in high):
        upper = [(x(i), y(v)) for i, v in enumerate(high) if v is not None]
        lower = [(x(i), y(v)) for i, v in enumerate(low) if v is not None][::-1]
        band = _polygon(upper + lower)
    return Curve(
        width=WIDTH,
        height=HEIGHT,
        unit=str(evidence.get("unit", "")),
        observed=_path(values, x, y),
        baseline=_path(baseline, x, y),
        band=band,
        threshold_y=None if threshold is None else y(threshold),
        threshold=threshold,
        x_ticks=_time_ticks(evidence, n, x),
        y_ticks=tuple(
            Tick(y(bottom + step * k), _fmt(bottom + step * k))
            for k in range(round((top - bottom) / step) + 1)
        ),
        points=sum(v is not None for v in values),
        limits=tuple(LimitLine(y(v), name, v) for name, v in limits.items()),
        title=_title(evidence.get("metric")),
    )


def _limits(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in ((k, _number(v)) for k, v in raw.items()) if v is not None}


def _title(metric: Any) -> str:
    if isinstance(metric, str) and metric in CATALOGUE:
        return CATALOGUE[metric].label
    return "用电曲线 / Usage curve"


def _value_range(candidates: Sequence[float | None]) -> tuple[float, float, float]:
    """Bottom, top and tick step: from zero to a round top in four steps, unless the series
    stays far from zero (then round steps around it)."""
    present = [v for v in candidates if v is not None]
    lo, hi = min(present, default=0.0), max(present, default=1.0)
    if 0 <= lo <= 0.5 * hi:
        top = _nice_max(present)
        return 0.0, top, top / 4
    step = _nice_step(max(hi - lo, abs(hi) * 0.01, 1e-6) / 4)
    bottom = math.floor((lo - 0.1 * (hi - lo)) / step) * step
    top = math.ceil((hi + 0.1 * (hi - lo)) / step) * step
    return bottom, max(top, bottom + step), step


def _nice_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5):
        if step * magnitude >= raw:
            return step * magnitude
    return 10 * magnitude


def _series(raw: Any) -> list[float | None]:
    if not isinstance(raw, list):
        return []
    return [_number(v) for v in raw]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _fit(series: list[float | None], n: int) -> list[float | None]:
    return (series + [None] * n)[:n]


def _nice_max(candidates: Sequence[float | None]) -> float:
    peak = max((v for v in candidates if v is not None and v > 0), default=1.0)
    magnitude = 10 ** math.floor(math.log10(peak * 1.1))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= peak * 1.1:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _x_scale(n: int) -> Scale:
    span = WIDTH - LEFT - RIGHT

    def x(i: int) -> float:
        return round(LEFT + (span * (i + 0.5) / n), 1)

    return x


def _path(series: list[float | None], x: Scale, y: ValueScale) -> str:
    parts: list[str] = []
    pen_down = False
    for i, v in enumerate(series):
        if v is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x(i)},{y(v)}")
        pen_down = True
    return " ".join(parts)


def _polygon(points: list[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{px},{py}" for px, py in points) + " Z"


def _time_ticks(evidence: dict[str, Any], n: int, x: Scale) -> tuple[Tick, ...]:
    first_end = _number(evidence.get("first_end_ms"))
    minutes = _number(evidence.get("slot_minutes")) or 15.0
    if first_end is None:
        return ()
    step = max(1, n // 6)
    daily = minutes >= 24 * 60  # one point a day (a night's minimum): label the date
    ticks = []
    for i in range(0, n, step):
        start_ms = first_end + (i if daily else i - 1) * minutes * 60_000
        at = datetime.datetime.fromtimestamp(start_ms / 1000, tz=CST)
        ticks.append(Tick(x(i), at.strftime("%m-%d" if daily else "%H:%M")))
    return tuple(ticks)


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 10 or v == 0 else f"{v:.2g}"
