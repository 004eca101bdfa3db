"""Enterprise meter readings for one day at a time, as (plants × 96 slots) arrays.

Interval meters send ``electricity.kwh`` per 15-minute slot. Register meters send
``electricity.register_kwh``: the running total, which keeps counting while a meter is
offline (the first reading after a gap carries the gap's consumption), wraps at
``register_max_kwh``, and restarts from 0 at the start of the slot in which a meter is
replaced (so the new meter's first reading is that slot's consumption).
"""

from __future__ import annotations

import numpy as np

from ingest.catalogue import METRIC_NAMES
from ingest.schema import SLOT_MINUTES, SLOTS_PER_DAY
from ingest.simulator.day_part import DayPart
from ingest.simulator.electricity_plan import ElectricityPlan
from ingest.simulator.events import DATA_QUALITY, Event
from ingest.simulator.plants import REST_IDLE, REST_REDUCED, Plants
from ingest.simulator.timeline import Timeline

KWH = METRIC_NAMES.index("electricity.kwh")
REGISTER_KWH = METRIC_NAMES.index("electricity.register_kwh")
#: Chance that any one reading is missing on its own (unlabelled noise).
SINGLE_MISSING_P = 3e-4
#: Consumption of a closed plant's meter, kWh per slot (lighting at most).
CLOSED_MAX_KWH = 0.05

# How an event changes the load term ``standby + (1 - standby) * f`` of its slots.
_RUN, _SCALE, _FIXED, _MISSING, _NONE = range(5)
_EFFECT = {
    "suspended_operation": _RUN,
    "night_production": _RUN,
    "exempt_commissioning": _RUN,
    "usage_surge": _SCALE,
    "maintenance_shutdown": _FIXED,
    "meter_offline": _MISSING,
    "comm_gap": _MISSING,
}


def _slot_spans(starts: list[int], ends: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.asarray(starts, dtype=np.int64) // SLOT_MINUTES,
        np.asarray(ends, dtype=np.int64) // SLOT_MINUTES,
    )


