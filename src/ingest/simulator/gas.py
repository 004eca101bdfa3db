"""City gas stations: pressure, flow and leak concentration every minute.

Flow follows a daily demand cycle (low at night, peaks in the morning and evening) and
pressure moves slightly against it. Events replace a stretch of one curve with a
piecewise-linear shape (``Event.keypoints``, in ts-minutes since the simulation start);
their truth spans cover exactly the samples that cross the rule's line, and the ramps
before and after are gentle enough not to trip another rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.catalogue import METRIC_NAMES
from ingest.simulator.day_part import DayPart
from ingest.simulator.events import VIOLATION, Event, Occupancy, place
from ingest.simulator.places import County
from ingest.simulator.timeline import MINUTES_PER_DAY, Timeline

PRESSURE = METRIC_NAMES.index("gas.pressure_kpa")
FLOW = METRIC_NAMES.index("gas.flow_m3h")
LEAK = METRIC_NAMES.index("gas.leak_lel")
#: Gas samples per day (every minute) and the step in minutes.
STEP = 1
#: The night window whose minimum flow reveals a leak: 00:00-05:00 local.
NIGHT_MINUTES = (0, 5 * 60)
#: Days of history before a leak is injected (a usual night minimum must exist).
LEAK_WARMUP_DAYS = 7
_PRESSURE_NOISE = 0.003
_FLOW_NOISE = 0.03
_REST_DAY_FLOW = 0.92
_LEL_BACKGROUND = (0.3, 0.25)  # mean, sigma in %LEL
_MISSING_P = 3e-4


@dataclass(eq=False)
class GasStations:
    """Station arrays, one row per station."""

    ids: np.ndarray
    names: list[str]
    county: np.ndarray
    p0: np.ndarray  # nominal pressure, kPa
    low: np.ndarray  # lower bound, kPa
    high: np.ndarray  # upper bound, kPa
    q0: np.ndarray  # peak flow, m³/h
    night_base: np.ndarray  # demand fraction at the night minimum
    cycle: np.ndarray  # (stations, 1440) demand fraction per minute of the day (ts minute)

    def __len__(self) -> int:
        return self.ids.size

    def base_pressure(self, row: int, ts: int) -> float:
        """Noiseless pressure at ts-minute ``ts`` (the curve events start and end on)."""
        return float(self.p0[row] * (1.03 - 0.08 * self.cycle[row, (ts - 1) % MINUTES_PER_DAY]))


def _demand_cycle(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    m = np.arange(1, MINUTES_PER_DAY + 1)[None, :]
    shift = rng.uniform(-30, 30, n)[:, None]

    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((m - centre - shift) / width) ** 2)

    night = rng.uniform(0.2, 0.32, n)[:, None]
    peaks = 0.9 * bump(7.5 * 60, 80) + 0.45 * bump(12 * 60, 90) + 1.0 * bump(18.5 * 60, 110)
    day = 1 / (1 + np.exp(-(m - 6 * 60 - shift) / 40)) - 1 / (1 + np.exp(-(m - 22.5 * 60) / 40))
    cycle = night + (1 - night) * np.clip(0.35 * day + 0.65 * peaks, 0, 1)
    return cycle, night[:, 0]


def make_gas_stations(
    rng: np.random.Generator, counties: tuple[County, ...], per_county: int
) -> GasStations:
    """``per_county`` stations in each county, with pressure bounds around their nominal."""
    county = [c for c in counties for _ in range(per_county)]
    n = len(county)
    p0 = np.round(rng.uniform(200.0, 400.0, n), 0)
    cycle, night = _demand_cycle(rng, n)
    numbers = [sum(1 for c in county[: i + 1] if c == county[i]) for i in range(n)]
    return GasStations(
        ids=np.array([f"G{i + 1:04d}" for i in range(n)]),
        names=[f"{c.name}燃气调压站{k}号" for c, k in zip(county, numbers, strict=True)],
        county=np.array([c.code for c in county]),
        p0=p0,
        low=np.round(0.5 * p0, 1),
        high=np.round(1.3 * p0, 1),
        q0=np.round(rng.uniform(800.0, 5000.0, n), 0),
        night_base=night,
        cycle=cycle,
    )


class _GasPlanner:
    def __init__(self, rng: np.random.Generator, st: GasStations, timeline: Timeline) -> None:
        self.rng = rng
        self.st = st
        self.timeline = timeline
        self.end = timeline.end_minute

    def _event(self, label: str, row: int, start: int, end: int, **kw) -> Event:
        return Event(label, VIOLATION, str(self.st.ids[row]), row, start, end, **kw)

    def _row(self) -> int:
        return int(self.rng.integers(len(self.st)))

    def out_of_bounds(self) -> Event | None:
        rng, st, row = self.rng, self.st, self._row()
        hold = int(rng.integers(10, 61))
        if rng.random() < 0.5:
            bound, side, pre, post = st.high[row], "high", 15, 40
            approach, target = bound * 0.985, bound * rng.uniform(1.02, 1.10)
        else:  # a slow slide to the bound: never a drop of 25 % within 10 minutes
            bound, side, pre, post = st.low[row], "low", 120, 30
            approach, target = bound * 1.015, bound * rng.uniform(0.90, 0.97)
        first = int(rng.integers(pre + 2, self.end - hold - post - 2))
        last = first + hold - 1
        t = np.array([first - 1 - pre, first - 1, first, last, last + 1, last + 1 + post])
        v = np.array(
            [
                st.base_pressure(row, t[0]),
                approach,
                target,
                target * rng.uniform(0.99, 1.01),
                approach,
                st.base_pressure(row, t[-1]),
            ]
        )
        details = {"bound": side, "bound_kpa": float(bound), "extreme_kpa": float(v[2])}
        return self._event(
            "pressure_out_of_bounds",
            row,
            first - STEP,
            last,
            effect=(t[0], t[-1]),
            keypoints=(t, v),
            details=details,
        )

    def drop_rate(self) -> Event | None:
        rng, st, row = self.rng, self.st, self._row()
        fall, hold, rec = (
            int(rng.integers(3, 9)),
            int(rng.integers(10, 41)),
            int(rng.integers(30, 61)),
        )
        t0 = int(rng.integers(2, self.end - fall - hold - rec - 2))
        ratio = rng.uniform(0.62, 0.72)
        base = st.base_pressure(row, t0)
        t = np.array([t0, t0 + fall, t0 + fall + hold, t0 + fall + hold + rec])
        v = np.array(
            [
                base,
                base * ratio,
                base * ratio * rng.uniform(0.98, 1.02),
                st.base_pressure(row, t[-1]),
            ]
        )
        details = {"drop": float(1 - ratio), "fall_minutes": fall, "from_kpa": base}
        return self._event(
            "pressure_drop_rate",
            row,
            t0,
            t0 + fall + hold,
            effect=(t[0], t[-1]),
            keypoints=(t, v),
            details=details,
        )

    def leak_concentration(self) -> Event | None:
        rng, row = self.rng, self._row()
        n = int(rng.integers(5, 31))
        peak = float(rng.uniform(25.0, 70.0))
        first = int(rng.integers(2, self.end - n - 8))
        last = first + n - 1
        t = np.array([first - 1, first, first + 3, last, last + 1, last + 6])
        v = np.array(
            [
                _LEL_BACKGROUND[0],
                max(21.0, 0.5 * peak),
                peak,
                max(21.0, 0.7 * peak),
                6.0,
                _LEL_BACKGROUND[0],
            ]
        )
        return self._event(
            "leak_concentration",
            row,
            first - STEP,
            last,
            effect=(int(t[0]), int(t[-1])),
            keypoints=(t, v),
            details={"peak_lel": peak},
        )

    def leak_nights(self) -> list[Event] | None:
        rng, st, row = self.rng, self.st, self._row()
        nights = int(rng.integers(2, 5))
        if self.timeline.days - nights < LEAK_WARMUP_DAYS:
            return None
        first_day = int(rng.integers(LEAK_WARMUP_DAYS, self.timeline.days - nights + 1))
        usual = float(st.q0[row] * st.night_base[row])
        extra = usual * rng.uniform(0.5, 1.5)
        events = []
        touched_from = first_day * MINUTES_PER_DAY + NIGHT_MINUTES[0] + STEP
        for i in range(nights):
            night = (first_day + i) * MINUTES_PER_DAY
            # The leak runs day and night; each night's event owns the flow since the last.
            effect = (touched_from, night + NIGHT_MINUTES[1])
            touched_from = effect[1] + STEP
            details = {
                "extra_m3h": extra,
                "usual_night_min_m3h": usual,
                "night": f"{i + 1}/{nights}",
            }
            events.append(
                self._event(
                    "night_min_flow",
                    row,
                    night + NIGHT_MINUTES[0],
                    night + NIGHT_MINUTES[1],
                    level=extra,
                    effect=effect,
                    details=details,
                )
            )
        return events


def plan_gas(
    rng: np.random.Generator, st: GasStations, timeline: Timeline, occupancy: Occupancy
) -> list[Event]:
    """About one event of each gas rule per station and 30 days (at least one each)."""
    if len(st) == 0 or timeline.days < 2:
        return []
    planner = _GasPlanner(rng, st, timeline)
    count = max(1, round(len(st) * timeline.days / 30))
    events = []
    events += place(count, occupancy, planner.out_of_bounds)
    events += place(count, occupancy, planner.drop_rate)
    events += place(count, occupancy, planner.leak_concentration)
    for _ in range(count):
        for _ in range(40):
            leak = planner.leak_nights()
            span = (leak[0].effect_span[0], leak[-1].effect_span[1]) if leak else None
            if leak and occupancy.try_take(leak[0].entity_id, *span):
                events += leak
                break
    return events


class GasGenerator:
    """Makes each day's station readings."""

    def __init__(self, st: GasStations, timeline: Timeline, events: list[Event]) -> None:
        self.st = st
        self.timeline = timeline
        self.events = events

    def day(self, day: int, rng: np.random.Generator) -> DayPart:
        st = self.st
        n = len(st)
        first = day * MINUTES_PER_DAY + 1  # ts-minute of the day's first sample
        ts = first + np.arange(MINUTES_PER_DAY)
        shape = (n, MINUTES_PER_DAY)
        pressure = st.p0[:, None] * (1.03 - 0.08 * st.cycle)
        pressure = pressure * (1 + _PRESSURE_NOISE * rng.standard_normal(shape))
        flow_day = (1.0 if self.timeline.workday[day] else _REST_DAY_FLOW) * rng.lognormal(
            0, 0.02, n
        )
        flow = (
            (st.q0 * flow_day)[:, None] * st.cycle * (1 + _FLOW_NOISE * rng.standard_normal(shape))
        )
        lel = _LEL_BACKGROUND[0] + _LEL_BACKGROUND[1] * rng.standard_normal(shape)
        protected = np.zeros(shape, dtype=bool)
        for e in self.events:
            a, b = e.effect_span
            if b < first or a > ts[-1]:
                continue
            k0, k1 = max(a - first, 0), min(b - first, MINUTES_PER_DAY - 1) + 1
            when = ts[k0:k1]
            size = k1 - k0
            if e.label == "night_min_flow":
                flow[e.row, k0:k1] += e.level
            elif e.label == "leak_concentration":
                curve = np.interp(when, *e.keypoints)
                lel[e.row, k0:k1] = curve + _LEL_BACKGROUND[1] * rng.standard_normal(size)
            else:
                curve = np.interp(when, *e.keypoints)
                pressure[e.row, k0:k1] = curve * (1 + _PRESSURE_NOISE * rng.standard_normal(size))
            protected[e.row, max(k0 - 1, 0) : k1 + 1] = True
        present = ~((rng.random(shape) < _MISSING_P) & ~protected)
        rows, k = np.nonzero(present)
        count = rows.size
        minute = (k + 1).astype(np.int32)
        return DayPart(
            row=np.tile(rows, 3),
            minute=np.tile(minute, 3),
            metric=np.repeat(np.array([PRESSURE, FLOW, LEAK], dtype=np.int8), count),
            value=np.concatenate(
                [
                    np.round(pressure[rows, k], 1),
                    np.round(np.maximum(flow[rows, k], 0.0), 1),
                    np.round(np.clip(lel[rows, k], 0.0, 100.0), 1),
                ]
            ),
        )
