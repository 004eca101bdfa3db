"""Gas station rules: pressure bounds (at the limit, hysteresis, two severities), sudden
drops, leak concentration, and the night minimum flow (once per night, across midnight)."""

from __future__ import annotations

import pytest
from factories import local_ms
from station_factories import (
    LIMITS,
    FakeStations,
    Gap,
    Ramp,
    Set,
    detect,
    local,
    opened,
    readings,
    rules_of,
    run,
    spans,
    station_thresholds,
    stations,
)

P, F, L = "gas.pressure_kpa", "gas.flow_m3h", "gas.leak_lel"
DAY = "2026-05-04"
HIGH, LOW = LIMITS["pressure_high_kpa"], LIMITS["pressure_low_kpa"]


def _at(hhmm: str) -> str:
    return f"{DAY} {hhmm}"


def _clock(minute: int) -> str:
    return _at(f"{minute // 60:02d}:{minute % 60:02d}")


def _of(dets, rule: str):
    return [d for d in dets if d.rule == rule]


def _pressure(*injections, extra: str = ""):
    batch = readings([P], _at("00:00"), 12, injections)
    return detect(batch, station_thresholds(extra))


# -- pressure_out_of_bounds ---------------------------------------------------------------


@pytest.mark.parametrize(("at_limit", "beyond"), [(HIGH, HIGH + 0.1), (LOW, LOW - 0.1)])
def test_a_pressure_exactly_at_a_bound_is_within_it(at_limit, beyond):
    at = _pressure(Set("S1", P, _at("08:00"), _at("08:30"), at_limit))
    assert _of(at, "pressure_out_of_bounds") == []
    dets = _pressure(Set("S1", P, _at("08:00"), _at("08:30"), beyond))
    assert opened(dets, "pressure_out_of_bounds") == [_at("08:00")]
    first = _of(dets, "pressure_out_of_bounds")[0]
    assert first.baseline == pytest.approx(at_limit) and first.severity == "high"
    assert first.evidence["limits"] == {"pressure_low_kpa": LOW, "pressure_high_kpa": HIGH}
    assert first.evidence["threshold"] == pytest.approx(at_limit)


def _hovering(cycles: int) -> list[Set]:
    """Two minutes just over the upper bound, then six just under it, ``cycles`` times."""
    out = []
    for k in range(cycles):
        m = 8 * 60 + 8 * k
        out.append(Set("S1", P, _clock(m), _clock(m + 2), HIGH + 1))
        out.append(Set("S1", P, _clock(m + 2), _clock(m + 8), HIGH - 1 - 0.1 * k))
    return out


def test_a_pressure_hovering_at_the_bound_makes_one_alert_inside_the_hysteresis_band():
    dets = _pressure(*_hovering(4))
    assert opened(dets, "pressure_out_of_bounds") == [_at("08:00")]
    # the band is what keeps it to one: without it every cycle is an episode of its own
    no_band = _pressure(
        *_hovering(4), extra="rules:\n  pressure_out_of_bounds:\n    hysteresis_pct: 0\n"
    )
    cycles = [_clock(8 * 60 + 8 * k) for k in range(4)]
    assert opened(no_band, "pressure_out_of_bounds") == cycles


def test_the_episode_ends_only_once_back_below_the_band_for_the_recovery_time():
    band_edge = HIGH * 0.99
    dets = _pressure(
        Set("S1", P, _at("08:00"), _at("08:10"), HIGH + 2),
        Set("S1", P, _at("08:10"), _at("08:40"), band_edge + 0.5),  # inside the band
        Ramp("S1", P, _at("08:40"), _at("09:40"), band_edge - 1, 300.0),
    )
    assert spans(dets, "pressure_out_of_bounds") == [
        ("S1", _at("08:00"), _at("08:02"), False),
        ("S1", _at("08:00"), _at("08:40"), True),  # the band kept it open, not the bound
    ]


def test_severity_is_critical_beyond_the_margin_and_says_how_far():
    margin = HIGH * 1.05
    dets = _pressure(
        Set("S1", P, _at("08:00"), _at("08:05"), margin - 1),
        Set("S1", P, _at("08:05"), _at("08:10"), margin + 4),
        Ramp("S1", P, _at("08:10"), _at("09:10"), 380.0, 300.0),
    )
    first, final = _of(dets, "pressure_out_of_bounds")
    assert (first.severity, final.severity) == ("high", "critical")
    assert final.observed == pytest.approx(margin + 4, abs=0.01)
    assert "上限" in final.explanation and "upper bound" in final.explanation


def test_under_the_lower_bound_reports_the_lowest_reading():
    dets = _pressure(Ramp("S1", P, _at("08:00"), _at("08:20"), LOW - 1, LOW - 9))
    final = [d for d in dets if d.rule == "pressure_out_of_bounds" and d.final]
    assert final and final[0].observed == pytest.approx(LOW - 9, abs=0.01)
    assert "下限" in final[0].explanation and "lower bound" in final[0].explanation
    assert final[0].severity == "critical"  # 6 % under: beyond the 5 % margin


def test_a_station_without_bounds_is_not_judged():
    ctx = FakeStations(limits={"S1": {}, "S2": LIMITS})
    batch = readings([P], _at("00:00"), 12, [Set("S1", P, _at("08:00"), _at("08:30"), 1000.0)])
    assert "pressure_out_of_bounds" not in rules_of(detect(batch, context=ctx))


# -- pressure_drop_rate ---------------------------------------------------------------------


