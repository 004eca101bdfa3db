"""Days of the year and seasons (the flood season, 汛期) as the thresholds file gives them."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.season import MonthDay, day_ordinal, in_season
from detectors.thresholds import parse_thresholds
from dianyan.errors import ConfigError


def test_month_days_parse_and_print_back():
    assert MonthDay.parse("06-01") == MonthDay(6, 1)
    assert str(MonthDay.parse(" 02-29 ")) == "02-29"
    assert MonthDay.from_ordinal(MonthDay(9, 30).ordinal) == MonthDay(9, 30)


@pytest.mark.parametrize("text", ["6-1", "06/01", "13-01", "02-30", "00-10", "06-01-2026", ""])
def test_malformed_days_are_refused(text):
    with pytest.raises(ValueError, match="MM-DD"):
        MonthDay.parse(text)


def test_a_season_includes_both_ends_and_may_wrap_past_the_new_year():
    days = np.array([531, 601, 930, 1001])
    assert in_season(days, np.array([601]), np.array([930])).tolist() == [False, True, True, False]
    winter = in_season(np.array([1114, 1115, 101, 315, 316]), 1115, 315)
    assert winter.tolist() == [False, True, True, True, False]


def test_local_days_map_to_month_and_day():
    assert day_ordinal(int(np.datetime64("2026-06-01", "D").astype(np.int64))) == 601
    assert day_ordinal(int(np.datetime64("2024-02-29", "D").astype(np.int64))) == 229


@pytest.mark.parametrize("value", ["2026-06-01", "06-31", "june"])
def test_a_bad_flood_season_day_is_refused_with_its_key_path(value):
    text = f'rules:\n  level_over_limit:\n    flood_season_start: "{value}"\n'
    with pytest.raises(ConfigError) as err:
        parse_thresholds(text, "t.yaml")
    assert err.value.key_path == "rules.level_over_limit.flood_season_start"
    assert "MM-DD" in str(err.value)


def test_an_unquoted_date_read_by_yaml_as_a_date_is_refused():
    with pytest.raises(ConfigError, match="flood_season_end"):
        parse_thresholds("rules:\n  level_over_limit:\n    flood_season_end: 2026-09-30\n", "t")
