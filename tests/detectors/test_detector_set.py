"""The detector set: one interface over every detector of a runtime."""

from __future__ import annotations

import pytest
from factories import Gap, Set, keys, readings

from detectors.detector_set import DetectorSet
from detectors.state import StateMismatchError
from detectors.thresholds import load_thresholds, parse_thresholds


def test_snapshot_mid_stream_then_restore_continues_identically():
    th = load_thresholds("config/thresholds.yaml")
    batch = readings(
        ("E1", "E2"),
        "2026-03-02",
        21,
        injections=[
            Set("E1", "2026-03-18 23:00", "2026-03-19 02:00", 100.0),
            Gap("E2", "2026-03-12 08:00", "2026-03-12 18:00"),
        ],
    )
    half = batch.num_rows // 2
    first, rest = batch.slice(0, half), batch.slice(half)
    whole = DetectorSet(th)
    expected = keys(
        whole.step(first).detections + whole.step(rest).detections + whole.flush().detections
    )
    a = DetectorSet(th)
    got = a.step(first).detections
    b = DetectorSet(th)
    b.restore(a.snapshot())
    got += b.step(rest).detections + b.flush().detections
    assert {k[0] for k in expected} >= {"night_production", "meter_offline"}
    assert keys(got) == expected


def test_restore_refuses_a_snapshot_without_a_detector():
    th = load_thresholds("config/thresholds.yaml")
    empty = DetectorSet(th, factories={})
    with pytest.raises(StateMismatchError, match="electricity"):
        DetectorSet(th).restore(empty.snapshot())


def test_reload_is_all_or_nothing():
    th = load_thresholds("config/thresholds.yaml")
    s = DetectorSet(th)
    other = parse_thresholds("baseline: {history_days: 10, min_history_days: 4}\n")
    with pytest.raises(StateMismatchError):
        s.reload(other)
    assert s.thresholds is th and s["electricity"].thresholds is th