class ElectricityGenerator:
    """Makes each day's enterprise readings and finds register rollovers as they happen."""

    def __init__(self, plants: Plants, timeline: Timeline, plan: ElectricityPlan) -> None:
        self.plants = plants
        self.timeline = timeline
        timed = [e for e in plan.events if e.label in _EFFECT]
        self.ev_row = np.array([e.row for e in timed], dtype=np.int64)
        self.ev_start, self.ev_end = _slot_spans([e.start for e in timed], [e.end for e in timed])
        self.ev_effect = np.array([_EFFECT[e.label] for e in timed], dtype=np.int8)
        self.ev_level = np.array([e.level for e in timed], dtype=np.float64)

        row_of = {str(i): r for r, i in enumerate(plants.ids)}
        self.st_row = np.array([row_of[s.entity_id] for s in plan.statuses], dtype=np.int64)
        big = (timeline.days + 1) * SLOTS_PER_DAY * SLOT_MINUTES
        self.st_start, self.st_end = _slot_spans(
            [s.start for s in plan.statuses],
            [big if s.end is None else s.end for s in plan.statuses],
        )
        self.st_closed = np.array([s.status == "closed" for s in plan.statuses], dtype=bool)

        self.reg_rows = np.flatnonzero(plants.register)
        self.reg_total = plants.register_start[self.reg_rows].astype(np.float64)
        self.reg_offset = np.zeros(self.reg_rows.size)
        self.reg_max = plants.register_max[self.reg_rows]
        self.reg_wraps = np.zeros(self.reg_rows.size, dtype=np.int64)
        reg_index = {int(r): j for j, r in enumerate(self.reg_rows)}
        self.replacements = [
            (reg_index[e.row], e.start // SLOT_MINUTES, e)
            for e in plan.events
            if e.label == "meter_replacement"
        ]
        #: Rollovers found so far (data_quality events).
        self.rollovers: list[Event] = []

    def _active(self, day: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        first = day * SLOTS_PER_DAY
        return np.flatnonzero((starts < first + SLOTS_PER_DAY) & (ends > first))

    def _production_fraction(self, day: int) -> np.ndarray:
        p = self.plants
        f = p.profile.copy()
        if not self.timeline.workday[day]:
            f[p.rest_mode == REST_IDLE] = 0.0
            reduced = p.rest_mode == REST_REDUCED
            f[reduced] *= p.rest_factor[reduced, None]
        shut = p.holiday_shut(day, self.timeline)
        f[shut] = 0.0
        if self.timeline.festival[day]:
            f[~shut] *= p.holiday_factor[~shut, None]
        return f

    def day(self, day: int, rng: np.random.Generator) -> DayPart:
        """All enterprise readings of local day ``day`` (0-based)."""
        p = self.plants
        n = len(p)
        first = day * SLOTS_PER_DAY
        f = self._production_fraction(day)

        closed = np.zeros((n, SLOTS_PER_DAY), dtype=bool)
        for i in self._active(day, self.st_start, self.st_end):
            k0, k1 = max(self.st_start[i] - first, 0), min(self.st_end[i] - first, SLOTS_PER_DAY)
            f[self.st_row[i], k0:k1] = 0.0
            if self.st_closed[i]:
                closed[self.st_row[i], k0:k1] = True

        s = p.standby[:, None]
        load = s + (1.0 - s) * f
        missing = np.zeros((n, SLOTS_PER_DAY), dtype=bool)
        protected = np.zeros((n, SLOTS_PER_DAY), dtype=bool)
        for i in self._active(day, self.ev_start, self.ev_end):
            row, effect, level = self.ev_row[i], self.ev_effect[i], self.ev_level[i]
            k0, k1 = max(self.ev_start[i] - first, 0), min(self.ev_end[i] - first, SLOTS_PER_DAY)
            if effect == _RUN:
                load[row, k0:k1] = p.standby[row] + (1.0 - p.standby[row]) * level
            elif effect == _SCALE:
                load[row, k0:k1] *= level
            elif effect == _FIXED:
                load[row, k0:k1] = level
            elif effect == _MISSING:
                missing[row, k0:k1] = True
            protected[row, max(k0 - 1, 0) : k1 + 1] = True
        for j, slot, _ in self.replacements:
            if first <= slot < first + SLOTS_PER_DAY:
                k = slot - first
                protected[self.reg_rows[j], max(k - 1, 0) : k + 1] = True

        scale = p.level * (1.0 + p.drift * day / 30.0) * rng.lognormal(0.0, 0.03, n)
        noise = np.exp(rng.standard_normal((n, SLOTS_PER_DAY)) * p.noise[:, None])
        kwh = scale[:, None] * load * noise
        kwh[closed] = rng.uniform(0.0, CLOSED_MAX_KWH, int(closed.sum()))
        missing |= (rng.random((n, SLOTS_PER_DAY)) < SINGLE_MISSING_P) & ~protected
        valid = ~missing

        rows, slots = np.nonzero(valid & ~p.register[:, None])
        reg_value, reg_valid = self._registers(day, kwh[self.reg_rows], valid[self.reg_rows])
        reg_j, reg_slots = np.nonzero(reg_valid)
        return DayPart(
            row=np.concatenate([rows, self.reg_rows[reg_j]]),
            minute=np.concatenate([slots, reg_slots]).astype(np.int32) * SLOT_MINUTES
            + SLOT_MINUTES,
            metric=np.concatenate(
                [np.full(rows.size, KWH, np.int8), np.full(reg_j.size, REGISTER_KWH, np.int8)]
            ),
            value=np.concatenate([np.round(kwh[rows, slots], 2), reg_value[reg_j, reg_slots]]),
        )

    def _registers(
        self, day: int, kwh: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Register readings (meters × slots) from their consumption; records rollovers."""
        total = self.reg_total[:, None] + np.cumsum(kwh, axis=1)
        offset = np.repeat(self.reg_offset[:, None], SLOTS_PER_DAY, axis=1)
        first = day * SLOTS_PER_DAY
        for j, slot, event in self.replacements:
            if first <= slot < first + SLOTS_PER_DAY:
                k = slot - first
                restart = total[j, k - 1] if k else self.reg_total[j]
                old = np.mod(restart - offset[j, k - 1 if k else 0], self.reg_max[j])
                event.details["old_register_kwh"] = round(float(old), 2)
                offset[j, k:] = restart
                self.reg_offset[j] = restart
        shown = total - offset
        wraps = np.floor_divide(shown, self.reg_max[:, None]).astype(np.int64)
        value = np.round(shown - wraps * self.reg_max[:, None], 2)
        value = np.where(value >= self.reg_max[:, None], 0.0, value)

        wrapped = valid & (wraps > self.reg_wraps[:, None])
        for j in np.flatnonzero(wrapped.any(axis=1)):
            k = int(np.argmax(wrapped[j]))
            start = (first + k) * SLOT_MINUTES
            row = int(self.reg_rows[j])
            self.rollovers.append(
                Event(
                    "register_rollover",
                    DATA_QUALITY,
                    str(self.plants.ids[row]),
                    row,
                    start,
                    start + SLOT_MINUTES,
                    details={"register_max_kwh": float(self.reg_max[j])},
                )
            )
        seen = valid.any(axis=1)
        last = SLOTS_PER_DAY - 1 - np.argmax(valid[:, ::-1], axis=1)
        self.reg_wraps[seen] = wraps[seen, last[seen]]
        self.reg_total = total[:, -1]
        return value, valid
