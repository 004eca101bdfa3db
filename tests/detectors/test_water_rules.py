"""Water station rules: levels at and over their limits (the flood-limit level only in the
flood season), fast rises, rolling rainfall totals (across midnight), ecological flow."""

from __future__ import annotations

import pytest
from station_factories import (
    LIMITS,
    FakeStations,
    Ramp,
    Set,
    detect,
    local,
    opened,
    readings,
    rules_of,
    station_thresholds,
)

LV, R, Q = "water.level_m", "water.rain_mm", "water.flow_m3s"
WARNING, GUARANTEE = LIMITS["warning_level_m"], LIMITS["guarantee_level_m"]
FLOOD = LIMITS["flood_limit_level_m"]


def _of(dets, rule: str):
    return [d for d in dets if d.rule == rule]


def _level(day: str, *injections, extra: str = "", context: FakeStations | None = None):
    batch = readings([LV], f"{day} 00:00", 24, injections)
    return detect(batch, station_thresholds(extra), context)


def _slowly_to(day: str, level: float, hours: tuple[str, str] = ("08:00", "12:00")) -> list:
    """A slow climb from the usual 100 m to ``level`` by 08:00, held until 12:00, and back."""
    return [
        Ramp("S1", LV, f"{day} 02:00", f"{day} {hours[0]}", 100.0, level - 0.02),
        Set("S1", LV, f"{day} {hours[0]}", f"{day} {hours[1]}", level),
        Ramp("S1", LV, f"{day} {hours[1]}", f"{day} 18:00", level - 0.02, 100.0),
    ]


# -- level_over_limit ------------------------------------------------------------------------


def test_a_level_exactly_at_the_warning_level_is_within_it():
    day = "2026-05-04"
    assert _of(_level(day, *_slowly_to(day, WARNING)), "level_over_limit") == []
    dets = _of(_level(day, *_slowly_to(day, WARNING + 0.01)), "level_over_limit")
    assert opened(dets, "level_over_limit") == [f"{day} 08:00"]
    assert {d.severity for d in dets} == {"high"}
    assert "警戒水位" in dets[0].explanation and "warning level" in dets[0].explanation
    assert dets[0].evidence["limits"] == {
        "warning_level_m": WARNING,
        "guarantee_level_m": GUARANTEE,
    }  # out of the flood season: no flood-limit line


def test_severity_follows_the_highest_limit_exceeded():
    day = "2026-05-04"
    dets = _of(_level(day, *_slowly_to(day, GUARANTEE + 0.2)), "level_over_limit")
    # the climb crosses the warning level first (high), then the guarantee level
    assert [(d.final, d.severity) for d in dets] == [(False, "high"), (True, "critical")]
    assert dets[-1].baseline == GUARANTEE and dets[-1].observed == pytest.approx(GUARANTEE + 0.2)


@pytest.mark.parametrize(
    ("day", "applies"),
    [("2026-05-31", False), ("2026-06-01", True), ("2026-09-30", True), ("2026-10-01", False)],
)
def test_the_flood_limit_level_applies_from_the_first_to_the_last_day_of_the_season(day, applies):
    dets = _of(_level(day, *_slowly_to(day, FLOOD + 0.2)), "level_over_limit")
    assert bool(dets) == applies
    if applies:
        assert {d.severity for d in dets} == {"medium"}
        assert "汛限水位" in dets[0].explanation
        assert dets[0].evidence["limits"]["flood_limit_level_m"] == FLOOD


def test_the_season_starts_at_local_midnight_and_ends_after_its_last_day():
    # over the flood-limit level from 22:00 on May 31 to 02:00 on June 1
    held = [Ramp("S1", LV, "2026-05-31 18:00", "2026-05-31 22:00", 100.0, FLOOD + 0.1)]
    held += [Set("S1", LV, "2026-05-31 22:00", "2026-06-01 02:00", FLOOD + 0.1)]
    held += [Ramp("S1", LV, "2026-06-01 02:00", "2026-06-01 06:00", FLOOD + 0.1, 100.0)]
    batch = readings([LV], "2026-05-31 00:00", 36, held)
    assert opened(detect(batch), "level_over_limit") == ["2026-06-01 00:00"]
    # the end of the season: from 22:00 on September 30, only until midnight
    held = [Ramp("S1", LV, "2026-09-30 18:00", "2026-09-30 22:00", 100.0, FLOOD + 0.1)]
    held += [Set("S1", LV, "2026-09-30 22:00", "2026-10-01 02:00", FLOOD + 0.1)]
    held += [Ramp("S1", LV, "2026-10-01 02:00", "2026-10-01 06:00", FLOOD + 0.1, 100.0)]
    dets = detect(readings([LV], "2026-09-30 00:00", 36, held))
    starts = opened(dets, "level_over_limit")
    final = [d for d in dets if d.rule == "level_over_limit" and d.final]
    assert starts[0] <= "2026-09-30 22:00" and local(final[0].end_ms) == "2026-10-01 00:00"


