"""Hydrological stations: water level, rainfall and discharge every 5 minutes.

Even-numbered stations of a county are river gauges (水文站: warning and guarantee
levels; discharge from a rating curve of the level). Odd-numbered ones are small
hydropower reservoirs (小水电: flood-limit, warning and guarantee levels, and a required
ecological flow; discharge is what the plant releases). Events replace or add to a
stretch of a curve with piecewise-linear keypoints in ts-minutes, like the gas events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.catalogue import METRIC_NAMES
from ingest.simulator.day_part import DayPart
from ingest.simulator.events import VIOLATION, Event, Occupancy, place
from ingest.simulator.places import County
from ingest.simulator.timeline import MINUTES_PER_DAY, Timeline

LEVEL = METRIC_NAMES.index("water.level_m")
RAIN = METRIC_NAMES.index("water.rain_mm")
FLOW = METRIC_NAMES.index("water.flow_m3s")
STEP = 5
SAMPLES_PER_DAY = MINUTES_PER_DAY // STEP
_LEVEL_NOISE = 0.004  # m
_FLOW_NOISE = 0.02
_DAILY_SWING = 0.03  # m, amplitude of the daily level cycle
_RATING_EXPONENT = 1.6
_DRIZZLE_P = 0.12  # chance of a light rain on a station-day
_MISSING_P = 3e-4
_RIVERS = ("城河", "薛河", "沂河", "泗河", "白马河", "十字河", "洸府河", "东鱼河", "祊河")
_RESERVOIRS = ("岩马", "马河", "西岗", "尼山", "跋山", "许家崖", "会宝岭", "户主")


@dataclass(eq=False)
class WaterStations:
    """Station arrays, one row per station; limits are NaN where a station has none."""

    ids: np.ndarray
    names: list[str]
    county: np.ndarray
    hydro: np.ndarray  # bool: small hydropower reservoir, else river gauge
    base_level: np.ndarray  # m
    warning: np.ndarray
    guarantee: np.ndarray
    flood_limit: np.ndarray
    eco_flow: np.ndarray  # m³/s
    base_flow: np.ndarray  # m³/s at the base level (river) or released (hydro)
    zero_flow_level: np.ndarray  # river rating curve: level of zero discharge
    phase: np.ndarray  # radians, daily level cycle

    def __len__(self) -> int:
        return self.ids.size

    def lowest_limit(self, row: int) -> tuple[str, float, float]:
        """The first level a rise crosses, its name, and the next limit above it."""
        if self.hydro[row]:
            return "flood_limit_level_m", self.flood_limit[row], self.warning[row]
        return "warning_level_m", self.warning[row], self.guarantee[row]

    def base_at(self, row: int, ts: int) -> float:
        """Noiseless level at ts-minute ``ts``."""
        angle = 2 * np.pi * (ts % MINUTES_PER_DAY) / MINUTES_PER_DAY + self.phase[row]
        return float(self.base_level[row] + _DAILY_SWING * np.sin(angle))


def make_water_stations(
    rng: np.random.Generator, counties: tuple[County, ...], per_county: int
) -> WaterStations:
    """``per_county`` stations in each county, alternating river gauge and reservoir."""
    county = [c for c in counties for _ in range(per_county)]
    number = [k for _ in counties for k in range(per_county)]
    n = len(county)
    hydro = np.array([k % 2 == 1 for k in number], dtype=bool)
    base = np.round(np.where(hydro, rng.uniform(150, 400, n), rng.uniform(30, 150, n)), 2)
    first = np.where(hydro, rng.uniform(1.5, 2.5, n), rng.uniform(1.5, 3.0, n))
    flood_limit = np.where(hydro, np.round(base + first, 2), np.nan)
    warning = np.round(np.where(hydro, flood_limit + rng.uniform(0.8, 1.5, n), base + first), 2)
    guarantee = np.round(warning + rng.uniform(0.8, 1.5, n), 2)
    eco = np.where(hydro, np.round(rng.uniform(0.5, 5.0, n), 2), np.nan)
    names = []
    for c, k, h, r in zip(county, number, hydro, rng.integers(0, 100, n), strict=True):
        pool = _RESERVOIRS if h else _RIVERS
        names.append(f"{c.short}{pool[(r + k) % len(pool)]}{'水电站' if h else '水文站'}")
    return WaterStations(
        ids=np.array([f"W{i + 1:04d}" for i in range(n)]),
        names=names,
        county=np.array([c.code for c in county]),
        hydro=hydro,
        base_level=base,
        warning=warning,
        guarantee=guarantee,
        flood_limit=flood_limit,
        eco_flow=eco,
        base_flow=np.where(hydro, eco * rng.uniform(1.8, 3.0, n), rng.uniform(20, 300, n)),
        zero_flow_level=base - rng.uniform(1.0, 2.0, n),
        phase=rng.uniform(0, 2 * np.pi, n),
    )


def _grid(x: float) -> int:
    """Round a ts-minute to the 5-minute sample grid."""
    return round(float(x) / STEP) * STEP


class _WaterPlanner:
    def __init__(self, rng: np.random.Generator, st: WaterStations, timeline: Timeline) -> None:
        self.rng = rng
        self.st = st
        self.end = timeline.end_minute

    def _event(self, label: str, row: int, start: int, end: int, **kw) -> Event:
        return Event(label, VIOLATION, str(self.st.ids[row]), row, start, end, **kw)

    def _time(self, before: int, after: int) -> int | None:
        """A random sample time leaving ``before`` and ``after`` minutes inside the run."""
        lo, hi = before // STEP + 1, (self.end - after) // STEP - 1
        return int(self.rng.integers(lo, hi)) * STEP if hi > lo else None

    def storm(self) -> Event | None:
        rng, row = self.rng, int(self.rng.integers(len(self.st)))
        n = int(rng.integers(18, 37))  # 1.5-3 h of 5-minute amounts
        first = self._time(STEP, n * STEP + 18 * 60)
        if first is None:
            return None
        total = float(rng.uniform(60.0, 120.0))
        weights = np.minimum(np.arange(1, n + 1), np.arange(n, 0, -1)) + n / 4
        amounts = total * weights / weights.sum()
        last = first + (n - 1) * STEP
        rise = float(rng.uniform(0.1, 0.3))  # a mild swell: far below the rise-rate rule
        t_rise = np.array([first - STEP, first + 6 * 60, first + 18 * 60])
        return self._event(
            "rainfall_accumulation",
            row,
            first - STEP,
            last,
            level=rise,
            effect=(int(t_rise[0]), int(t_rise[-1])),
            keypoints=(first + STEP * np.arange(n), amounts),
            details={"total_mm": total, "hours": n * STEP / 60, "level_swell_m": rise},
        )

    def fast_rise(self) -> Event | None:
        rng, st, row = self.rng, self.st, int(self.rng.integers(len(self.st)))
        _, limit, _ = st.lowest_limit(row)
        room = limit - st.base_level[row] - _DAILY_SWING - 0.3
        minutes = int(rng.integers(12, 25)) * STEP  # 1-2 h
        rate = min(float(rng.uniform(0.6, 1.2)), room / (minutes / 60))
        if rate < 0.6:
            minutes, rate = 60, min(float(rng.uniform(0.6, 1.2)), room)
        rise = rate * minutes / 60
        recede = _grid(rise / 0.08 * 60)
        t0 = self._time(STEP, minutes + recede)
        if t0 is None:
            return None
        t = np.array([t0, t0 + minutes, t0 + minutes + recede])
        start_level = st.base_at(row, t0)
        v = np.array([start_level, start_level + rise, st.base_at(row, int(t[-1]))])
        return self._event(
            "level_rise_rate",
            row,
            t0,
            t0 + minutes,
            effect=(int(t[0]), int(t[-1])),
            keypoints=(t, v),
            details={"rate_m_per_h": rate, "rise_m": rise},
        )

    def over_limit(self) -> Event | None:
        rng, st, row = self.rng, self.st, int(self.rng.integers(len(self.st)))
        name, limit, above = st.lowest_limit(row)
        rate = float(rng.uniform(0.15, 0.3))  # m/h: slow enough for the rise-rate rule
        approach, entry = limit - 0.03, limit + 0.05
        peak = limit + float(rng.uniform(0.1, max(0.11, min(0.5, above - limit - 0.15))))
        climb = _grid((approach - st.base_level[row] + _DAILY_SWING) / rate * 60)
        to_peak = _grid((peak - entry) / 0.25 * 60) + STEP
        hold = max(_grid(rng.uniform(1, 6) * 60), to_peak + STEP)
        recede = _grid((approach - st.base_level[row] + _DAILY_SWING) / 0.1 * 60)
        first = self._time(climb + STEP, hold + recede + STEP)
        if first is None:
            return None
        last = first + hold - STEP
        t = np.array(
            [
                first - STEP - climb,
                first - STEP,
                first,
                first + to_peak,
                last,
                last + STEP,
                last + STEP + recede,
            ]
        )
        v = np.array(
            [
                st.base_at(row, int(t[0])),
                approach,
                entry,
                peak,
                peak - 0.02,
                approach,
                st.base_at(row, int(t[-1])),
            ]
        )
        return self._event(
            "level_over_limit",
            row,
            first - STEP,
            last,
            effect=(int(t[0]), int(t[-1])),
            keypoints=(t, v),
            details={"limit": name, "limit_m": float(limit), "peak_m": peak},
        )

    def eco_shortfall(self) -> Event | None:
        rng, st = self.rng, self.st
        hydro = np.flatnonzero(st.hydro)
        row = int(hydro[rng.integers(hydro.size)])
        minutes = _grid(rng.uniform(6, 48) * 60)
        first = self._time(STEP, minutes)
        if first is None:
            return None
        last = first + minutes - STEP
        flow = float(st.eco_flow[row] * rng.uniform(0.3, 0.8))
        return self._event(
            "eco_flow_shortfall",
            row,
            first - STEP,
            last,
            level=flow,
            effect=(first, last),
            details={"eco_flow_m3s": float(st.eco_flow[row]), "flow_m3s": flow},
        )


def plan_water(
    rng: np.random.Generator, st: WaterStations, timeline: Timeline, occupancy: Occupancy
) -> list[Event]:
    """About one event of each water rule per station and 30 days (at least one each)."""
    if len(st) == 0 or timeline.days < 3:
        return []
    planner = _WaterPlanner(rng, st, timeline)
    count = max(1, round(len(st) * timeline.days / 30))
    events = []
    events += place(count, occupancy, planner.storm)
    events += place(count, occupancy, planner.fast_rise)
    events += place(count, occupancy, planner.over_limit)
    hydro = int(st.hydro.sum())
    if hydro:
        events += place(max(1, round(hydro * timeline.days / 30)), occupancy, planner.eco_shortfall)
    return events


class WaterGenerator:
    """Makes each day's station readings."""

    def __init__(self, st: WaterStations, timeline: Timeline, events: list[Event]) -> None:
        self.st = st
        self.timeline = timeline
        self.events = events
        lift = st.base_level - st.zero_flow_level
        self.rating = np.where(st.hydro, np.nan, st.base_flow / lift**_RATING_EXPONENT)

    def day(self, day: int, rng: np.random.Generator) -> DayPart:
        st = self.st
        n = len(st)
        shape = (n, SAMPLES_PER_DAY)
        first = day * MINUTES_PER_DAY + STEP
        ts = first + STEP * np.arange(SAMPLES_PER_DAY)
        angle = 2 * np.pi * (ts % MINUTES_PER_DAY) / MINUTES_PER_DAY
        level = st.base_level[:, None] + _DAILY_SWING * np.sin(angle[None, :] + st.phase[:, None])
        rain = np.zeros(shape)
        hours = (ts % MINUTES_PER_DAY) / 60
        generating = ((hours >= 8) & (hours < 22)).astype(float)
        release = st.base_flow[:, None] * (1 + 0.3 * generating[None, :])
        release_override = np.full(shape, np.nan)
        protected = np.zeros(shape, dtype=bool)

        for e in self.events:
            a, b = e.effect_span
            if b < first or a > ts[-1]:
                continue
            k0, k1 = max((a - first) // STEP, 0), min((b - first) // STEP, SAMPLES_PER_DAY - 1) + 1
            when = ts[k0:k1]
            if e.label == "rainfall_accumulation":
                t, amounts = e.keypoints
                rain[e.row, k0:k1] = np.interp(when, t, amounts, left=0.0, right=0.0)
                swell = np.array([a, a + 6 * 60 + STEP, b])
                level[e.row, k0:k1] += np.interp(when, swell, [0.0, e.level, 0.0])
            elif e.label == "eco_flow_shortfall":
                release_override[e.row, k0:k1] = e.level
            else:
                level[e.row, k0:k1] = np.interp(when, *e.keypoints)
            protected[e.row, max(k0 - 1, 0) : k1 + 1] = True

        drizzle = np.flatnonzero(rng.random(n) < _DRIZZLE_P)
        for row in drizzle:  # one loop per light rain, not per reading
            k0 = int(rng.integers(0, SAMPLES_PER_DAY - 24))
            k1 = min(k0 + int(rng.integers(24, 73)), SAMPLES_PER_DAY)
            quiet = ~protected[row, k0:k1]
            rain[row, k0:k1] += quiet * rng.uniform(0.05, 0.2) * rng.uniform(0.5, 1.5, k1 - k0)

        level = level + _LEVEL_NOISE * rng.standard_normal(shape)
        river = (
            self.rating[:, None]
            * np.maximum(level - st.zero_flow_level[:, None], 0.0) ** _RATING_EXPONENT
        )
        flow = np.where(st.hydro[:, None], release, river)
        flow = np.where(np.isnan(release_override), flow, release_override)
        flow = flow * (1 + _FLOW_NOISE * rng.standard_normal(shape))
        rain = np.where(rain > 0, rain * rng.uniform(0.9, 1.1, shape), 0.0)

        present = ~((rng.random(shape) < _MISSING_P) & ~protected)
        rows, k = np.nonzero(present)
        count = rows.size
        minute = ((k + 1) * STEP).astype(np.int32)
        return DayPart(
            row=np.tile(rows, 3),
            minute=np.tile(minute, 3),
            metric=np.repeat(np.array([LEVEL, RAIN, FLOW], dtype=np.int8), count),
            value=np.concatenate(
                [
                    np.round(level[rows, k], 2),
                    np.round(rain[rows, k], 1),
                    np.round(np.maximum(flow[rows, k], 0.0), 2),
                ]
            ),
        )
