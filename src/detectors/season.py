"""A day of the year such as "06-01", and seasons between two of them (the flood season, 汛期).

A season includes both its first and its last day and wraps past the new year when it
ends before it starts ("11-15" to "03-15"). Days are local calendar days.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

import numpy as np

_MONTH_DAY_RE = re.compile(r"^\s*(\d{2})-(\d{2})\s*$")

MONTH_DAY_EXPECTED = 'a quoted day of the year "MM-DD" such as "06-01" (month 01-12, a real day)'


@dataclass(frozen=True, slots=True)
class MonthDay:
    """A month and day; ``ordinal`` (MMDD as an int, 601 for "06-01") orders them."""

    month: int
    day: int

    @classmethod
    def parse(cls, text: str) -> MonthDay:
        """Parse "MM-DD"; ValueError (with MONTH_DAY_EXPECTED) when malformed or not a day."""
        match = _MONTH_DAY_RE.match(text)
        if match is None:
            raise ValueError(MONTH_DAY_EXPECTED)
        month, day = int(match.group(1)), int(match.group(2))
        try:
            datetime.date(2024, month, day)  # a leap year: "02-29" is a day
        except ValueError:
            raise ValueError(MONTH_DAY_EXPECTED) from None
        return cls(month, day)

    @classmethod
    def from_ordinal(cls, ordinal: int) -> MonthDay:
        return cls(int(ordinal) // 100, int(ordinal) % 100)

    @property
    def ordinal(self) -> int:
        return self.month * 100 + self.day

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


def day_ordinal(local_day: int) -> int:
    """MMDD of a local day given as days since 1970-01-01."""
    date = np.datetime64(int(local_day), "D").astype(datetime.date)
    return date.month * 100 + date.day


def in_season(ordinal: int | np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether the day (MMDD) lies in each season ``[start, end]`` (MMDD arrays, inclusive)."""
    o, s, e = np.asarray(ordinal), np.asarray(start), np.asarray(end)
    return np.where(s <= e, (o >= s) & (o <= e), (o >= s) | (o <= e))