def test_a_sudden_drop_inside_the_bounds_is_a_rupture_signature():
    dets = _pressure(
        Ramp("S1", P, _at("09:00"), _at("09:04"), 300.0, 225.0),
        Set("S1", P, _at("09:04"), _at("09:40"), 220.0),
        Ramp("S1", P, _at("09:40"), _at("11:40"), 222.0, 300.0),
    )
    assert rules_of(dets) == {"pressure_drop_rate"}
    (first,) = opened(dets, "pressure_drop_rate")
    assert _at("09:00") < first <= _at("09:04")
    assert dets[0].severity == "critical" and dets[0].observed > 20


def test_a_slow_slide_of_the_same_depth_is_not_a_drop():
    dets = _pressure(Ramp("S1", P, _at("06:00"), _at("09:00"), 300.0, 180.0))
    assert dets == []


# -- leak_concentration -----------------------------------------------------------------------


def _leak(*injections):
    return detect(readings([L], _at("00:00"), 12, injections))


def test_leak_exactly_at_the_warning_level_is_within_it():
    assert _leak(Ramp("S1", L, _at("10:00"), _at("10:10"), 20.0, 20.0)) == []
    dets = _leak(Ramp("S1", L, _at("10:00"), _at("10:10"), 20.1, 20.3))
    assert opened(dets, "leak_concentration") == [_at("10:00")]
    assert {d.severity for d in dets} == {"high"}


def test_over_the_alarm_level_the_leak_is_critical():
    dets = _leak(Ramp("S1", L, _at("10:00"), _at("10:10"), 30.0, 60.0))
    final = [d for d in dets if d.final]
    assert final[0].severity == "critical" and final[0].evidence["threshold"] == 50.0
    assert "报警值" in final[0].explanation


def test_a_concentration_hovering_around_the_warning_level_is_one_episode():
    swings = [
        Set("S1", L, _clock(600 + m), _clock(601 + m), 21.0 if m % 2 else 16.0) for m in range(40)
    ]
    dets = _leak(*swings)
    assert opened(dets, "leak_concentration") == [_at("10:01")]
    (final,) = [d for d in dets if d.final]
    assert local(final.end_ms) == _at("10:40")  # the last reading over 20


# -- night_min_flow -----------------------------------------------------------------------------


def _flow(days: int, *injections, extra: str = "", start: str = "2026-04-27"):
    batch = readings([F], f"{start} 00:00", days * 24, injections)
    return detect(batch, station_thresholds(extra))


def _leak_night(day: str, start: str = "00:00", end: str = "05:00", level: float = 1600.0):
    return Ramp("S1", F, f"{day} {start}", f"{day} {end}", level, level + 30)


def test_consecutive_leak_nights_are_one_episode_judged_once_per_night():
    dets = _flow(
        8,
        _leak_night("2026-05-01"),
        _leak_night("2026-05-02"),
        _leak_night("2026-05-03"),
    )
    assert spans(dets, "night_min_flow") == [
        ("S1", "2026-05-01 00:00", "2026-05-01 05:00", False),
        ("S1", "2026-05-01 00:00", "2026-05-03 05:00", True),  # the normal 4th night ends it
    ]
    final = dets[-1]
    assert final.baseline == pytest.approx(1000, rel=0.03)  # the usual minimum, not learnt
    assert final.evidence["slot_minutes"] == 1440 and final.evidence["values"][-1] is not None


def test_flow_high_by_day_only_is_no_leak():
    dets = _flow(6, Set("S1", F, "2026-05-01 08:00", "2026-05-01 18:00", 3000.0))
    assert "night_min_flow" not in rules_of(dets)


def test_a_night_window_crossing_midnight_belongs_to_the_day_it_ends_on():
    extra = 'rules:\n  night_min_flow:\n    window: "23:00-05:00"\n'
    leak = Ramp("S1", F, "2026-04-30 23:00", "2026-05-01 05:00", 1600.0, 1630.0)
    dets = _flow(6, leak, extra=extra)
    assert opened(dets, "night_min_flow") == ["2026-04-30 23:00"]
    # the same flow an hour earlier is outside the window: no leak
    early = [_leak_night("2026-04-30", "22:00", "23:00")]
    assert "night_min_flow" not in rules_of(_flow(6, *early, extra=extra))


def test_a_night_with_too_few_readings_is_not_judged():
    leak = _leak_night("2026-05-01")
    dets = _flow(6, leak, Gap("S1", F, "2026-05-01 00:00", "2026-05-01 03:30"))
    assert "night_min_flow" not in rules_of(dets)


# -- exemptions and reloads --------------------------------------------------------------------


def test_an_approved_exemption_suppresses_the_station_alert():
    ctx = FakeStations(
        exemptions=[("EX-7", "S1", "leak_concentration", _at("09:00"), _at("11:00"))]
    )
    batch = readings([L], _at("00:00"), 12, [Ramp("S1", L, _at("10:00"), _at("10:10"), 30.0, 35.0)])
    dets = detect(batch, context=ctx)
    assert dets and {(d.rule, d.suppressed_by) for d in dets} == {("leak_concentration", "EX-7")}


def test_new_thresholds_apply_from_the_next_batch():
    leak = [
        Ramp("S1", L, _at("03:00"), _at("03:10"), 30.0, 35.0),
        Ramp("S1", L, _at("09:00"), _at("09:10"), 30.0, 35.0),
    ]
    batch = readings([L], _at("00:00"), 12, leak)
    ts = batch["ts"].cast("int64").to_numpy()
    six = int((ts <= local_ms(_at("06:00"))).sum())
    det = stations()
    dets = run(det, batch.slice(0, six), flush=False)
    det.reload(station_thresholds("rules:\n  leak_concentration:\n    warning_lel: 40\n"))
    dets += run(det, batch.slice(six))
    assert opened(dets, "leak_concentration") == [_at("03:00")]
