"""The simulated period: days, day types and the clock every generator shares.

Times inside the simulator are integer minutes since local midnight (China Standard
Time) of the first simulated day; a reading's ``ts`` is the end of its interval, so the
reading of the interval starting at minute ``t`` with step ``s`` is stamped ``t + s``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from ingest.calendar import COVERED_YEARS, is_workday
from ingest.schema import CST_OFFSET_MS

MINUTES_PER_DAY = 24 * 60
MS_PER_MINUTE = 60_000
#: A run of at least this many rest days in a row is a long holiday (Spring Festival,
#: National Day) during which most plants shut down.
FESTIVAL_MIN_DAYS = 5


@dataclass(frozen=True, eq=False)
class Timeline:
    """Day types of the simulated period and conversions from simulator minutes."""

    start: datetime.date
    days: int
    workday: np.ndarray  # bool per day
    festival: np.ndarray  # bool per day: inside a long holiday
    festival_runs: tuple[tuple[int, int], ...]  # [first, end) day indices of long holidays

    @classmethod
    def build(cls, start: datetime.date, days: int) -> Timeline:
        """Day types from the working-day calendar (调休 make-up days included).

        Long holidays are found on a window reaching ``FESTIVAL_MIN_DAYS`` beyond the run
        (where the calendar covers it), so a run that starts or stops inside the Spring
        Festival still knows it is one.
        """
        first = np.datetime64(start, "D")
        covered = (
            np.datetime64(f"{COVERED_YEARS[0]}-01-01", "D"),
            np.datetime64(f"{COVERED_YEARS[-1]}-12-31", "D"),
        )
        dates = first + np.arange(days)
        workday = np.asarray(is_workday(dates), dtype=bool)  # raises outside the calendar
        lo = max(first - FESTIVAL_MIN_DAYS, covered[0])
        hi = min(first + days + FESTIVAL_MIN_DAYS, covered[1] + 1)
        around = np.asarray(is_workday(np.arange(lo, hi)), dtype=bool)
        shift = int((first - lo).astype(int))
        festival = np.zeros(days, dtype=bool)
        runs = []
        rest = np.concatenate([[False], ~around, [False]])
        edges = np.flatnonzero(np.diff(rest.astype(np.int8)))
        for a, b in zip(edges[::2] - shift, edges[1::2] - shift, strict=True):
            if b - a >= FESTIVAL_MIN_DAYS and b > 0 and a < days:
                festival[max(a, 0) : b] = True
                runs.append((int(a), int(b)))
        return cls(start, days, workday, festival, tuple(runs))

    @property
    def end_minute(self) -> int:
        return self.days * MINUTES_PER_DAY

    @property
    def start_utc_ms(self) -> int:
        """UTC epoch ms of local midnight starting the first day."""
        epoch_day = (self.start - datetime.date(1970, 1, 1)).days
        return epoch_day * MINUTES_PER_DAY * MS_PER_MINUTE - CST_OFFSET_MS

    def utc_ms(self, minute: int | np.ndarray) -> int | np.ndarray:
        return self.start_utc_ms + np.asarray(minute, dtype=np.int64) * MS_PER_MINUTE

    def iso_utc(self, minute: int) -> str:
        """``2026-02-03T01:15:00Z`` for a simulator minute."""
        t = datetime.datetime(1970, 1, 1) + datetime.timedelta(
            milliseconds=int(self.utc_ms(minute))
        )
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def iso_local(self, minute: int) -> str:
        """``2026-02-03T09:15:00+08:00`` for a simulator minute (registry files)."""
        t = datetime.datetime.combine(self.start, datetime.time()) + datetime.timedelta(
            minutes=int(minute)
        )
        return t.strftime("%Y-%m-%dT%H:%M:%S+08:00")

    def local_date(self, day: int) -> datetime.date:
        return self.start + datetime.timedelta(days=int(day))