def test_a_county_can_move_its_flood_season():
    day = "2026-05-20"
    extra = (
        'overrides:\n  regions:\n    "370481":\n      rules:\n        level_over_limit:\n'
        '          flood_season_start: "05-15"\n'
    )
    ctx = FakeStations(counties={"S1": "370481"})
    dets = _of(
        _level(day, *_slowly_to(day, FLOOD + 0.2), extra=extra, context=ctx), "level_over_limit"
    )
    assert dets and dets[0].thresholds["flood_season_start"] == "05-15"
    assert _of(_level(day, *_slowly_to(day, FLOOD + 0.2), extra=extra), "level_over_limit") == []


# -- level_rise_rate --------------------------------------------------------------------------


def _rise(metres_per_hour: float):
    day = "2026-05-04"
    top = 100.0 + metres_per_hour
    return _level(
        day,
        Ramp("S1", LV, f"{day} 06:00", f"{day} 07:05", 100.0, top),
        Ramp("S1", LV, f"{day} 07:05", f"{day} 17:00", top, 100.0),
    )


def test_a_rise_exactly_at_the_rate_is_not_too_fast():
    # 13 readings from 06:00 to 07:00 rise by exactly the rate per 60 minutes
    assert _of(_rise(0.5), "level_rise_rate") == []
    dets = _of(_rise(0.6), "level_rise_rate")
    assert len(opened(dets, "level_rise_rate")) == 1 and dets[0].observed > 0.5


# -- rainfall_accumulation ---------------------------------------------------------------------


def _rain(*injections, start: str = "2026-05-04 00:00", hours: float = 30):
    return _of(detect(readings([R], start, hours, injections)), "rainfall_accumulation")


def test_rain_exactly_at_the_hourly_amount_is_within_it():
    assert _rain(Set("S1", R, "2026-05-04 10:00", "2026-05-04 11:00", 2.5)) == []  # 30.0 mm
    dets = _rain(Set("S1", R, "2026-05-04 10:00", "2026-05-04 11:00", 2.6))
    assert opened(dets, "rainfall_accumulation") == ["2026-05-04 10:55"]
    assert "1 小时" in dets[0].explanation and dets[0].observed == pytest.approx(31.2)


def test_three_hours_of_steady_rain_cross_the_3h_amount():
    dets = _rain(Set("S1", R, "2026-05-04 10:00", "2026-05-04 13:00", 1.5))  # 18 mm/h
    assert opened(dets, "rainfall_accumulation") == ["2026-05-04 12:45"]  # 51 mm by 12:50
    assert dets[0].thresholds["mm_3h"] == 50.0 and "3 h" in dets[0].explanation


def test_a_day_of_drizzle_crosses_the_24h_amount():
    dets = _rain(Set("S1", R, "2026-05-04 02:00", "2026-05-05 02:00", 0.36))  # 4.32 mm/h
    assert len(opened(dets, "rainfall_accumulation")) == 1
    assert "24 h" in dets[0].explanation and dets[0].evidence["threshold"] == 100.0


def test_rolling_totals_run_across_local_midnight():
    dets = _rain(Set("S1", R, "2026-05-04 23:30", "2026-05-05 00:30", 3.0))
    assert opened(dets, "rainfall_accumulation") == ["2026-05-05 00:20"]  # 33 mm by 00:25


# -- eco_flow_shortfall ------------------------------------------------------------------------


def _eco(minutes: int, value: float = 1.5):
    day = "2026-05-04"
    end = f"{day} {8 + minutes // 60:02d}:{minutes % 60:02d}"
    batch = readings([Q], f"{day} 00:00", 24, [Set("S1", Q, f"{day} 08:00", end, value)])
    return _of(detect(batch), "eco_flow_shortfall")


def test_ecological_flow_shortfall_only_for_longer_than_allowed():
    assert _eco(60) == []  # exactly the allowed hour
    dets = _eco(65)
    assert opened(dets, "eco_flow_shortfall") == ["2026-05-04 08:00"]
    assert dets[0].baseline == LIMITS["eco_flow_m3s"] and dets[0].observed == pytest.approx(1.5)
    assert _eco(240, value=LIMITS["eco_flow_m3s"]) == []  # exactly the required flow is enough


def test_a_station_without_a_required_flow_is_not_judged():
    ctx = FakeStations(limits={"S1": {"warning_level_m": WARNING}, "S2": LIMITS})
    batch = readings(
        [Q], "2026-05-04 00:00", 24, [Set("S1", Q, "2026-05-04 08:00", "2026-05-04 16:00", 0.1)]
    )
    assert "eco_flow_shortfall" not in rules_of(detect(batch, context=ctx))
