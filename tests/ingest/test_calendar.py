"""Working-day calendar: holidays are rest days, 调休 weekend days are workdays."""

from __future__ import annotations

import datetime
import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ingest.calendar
from dianyan.errors import CalendarRangeError
from ingest.calendar import COVERED_YEARS, day_type, holiday_name, is_workday

_FIRST = datetime.date(COVERED_YEARS[0], 1, 1)
_LAST = datetime.date(COVERED_YEARS[-1], 12, 31)


@pytest.mark.parametrize(
    "day",
    [
        datetime.date(2024, 10, 1),  # Tuesday, National Day
        datetime.date(2025, 1, 28),  # Tuesday, Spring Festival eve (除夕), a holiday since 2025
        datetime.date(2026, 2, 23),  # Monday, last day of the 2026 Spring Festival
        datetime.date(2026, 1, 2),  # Friday, New Year
        datetime.date(2026, 5, 5),  # Tuesday, Labour Day
    ],
)
def test_weekday_holiday_is_a_rest_day(day: datetime.date) -> None:
    assert day.weekday() < 5
    assert not is_workday(day)
    assert day_type(day) == 1
    assert holiday_name(day) is not None


@pytest.mark.parametrize(
    "day",
    [
        datetime.date(2024, 2, 4),  # Sunday before the 2024 Spring Festival
        datetime.date(2025, 2, 8),  # Saturday after the 2025 Spring Festival
        datetime.date(2026, 1, 4),  # Sunday after New Year
        datetime.date(2026, 2, 14),
        datetime.date(2026, 2, 28),
        datetime.date(2026, 5, 9),
        datetime.date(2026, 9, 20),
        datetime.date(2026, 10, 10),
    ],
)
def test_weekend_makeup_day_is_a_workday(day: datetime.date) -> None:
    assert day.weekday() >= 5
    assert is_workday(day)
    assert day_type(day) == 0
    assert holiday_name(day) is None


def test_ordinary_weekdays_and_weekends() -> None:
    week = np.arange(np.datetime64("2026-03-09"), np.datetime64("2026-03-16"))  # Mon..Sun
    assert is_workday(week).tolist() == [True] * 5 + [False] * 2
    assert day_type(week).dtype == np.int8
    assert day_type(week).tolist() == [0] * 5 + [1] * 2
    assert holiday_name(np.datetime64("2026-03-14")) is None


def test_holiday_name_is_bilingual() -> None:
    name = holiday_name(datetime.date(2026, 2, 17))
    assert name is not None
    assert "春节" in name
    assert "Spring Festival" in name


@pytest.mark.parametrize(
    "day", [_FIRST - datetime.timedelta(days=1), _LAST + datetime.timedelta(1)]
)
def test_out_of_range_names_the_date_and_the_covered_years(day: datetime.date) -> None:
    with pytest.raises(CalendarRangeError) as err:
        is_workday(np.array([_FIRST, day], dtype="datetime64[D]"))
    assert day.isoformat() in str(err.value)
    assert str(COVERED_YEARS[0]) in str(err.value)
    assert str(COVERED_YEARS[-1]) in str(err.value)
    with pytest.raises(CalendarRangeError):
        holiday_name(day)


def test_not_a_time_is_refused() -> None:
    with pytest.raises(CalendarRangeError):
        day_type(np.array(["NaT"], dtype="datetime64[D]"))


@given(st.lists(st.dates(min_value=_FIRST, max_value=_LAST), max_size=50))
def test_vectorized_matches_one_by_one(days: list[datetime.date]) -> None:
    arr = np.array(days, dtype="datetime64[D]")
    batch = is_workday(arr)
    assert batch.shape == arr.shape
    assert batch.tolist() == [bool(is_workday(d)) for d in days]
    assert (day_type(arr) == (~batch).astype(np.int8)).all()
    # A named holiday is always a rest day.
    for d in days:
        if holiday_name(d) is not None:
            assert not is_workday(d)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(ingest.calendar)
    assert result.attempted > 0
    assert result.failed == 0
