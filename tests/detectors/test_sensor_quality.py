"""Sensor data quality: stuck values, spikes and silence raise their own alerts, and a
stuck or spiking sensor raises no behaviour alert while it lasts."""

from __future__ import annotations

import numpy as np
import pytest
from station_factories import (
    LIMITS,
    Gap,
    Ramp,
    Set,
    detect,
    local,
    opened,
    readings,
    rules_of,
    spans,
    station_thresholds,
)

from detectors.sensor_quality import equal_runs, previous, spikes

P, L, LV = "gas.pressure_kpa", "gas.leak_lel", "water.level_m"
DAY = "2026-05-04"


def _at(hhmm: str) -> str:
    return f"{DAY} {hhmm}"


def _run(metric: str, *injections, extra: str = "", hours: float = 12):
    return detect(readings([metric], _at("00:00"), hours, injections), station_thresholds(extra))


def test_a_stuck_sensor_is_flagged_from_the_first_unchanged_reading():
    dets = _run(P, Set("S1", P, _at("06:00"), _at("10:00"), 300.0))
    assert spans(dets, "sensor_stuck") == [
        ("S1", _at("06:00"), _at("09:00"), False),  # 180 minutes of one value
        ("S1", _at("06:00"), _at("10:00"), True),  # ended by the first different reading
    ]
    assert "gas pressure" in dets[0].explanation and dets[0].evidence["metric"] == P
    assert _run(P, Set("S1", P, _at("06:00"), _at("08:59"), 300.0)) == []


def test_a_stuck_sensor_raises_no_behaviour_alert_while_it_lasts():
    # frozen under the lower bound for five hours: the bound alert opens at once (nobody can
    # tell yet), but it is not extended by the readings known to be stuck
    frozen = Set("S1", P, _at("05:00"), _at("10:00"), LIMITS["pressure_low_kpa"] - 20)
    dets = _run(P, frozen)
    bound = [d for d in dets if d.rule == "pressure_out_of_bounds"]
    stuck_from = opened(dets, "sensor_stuck")
    assert stuck_from == [_at("05:00")]
    assert [local(d.end_ms) for d in bound] == [_at("05:02"), _at("07:59")]
    stuck_open = next(d for d in dets if d.rule == "sensor_stuck" and not d.final)
    assert bound[-1].end_ms < stuck_open.end_ms  # the bound episode stops where stuck begins


def test_a_sensor_resting_at_zero_is_not_stuck_unless_configured():
    quiet = Set("S1", L, _at("01:00"), _at("11:00"), 0.0)
    assert "sensor_stuck" not in rules_of(_run(L, quiet))
    strict = "rules:\n  sensor_stuck:\n    ignore_zero: false\n"
    assert opened(_run(L, quiet, extra=strict), "sensor_stuck") == [_at("01:00")]


def test_a_spike_is_flagged_and_judged_as_missing():
    spike = Set("S1", P, _at("09:00"), _at("09:01"), 600.0)
    dets = _run(P, spike)
    assert rules_of(dets) == {"sensor_spike"}
    assert opened(dets, "sensor_spike") == [_at("09:00")] and dets[0].observed == 600.0
    # judged as a reading, the same spike would look like a sudden drop right after it
    off = "rules:\n  sensor_spike:\n    enabled: false\n"
    assert "pressure_drop_rate" in rules_of(_run(P, spike, extra=off))


def test_spikes_less_than_the_recovery_apart_are_one_episode():
    spikes_ = [Set("S1", P, _at(f"09:{m:02d}"), _at(f"09:{m + 1:02d}"), 600.0) for m in (0, 20, 40)]
    assert opened(_run(P, *spikes_), "sensor_spike") == [_at("09:00")]


def test_a_level_spike_raises_no_level_alert():
    day = [Set("S1", LV, _at("10:00"), _at("10:05"), LIMITS["warning_level_m"] + 0.5)]
    assert rules_of(_run(LV, *day, hours=24)) == {"sensor_spike"}


def test_a_real_step_is_not_a_spike():
    fall = [
        Ramp("S1", P, _at("09:00"), _at("09:02"), 300.0, 200.0),
        Ramp("S1", P, _at("09:02"), _at("11:00"), 200.0, 210.0),
    ]
    assert rules_of(_run(P, *fall)) == {"pressure_drop_rate"}


@pytest.mark.parametrize(("minutes", "alerts"), [(30, False), (31, True)])
def test_a_silent_sensor_is_flagged_after_the_allowed_gap(minutes, alerts):
    gap = Gap("S1", P, _at("07:00"), f"{DAY} 07:{minutes:02d}")
    dets = _run(P, gap)
    assert bool(dets) == alerts
    if alerts:
        assert spans(dets, "sensor_gap") == [
            ("S1", _at("07:00"), _at("07:31"), False),
            ("S1", _at("07:00"), _at("07:31"), True),  # readings again from 07:31
        ]


# -- the functions over blocks ---------------------------------------------------------------


def test_previous_reading_skips_missing_slots_and_carries_across_blocks():
    values = np.array([[np.nan, 5.0, np.nan, 7.0]], dtype=np.float32)
    prev = previous(values, 100, np.array([3.0], np.float32), np.array([99]))
    assert prev.value.tolist() == [[3.0, 3.0, 5.0, 5.0]]
    assert prev.slot.tolist() == [[99, 99, 101, 101]]
    assert (prev.last_value.tolist(), prev.last_slot.tolist()) == ([7.0], [103])


def test_spikes_need_both_neighbours_on_the_same_side():
    values = np.array([[10.0, 30.0, 10.0, 30.0, 30.0]], dtype=np.float32)
    left = np.array([[10.0, 10.0, 30.0, 10.0, 30.0]], dtype=np.float32)
    right = np.array([[30.0, 10.0, 30.0, 30.0, np.nan]], dtype=np.float32)
    got = spikes(values, left, right, np.array([15.0]), relative=False)
    assert got.tolist() == [[False, True, True, False, False]]


def test_equal_runs_count_repeats_across_blocks_and_missing_slots():
    ignore = np.array([True])
    a = np.array([[1.0, 2.0, 2.0]], dtype=np.float32)
    first = equal_runs(
        a, np.array([[np.nan, 1.0, 2.0]], np.float32), 0, np.array([0]), np.array([-1]), ignore
    )
    assert first.repeats.tolist() == [[0, 0, 1]] and first.since.tolist() == [[0, 1, 1]]
    b = np.array([[np.nan, 2.0, 0.0, 0.0]], dtype=np.float32)
    left = np.array([[2.0, 2.0, 2.0, 0.0]], np.float32)
    second = equal_runs(b, left, 3, first.last_repeats, first.last_since, ignore)
    assert second.repeats.tolist() == [[1, 2, 0, 0]] and second.since.tolist() == [[1, 1, 5, 6]]
