"""China's working-day calendar: weekends, public holidays and 调休 make-up workdays.

Baselines keep separate profiles for workdays and rest days, so a plant idle over the
Spring Festival or working on a make-up Saturday is compared with the right normal.
The official State Council arrangements are data, in ``data/holidays_cn.csv``
(columns ``date``, ``kind`` = ``holiday`` | ``workday``, ``name``); a new year is added
there, not in code. Dates are local (China Standard Time) calendar days.

>>> import datetime
>>> bool(is_workday(datetime.date(2026, 2, 14)))  # Saturday, Spring Festival make-up day
True
>>> int(day_type(datetime.date(2026, 10, 1)))  # National Day
1
"""

from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from dianyan.errors import CalendarRangeError, ConfigError

WORKDAY = np.int8(0)
REST_DAY = np.int8(1)

_DATA_FILE = "data/holidays_cn.csv"
_KINDS = ("holiday", "workday")


@dataclass(frozen=True, slots=True)
class _Calendar:
    first: np.datetime64  # first covered day (Jan 1 of the first year)
    rest: np.ndarray  # bool per covered day, True = rest day
    names: dict[np.datetime64, str]  # holiday name per holiday date
    years: tuple[int, ...]


def _weekend(days: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday: (n + 3) % 7 gives Monday = 0 ... Sunday = 6.
    return (days.astype(np.int64) + 3) % 7 >= 5


@cache
def _calendar() -> _Calendar:
    """Load and check the holiday file once per process."""
    path = resources.files("ingest").joinpath(_DATA_FILE)
    label = f"ingest/{_DATA_FILE}"
    dates: list[np.datetime64] = []
    kinds: list[str] = []
    names: dict[np.datetime64, str] = {}
    seen: set[datetime.date] = set()
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["date", "kind", "name"]:
            raise ConfigError(label, "<header>", reader.fieldnames, "columns date,kind,name")
        for line, row in enumerate(reader, start=2):
            try:
                date = datetime.date.fromisoformat(row["date"])
            except (TypeError, ValueError):
                raise ConfigError(
                    label, f"line {line}: date", row["date"], "an ISO date YYYY-MM-DD"
                ) from None
            day = np.datetime64(date, "D")
            if row["kind"] not in _KINDS:
                raise ConfigError(label, f"line {line}: kind", row["kind"], "holiday or workday")
            if date in seen:
                raise ConfigError(label, f"line {line}: date", row["date"], "each date once")
            if row["kind"] == "workday" and date.weekday() < 5:
                raise ConfigError(
                    label, f"line {line}: date", row["date"], "a make-up workday on a weekend"
                )
            seen.add(date)
            dates.append(day)
            kinds.append(row["kind"])
            if row["kind"] == "holiday":
                names[day] = row["name"]
    years = sorted({int(str(d)[:4]) for d in dates})
    if not years or years != list(range(years[0], years[-1] + 1)):
        raise ConfigError(label, "date", years, "consecutive covered years")
    first = np.datetime64(f"{years[0]}-01-01", "D")
    end = np.datetime64(f"{years[-1] + 1}-01-01", "D")
    rest = _weekend(np.arange(first, end))
    offsets = (np.array(dates, dtype="datetime64[D]") - first).astype(np.int64)
    rest[offsets] = np.array([k == "holiday" for k in kinds])
    return _Calendar(first, rest, names, tuple(years))


COVERED_YEARS: tuple[int, ...] = _calendar().years


def _offsets(days: object) -> np.ndarray:
    """Day numbers relative to the first covered day; raises outside the covered years."""
    cal = _calendar()
    arr = np.asarray(days).astype("datetime64[D]")
    offsets = (arr - cal.first).astype(np.int64)
    bad = np.isnat(arr) | (offsets < 0) | (offsets >= cal.rest.size)
    if bad.any():
        first_bad = arr[bad].flat[0] if arr.ndim else arr
        raise CalendarRangeError(
            f"{first_bad} is outside the working-day calendar, which covers "
            f"{cal.years[0]}-01-01 to {cal.years[-1]}-12-31. Add the State Council holiday "
            "arrangement for that year to ingest/data/holidays_cn.csv."
        )
    return offsets


def day_type(days: object) -> np.ndarray:
    """0 (workday) or 1 (rest day) per day, as int8, same shape as ``days``.

    ``days``: a ``datetime.date``, a ``datetime64`` scalar or an array-like of dates
    (``datetime64[D]`` preferred). Raises :class:`CalendarRangeError` for a date outside
    :data:`COVERED_YEARS`.
    """
    return _calendar().rest[_offsets(days)].astype(np.int8)


def is_workday(days: object) -> np.ndarray:
    """True where the day is a working day (including 调休 make-up weekend days)."""
    return ~_calendar().rest[_offsets(days)]


def holiday_name(day: datetime.date | np.datetime64) -> str | None:
    """The public holiday's name (Chinese / English) on ``day``, or None if it is not one."""
    _offsets(day)
    return _calendar().names.get(np.datetime64(day, "D"))
