"""Which enterprises break which rule, when: the electricity event plan.

Placement is a loop per event (never per reading): draw a candidate window, keep it if
the entity is free (see :class:`.events.Occupancy`), retry a bounded number of times.
Baseline-based violations (night production, surges) start after a warm-up so that a
detector has history to compare with; suspensions start after day 8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ingest.schema import SLOT_MINUTES, SLOTS_PER_DAY
from ingest.simulator.events import (
    BENIGN,
    DATA_QUALITY,
    VIOLATION,
    Event,
    Occupancy,
    pick,
    scaled_count,
)
from ingest.simulator.places import COUNTIES
from ingest.simulator.plants import CONTINUOUS, NIGHT_SHIFT, ONE_SHIFT, TWO_SHIFT, Plants
from ingest.simulator.registry_rows import ExemptionRow, StatusRow
from ingest.simulator.timeline import MINUTES_PER_DAY, Timeline

#: Days of history before night_production and usage_surge are injected.
BASELINE_WARMUP_DAYS = 14
#: First day a suspension (with violations) may start.
SUSPENSION_FIRST_DAY = 8
_TRIES = 40
_DAY_SLOTS = (24, 88)  # 06:00-22:00: daytime runs, clear of the night window
_NIGHT_SLOTS = {ONE_SHIFT: (88, 120), TWO_SHIFT: (90, 118)}  # 22:00-06:00 / 22:30-05:30
_COUNTY_NAMES = {c.code: c.name for c in COUNTIES}


@dataclass(eq=False)
class ElectricityPlan:
    """Events, status periods and exemptions of the enterprises."""

    events: list[Event] = field(default_factory=list)
    statuses: list[StatusRow] = field(default_factory=list)
    exemptions: list[ExemptionRow] = field(default_factory=list)
    rollover_rows: list[int] = field(default_factory=list)  # register meters set to wrap


class _Planner:
    def __init__(
        self, rng: np.random.Generator, plants: Plants, timeline: Timeline, occupancy: Occupancy
    ) -> None:
        self.rng = rng
        self.plants = plants
        self.timeline = timeline
        self.occupancy = occupancy
        self.plan = ElectricityPlan()
        self.days = timeline.days
        n = len(plants)
        shut = np.stack([plants.holiday_shut(d, timeline) for d in range(self.days)], axis=1)
        self.working = timeline.workday[None, :] & ~shut.reshape(n, self.days)
        self.closed = np.zeros(n, dtype=bool)
        self.status_role = np.zeros(n, dtype=bool)

    # -- helpers ---------------------------------------------------------------------------
    def _rows(self, rate: float, eligible: np.ndarray, minimum: int = 1) -> np.ndarray:
        candidates = np.flatnonzero(eligible)
        k = scaled_count(rate, len(self.plants), minimum)
        return pick(self.rng, candidates, k, self.occupancy, self.plants.ids)

    def _event(self, label: str, category: str, row: int, start_slot: int, slots: int, **kw):
        start = start_slot * SLOT_MINUTES
        event = Event(
            label,
            category,
            str(self.plants.ids[row]),
            int(row),
            start,
            start + slots * SLOT_MINUTES,
            **kw,
        )
        self.plan.events.append(event)
        return event

    def _book_slots(self, row: int, start_slot: int, slots: int) -> bool:
        start = start_slot * SLOT_MINUTES
        return self.occupancy.try_take(
            str(self.plants.ids[row]), start, start + slots * SLOT_MINUTES
        )

    def _daytime_runs(
        self,
        row: int,
        first_day: int,
        end_day: int,
        count: int,
        slots: tuple[int, int],
        window: tuple[int, int] = _DAY_SLOTS,
    ) -> list[tuple[int, int]]:
        """Up to ``count`` runs of ``slots`` length on working days, inside ``window``."""
        runs = []
        end_day = min(end_day, self.days)
        if end_day <= first_day:
            return runs
        for _ in range(count):
            for _ in range(_TRIES):
                day = int(self.rng.integers(first_day, end_day))
                n_slots = int(self.rng.integers(slots[0], slots[1] + 1))
                lo, hi = window[0], window[1] - n_slots
                if not self.working[row, day] or hi < lo:
                    continue
                start = day * SLOTS_PER_DAY + int(self.rng.integers(lo, hi + 1))
                if self._book_slots(row, start, n_slots):
                    runs.append((start, n_slots))
                    break
        return sorted(runs)

    def _suspend(self, row: int, first_day: int, length: tuple[int, int]) -> tuple[int, int]:
        """A suspension period for ``row``, preferring one with working days inside."""
        for _ in range(_TRIES):
            start = int(self.rng.integers(first_day, self.days - 3))
            end = start + int(self.rng.integers(length[0], length[1] + 1))
            if self.working[row, start + 1 : end].sum() >= 2:
                break
        open_ended = end >= self.days and self.rng.random() < 0.5
        entity = str(self.plants.ids[row])
        stop = None if open_ended else end * MINUTES_PER_DAY
        self.plan.statuses.append(StatusRow(entity, "suspended", start * MINUTES_PER_DAY, stop))
        self.status_role[row] = True
        return start, end

    def _reserve_days(self, row: int, first_day: int, end_day: int) -> None:
        self.occupancy.take(
            str(self.plants.ids[row]), first_day * MINUTES_PER_DAY, end_day * MINUTES_PER_DAY
        )

    def _exemption(self, row: int, rules: str, start: int, end: int, reason: str) -> str:
        exemption_id = f"EX{len(self.plan.exemptions) + 1:04d}"
        county = str(self.plants.county[row])
        self.plan.exemptions.append(
            ExemptionRow(
                exemption_id,
                str(self.plants.ids[row]),
                rules,
                start,
                end,
                reason,
                f"{_COUNTY_NAMES.get(county, county)}应急管理局",
            )
        )
        return exemption_id

    def _period_text(self, first_day: int, end_day: int) -> str:
        return f"{self.timeline.local_date(first_day)}/{self.timeline.local_date(end_day)}"

    # -- status roles ------------------------------------------------------------------------
    def closures(self) -> None:
        p = self.plants
        eligible = np.isin(p.shape, [ONE_SHIFT, TWO_SHIFT]) & ~p.register
        for row in self._rows(0.01, eligible):
            if self.rng.random() < 0.5 or self.days < 6:
                start = -int(self.rng.integers(30, 300)) * MINUTES_PER_DAY
            else:
                start = int(self.rng.integers(3, self.days - 2)) * MINUTES_PER_DAY
            self.plan.statuses.append(StatusRow(str(p.ids[row]), "closed", start, None))
            self.occupancy.take(str(p.ids[row]), start, self.timeline.end_minute + MINUTES_PER_DAY)
            self.closed[row] = True
            self.status_role[row] = True

    def suspended_operation(self) -> None:
        if self.days < SUSPENSION_FIRST_DAY + 4:
            return
        for row in self._rows(0.02, ~self.status_role):
            first, end = self._suspend(row, SUSPENSION_FIRST_DAY, (5, 16))
            runs = self._daytime_runs(row, first + 1, end, int(self.rng.integers(1, 4)), (16, 48))
            for i, (start, slots) in enumerate(runs):
                level = float(self.rng.uniform(0.4, 1.0))
                details = {
                    "level": level,
                    "episode": f"{i + 1}/{len(runs)}",
                    "suspension": self._period_text(first, end),
                }
                self._event(
                    "suspended_operation",
                    VIOLATION,
                    row,
                    start,
                    slots,
                    level=level,
                    details=details,
                )
            self._reserve_days(row, first, end)

    def exempt_commissioning(self) -> None:
        if self.days < SUSPENSION_FIRST_DAY + 4:
            return
        for row in self._rows(0.01, ~self.status_role):
            first, end = self._suspend(row, SUSPENSION_FIRST_DAY, (5, 16))
            runs = self._daytime_runs(
                row, first + 1, end, int(self.rng.integers(1, 3)), (12, 32), (32, 72)
            )
            if runs:
                days = [start // SLOTS_PER_DAY for start, _ in runs]
                exemption = self._exemption(
                    row,
                    "suspended_operation;usage_surge",
                    min(days) * MINUTES_PER_DAY,
                    (max(days) + 1) * MINUTES_PER_DAY,
                    "commissioning",
                )
                for start, slots in runs:
                    level = float(self.rng.uniform(0.3, 0.6))
                    self._event(
                        "exempt_commissioning",
                        BENIGN,
                        row,
                        start,
                        slots,
                        level=level,
                        details={"level": level, "exemption": exemption},
                    )
            self._reserve_days(row, first, end)

    def suspended_quietly(self) -> None:
        """Suspended plants that obey: standby only, no truth row."""
        if self.days < 6:
            return
        for row in self._rows(0.01, ~self.status_role):
            first, end = self._suspend(row, 2, (4, 20))
            self._reserve_days(row, first, end)

    # -- registers --------------------------------------------------------------------------
    def registers(self) -> None:
        p = self.plants
        usable = p.register & ~self.status_role
        n_register = int(p.register.sum())
        k = max(1, round(0.2 * n_register))
        rollover = pick(self.rng, np.flatnonzero(usable), k, self.occupancy, p.ids)
        daily = p.expected_daily_kwh()
        for row in rollover:
            # Start the register where it should wrap around the chosen day.
            day = float(self.rng.uniform(1.5, max(2.0, self.days / 2)))
            used = min(daily[row] * 0.8 * day, 0.9 * p.register_max[row])
            p.register_start[row] = round(p.register_max[row] - used, 2)
            self.plan.rollover_rows.append(int(row))
        left = np.flatnonzero(usable & ~np.isin(np.arange(len(p)), rollover))
        replaced = pick(self.rng, left, 1 if n_register < 20 else 2, self.occupancy, p.ids)
        total_slots = self.days * SLOTS_PER_DAY
        for row in replaced if self.days >= 4 else ():
            for _ in range(_TRIES):
                start = int(self.rng.integers(2 * SLOTS_PER_DAY, total_slots - SLOTS_PER_DAY))
                if self._book_slots(row, start, 1):
                    self._event(
                        "meter_replacement",
                        DATA_QUALITY,
                        row,
                        start,
                        1,
                        details={"new_register_start_kwh": 0.0},
                    )
                    break

    # -- violations and look-alikes -----------------------------------------------------------
    def maintenance(self) -> None:
        for row in self._rows(0.015, ~self.status_role):
            for _ in range(_TRIES):
                days = int(self.rng.integers(2, 6))
                if self.days - days <= 1:
                    break
                first = int(self.rng.integers(1, self.days - days + 1))
                if not self.working[row, first]:
                    continue
                if self._book_slots(row, first * SLOTS_PER_DAY, days * SLOTS_PER_DAY):
                    self._event(
                        "maintenance_shutdown",
                        BENIGN,
                        row,
                        first * SLOTS_PER_DAY,
                        days * SLOTS_PER_DAY,
                        level=0.02,
                        details={"level": 0.02, "days": days},
                    )
                    break

    def night_production(self) -> None:
        if self.days < BASELINE_WARMUP_DAYS + 2:
            return
        eligible = np.isin(self.plants.shape, [ONE_SHIFT, TWO_SHIFT]) & ~self.status_role
        for row in self._rows(0.02, eligible):
            lo, hi = _NIGHT_SLOTS[int(self.plants.shape[row])]
            nights = []
            for _ in range(int(self.rng.integers(1, 4))):
                for _ in range(_TRIES):
                    day = int(self.rng.integers(BASELINE_WARMUP_DAYS, self.days - 1))
                    slots = int(self.rng.integers(8, 25))
                    start = day * SLOTS_PER_DAY + int(self.rng.integers(lo, hi - slots + 1))
                    if self._book_slots(row, start, slots):
                        nights.append((start, slots))
                        break
            for i, (start, slots) in enumerate(sorted(nights)):
                level = float(self.rng.uniform(0.65, 1.0))
                self._event(
                    "night_production",
                    VIOLATION,
                    row,
                    start,
                    slots,
                    level=level,
                    details={"level": level, "night": f"{i + 1}/{len(nights)}"},
                )

    def usage_surge(self) -> None:
        if self.days < BASELINE_WARMUP_DAYS + 2:
            return
        p = self.plants
        eligible = np.isin(p.shape, [ONE_SHIFT, TWO_SHIFT, CONTINUOUS]) & ~self.status_role
        for row in self._rows(0.02, eligible):
            if p.shape[row] == CONTINUOUS:
                window = _DAY_SLOTS
            else:
                window = (int(p.shift_start[row]) + 1, int(p.shift_end[row]) - 1)
            longest = min(24, window[1] - window[0])
            count = int(self.rng.integers(1, 3))
            runs = self._daytime_runs(
                row, BASELINE_WARMUP_DAYS, self.days, count, (6, longest), window
            )
            for start, slots in runs:
                factor = float(self.rng.uniform(2.5, 4.0))
                self._event(
                    "usage_surge",
                    VIOLATION,
                    row,
                    start,
                    slots,
                    level=factor,
                    details={"factor": factor},
                )

    def meter_offline(self) -> None:
        total = self.days * SLOTS_PER_DAY
        if self.days < 3:
            return
        for row in self._rows(0.02, ~self.closed):
            count = 2 if self.days >= 30 and self.rng.random() < 0.3 else 1
            for _ in range(count):
                for _ in range(_TRIES):
                    slots = int(self.rng.integers(24, 289))
                    if total - slots - 1 <= SLOTS_PER_DAY:
                        break
                    start = int(self.rng.integers(SLOTS_PER_DAY, total - slots - 1))
                    if self._book_slots(row, start, slots):
                        self._event(
                            "meter_offline",
                            VIOLATION,
                            row,
                            start,
                            slots,
                            details={"missing_readings": slots},
                        )
                        break

    def comm_gaps(self) -> None:
        total = self.days * SLOTS_PER_DAY
        for row in self._rows(0.03, ~self.closed):
            for _ in range(int(self.rng.integers(1, 4))):
                for _ in range(_TRIES):
                    slots = int(self.rng.integers(1, 5))
                    start = int(self.rng.integers(4, total - slots - 4))
                    if self._book_slots(row, start, slots):
                        self._event(
                            "comm_gap",
                            BENIGN,
                            row,
                            start,
                            slots,
                            details={"missing_readings": slots},
                        )
                        break

    def whole_period_benign(self) -> None:
        """Plants that legitimately run at night: continuous processes and night shifts."""
        p = self.plants
        end = self.timeline.end_minute
        for row in np.flatnonzero(p.shape == CONTINUOUS):
            self.plan.events.append(
                Event(
                    "continuous_process_night",
                    BENIGN,
                    str(p.ids[row]),
                    int(row),
                    0,
                    end,
                    details={"industry": str(p.industry[row])},
                )
            )
        for row in np.flatnonzero(p.shape == NIGHT_SHIFT):
            details: dict[str, object] = {"shift": "20:00-06:00"}
            if self.rng.random() < 0.5:
                details["night_permit"] = self._exemption(
                    row,
                    "night_production",
                    -180 * MINUTES_PER_DAY,
                    end + 365 * MINUTES_PER_DAY,
                    "night_permit",
                )
            self.plan.events.append(
                Event(
                    "night_shift_history",
                    BENIGN,
                    str(p.ids[row]),
                    int(row),
                    0,
                    end,
                    details=details,
                )
            )


def plan_electricity(
    rng: np.random.Generator, plants: Plants, timeline: Timeline, occupancy: Occupancy
) -> ElectricityPlan:
    """Statuses, exemptions and labelled events of the enterprises, in a fixed order."""
    planner = _Planner(rng, plants, timeline, occupancy)
    planner.closures()
    planner.suspended_operation()
    planner.exempt_commissioning()
    planner.suspended_quietly()
    planner.registers()
    planner.maintenance()
    planner.night_production()
    planner.usage_surge()
    planner.meter_offline()
    planner.comm_gaps()
    planner.whole_period_benign()
    return planner.plan
