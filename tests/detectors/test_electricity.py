"""The 电眼 rules as an inspector sees them: which episodes open, when they start and end.

Unless a test says otherwise the plants are day-shift plants (40 kWh per slot 08:00-18:00,
1 kWh standby otherwise, idle at weekends) read from Mon 2026-03-02, whose workday
baseline is ready from Fri 2026-03-06 on (4 workdays with the default thresholds).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from factories import (
    Exemption,
    FakeContext,
    Gap,
    Set,
    Status,
    detect,
    detector,
    episodes,
    local_ms,
    of,
    plus,
    readings,
    run,
    thresholds,
    timeline,
)

from detectors.state import StateMismatchError

PROD = 40.0


def _day_shift(days: int = 9, *injections: Set | Gap, entities=("E1",), **kw):
    """Day-shift plant(s) from Mon 2026-03-02 for ``days`` days."""
    return readings(entities, "2026-03-02", days, injections=injections, **kw)


# -- night_production ----------------------------------------------------------------------


def test_night_run_across_midnight_is_one_episode():
    batch = _day_shift(
        10, Set("E1", "2026-03-10 23:00", "2026-03-11 02:00", PROD), entities=("E1", "E2")
    )
    dets = detect(batch)
    assert timeline(dets, "night_production") == [
        ("2026-03-10 23:00", "2026-03-11 00:00", False, None),
        ("2026-03-10 23:00", "2026-03-11 02:00", True, None),
    ]
    assert [d.entity_id for d in dets] == ["E1", "E1"]
    assert of(dets, "usage_surge") == []  # the same readings: night production only


def test_night_surge_is_a_usage_surge_when_night_production_is_off():
    # The control for the test above: the night readings are a surge over the night
    # baseline, which night_production, the more specific finding, takes over.
    batch = _day_shift(10, Set("E1", "2026-03-10 23:00", "2026-03-11 02:00", PROD))
    th = thresholds("rules:\n  night_production:\n    enabled: false\n")
    assert episodes(detect(batch, th), "usage_surge") == ["2026-03-10 23:00"]


def test_night_window_opens_at_its_first_slot():
    batch = _day_shift(10, Set("E1", "2026-03-10 20:00", "2026-03-10 23:30", PROD))
    assert timeline(detect(batch), "night_production") == [
        ("2026-03-10 22:00", "2026-03-10 23:00", False, None),
        ("2026-03-10 22:00", "2026-03-10 23:30", True, None),
    ]


def test_night_run_ends_with_the_window():
    batch = _day_shift(10, Set("E1", "2026-03-11 04:00", "2026-03-11 09:00", PROD))
    assert timeline(detect(batch), "night_production") == [
        ("2026-03-11 04:00", "2026-03-11 05:00", False, None),
        ("2026-03-11 04:00", "2026-03-11 06:00", True, None),
    ]


def test_night_shift_plant_is_not_flagged():
    # N works 20:00-06:00 every day: its own history says nights are normal for it.
    # D, a day-shift plant, does the same on one night and is flagged.
    batch = readings(
        ("N", "D"),
        "2026-03-02",
        10,
        shapes={"N": "night_shift"},
        injections=[Set("D", "2026-03-10 20:00", "2026-03-11 06:00", PROD)],
    )
    dets = detect(batch)
    assert episodes(dets, "night_production", "N") == []
    assert episodes(dets, "night_production", "D") == ["2026-03-10 22:00"]
    assert of(dets, "usage_surge", "N") == []


def test_continuous_plant_is_not_flagged():
    batch = readings(("C",), "2026-03-02", 14, "continuous", rest_shape=None)
    assert detect(batch) == []


@pytest.mark.parametrize(
    ("night", "day", "fires"),
    [
        # Mon-Wed of the first week: the workday baseline has 1-2 days, not ready.
        ("2026-03-03 23:00", "2026-03-04 10:00", False),
        # the second week: ready, the same readings fire both rules
        ("2026-03-10 23:00", "2026-03-11 10:00", True),
    ],
)
def test_no_baseline_alert_during_warm_up(night, day, fires):
    batch = _day_shift(
        10, Set("E1", night, plus(night, 12), PROD), Set("E1", day, plus(day, 8), 100)
    )
    dets = detect(batch)
    assert episodes(dets, "night_production") == ([night] if fires else [])
    assert episodes(dets, "usage_surge") == ([day] if fires else [])


def test_flagged_night_production_is_not_learnt_as_normal():
    # From Fri 2026-03-06, when its baseline is ready, the day-shift plant runs every night.
    # Flagged nights do not teach the baseline, so it does not turn into a "night-shift
    # plant" after a few nights: every night is flagged.
    nights = [f"2026-03-{d:02d} 22:00" for d in range(6, 17)]
    batch = readings(
        ("E1",), "2026-03-02", 16, injections=[Set("E1", n, plus(n, 32), PROD) for n in nights]
    )
    assert episodes(detect(batch), "night_production") == nights


# -- suspended_operation --------------------------------------------------------------------


def test_suspension_from_noon_flags_production_from_noon():
    ctx = FakeContext(statuses=[Status("E1", "2026-03-10 12:00")])
    dets = detect(_day_shift(9), context=ctx)
    assert timeline(dets, "suspended_operation") == [
        ("2026-03-10 12:00", "2026-03-10 13:00", False, None),
        ("2026-03-10 12:00", "2026-03-10 18:00", True, None),
    ]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-03-10 10:00", "2026-03-10 11:00", []),  # before the suspension: fine
        ("2026-03-10 14:00", "2026-03-10 15:00", ["2026-03-10 14:00"]),
    ],
)
def test_production_before_and_after_a_mid_day_suspension(start, end, expected):
    batch = _day_shift(
        9,
        Set("E1", "2026-03-10 00:00", "2026-03-11 00:00", 1.0),  # standby on the day ...
        Set("E1", start, end, PROD),  # ... but for this hour
    )
    ctx = FakeContext(statuses=[Status("E1", "2026-03-10 12:00")])
    assert episodes(detect(batch, context=ctx), "suspended_operation") == expected


@pytest.mark.parametrize(
    ("standby", "flagged"),
    [
        (1.0, False),  # below the absolute floor (2 kWh)
        (5.0, False),  # above the floor, below 15 % of the 40 kWh production level
        (8.0, True),  # above both
    ],
)
def test_standby_consumption_while_suspended_is_not_flagged(standby, flagged):
    batch = _day_shift(9, Set("E1", "2026-03-09 00:00", "2026-03-11 00:00", standby))
    ctx = FakeContext(statuses=[Status("E1", "2026-03-09 00:00")])
    dets = episodes(detect(batch, context=ctx), "suspended_operation")
    assert dets == (["2026-03-09 00:00"] if flagged else [])


def test_suspension_before_any_baseline_is_judged_by_the_standby_floor():
    # Suspended from the first day of monitoring: no production level known yet, the 2 kWh
    # floor is the standby level.
    ctx = FakeContext(statuses=[Status("E1", "2026-03-02 00:00")])
    dets = detect(_day_shift(2), context=ctx)
    assert episodes(dets, "suspended_operation") == ["2026-03-02 08:00", "2026-03-03 08:00"]
    assert {d.baseline for d in dets} == {2.0}


def test_suspension_effective_to_is_respected():
    ctx = FakeContext(statuses=[Status("E1", "2026-03-10 12:00", "2026-03-10 14:00")])
    dets = detect(_day_shift(10), context=ctx)
    assert timeline(dets, "suspended_operation") == [
        ("2026-03-10 12:00", "2026-03-10 13:00", False, None),
        ("2026-03-10 12:00", "2026-03-10 14:00", True, None),
    ]


def test_approved_exemption_suppresses_the_alert():
    # Commissioning approved 08:00-12:00 during a suspension; the plant runs all day.
    ctx = FakeContext(
        statuses=[Status("E1", "2026-03-10 00:00", "2026-03-11 00:00")],
        exemptions=[
            Exemption("BB-7", "E1", "suspended_operation", "2026-03-10 08:00", "2026-03-10 12:00"),
            Exemption("BB-8", "E1", "night_production", "2026-03-10 12:00", "2026-03-10 18:00"),
        ],
    )
    dets = detect(_day_shift(9), context=ctx)
    assert sorted(timeline(dets, "suspended_operation")) == [
        ("2026-03-10 08:00", "2026-03-10 09:00", False, "BB-7"),
        ("2026-03-10 12:00", "2026-03-10 13:00", False, None),
        ("2026-03-10 12:00", "2026-03-10 18:00", True, None),
    ]


def test_exemption_covering_the_whole_run_leaves_only_a_suppressed_detection():
    ctx = FakeContext(
        statuses=[Status("E1", "2026-03-10 00:00", "2026-03-11 00:00")],
        exemptions=[
            Exemption("BB-7", "E1", "suspended_operation", "2026-03-10 00:00", "2026-03-11 00:00")
        ],
    )
    dets = detect(_day_shift(9), context=ctx)
    assert [(d.rule, d.suppressed_by, d.final) for d in dets] == [
        ("suspended_operation", "BB-7", False)
    ]


# -- usage_surge ------------------------------------------------------------------------------


def test_surge_on_a_workday_fires():
    batch = _day_shift(9, Set("E1", "2026-03-10 10:00", "2026-03-10 12:00", 100.0))
    dets = of(detect(batch), "usage_surge")
    assert timeline(dets, "usage_surge") == [
        ("2026-03-10 10:00", "2026-03-10 10:45", False, None),
        ("2026-03-10 10:00", "2026-03-10 12:00", True, None),
    ]
    final = dets[-1]
    assert final.observed == pytest.approx(100.0)
    assert final.baseline == pytest.approx(PROD, rel=0.06)
    assert final.score > 8.0
    assert final.thresholds["z"] == 8.0
    assert final.severity == "medium"


def _spring_festival(*injections: Set, entities=("E1",), **kw):
    """Mon 2026-01-19 to Sun 2026-03-01: the Spring Festival, its 调休 Saturdays around it."""
    return readings(entities, "2026-01-19", 42, injections=injections, **kw)


def test_plant_working_on_a_tiaoxiu_saturday_is_not_flagged():
    # Sat 2026-02-14 and Sat 2026-02-28 are make-up workdays: the plant works its workday.
    assert detect(_spring_festival()) == []


def test_surge_on_a_tiaoxiu_saturday_is_judged_against_the_workday_baseline():
    # W works lightly (10 kWh) on workdays and hard (40 kWh) at weekends. On the make-up
    # Saturday it is a workday: 35 kWh is 3.5 times its workday level. Judged as a
    # Saturday (rest day) it would look normal.
    batch = _spring_festival(
        Set("W", "2026-02-14 10:00", "2026-02-14 12:00", 35.0),
        entities=("W",),
        shape="light",
        rest_shape="continuous",
    )
    dets = of(detect(batch), "usage_surge")
    assert episodes(dets, "usage_surge") == ["2026-02-14 10:00"]
    assert dets[0].baseline == pytest.approx(10.0, rel=0.06)


def test_holiday_uses_the_rest_day_baseline():
    # The weekend plant runs its weekend level through the Spring Festival (Mon-Fri included):
    # holidays are rest days, so that is no surge over its (light) workday level.
    batch = _spring_festival(entities=("W",), shape="light", rest_shape="continuous")
    assert detect(batch) == []


def test_holiday_is_not_learnt_into_the_baseline():
    # Through the 9-day Spring Festival the weekend plant runs at 15 kWh instead of its
    # weekend 40 kWh. Had those days been learnt, its rest-day baseline would be 15 kWh and
    # its ordinary Sunday on 2026-03-01 a surge.
    batch = _spring_festival(
        Set("W", "2026-02-15 00:00", "2026-02-24 00:00", 15.0),
        entities=("W",),
        shape="light",
        rest_shape="continuous",
    )
    assert detect(batch) == []


# -- meter_offline -----------------------------------------------------------------------------


@pytest.mark.parametrize(("missing", "fires"), [(16, False), (17, True), (40, True)])
def test_meter_offline_after_more_than_max_gap(missing, fires):
    # E2 keeps reporting, so event time moves on while E1 is silent (240 min = 16 slots).
    start = "2026-03-03 10:00"
    batch = readings(
        ("E1", "E2"), "2026-03-02", 3, injections=[Gap("E1", start, plus(start, missing))]
    )
    dets = detect(batch)
    if not fires:
        assert dets == []
        return
    assert timeline(dets, "meter_offline") == [
        (start, plus(start, 17), False, None),  # opens once silence exceeds 4 h
        (start, plus(start, missing), True, None),  # the meter is back: the episode ends
    ]
    assert [d.entity_id for d in dets] == ["E1", "E1"]
    assert dets[-1].observed == pytest.approx(missing * 0.25)  # hours without readings


def test_meter_still_offline_at_the_end_has_no_final_detection():
    batch = readings(
        ("E1", "E2"),
        "2026-03-02",
        3,
        injections=[Gap("E1", "2026-03-03 10:00", "2026-03-05 00:00")],
    )
    assert timeline(detect(batch), "meter_offline") == [
        ("2026-03-03 10:00", "2026-03-03 14:15", False, None)
    ]


def test_meter_offline_limit_between_slots():
    # 250 minutes: 17 silent slots (255 min) are longer than allowed.
    th = thresholds("rules:\n  meter_offline:\n    max_gap_minutes: 250\n")
    start = "2026-03-03 10:00"
    batch = readings(("E1", "E2"), "2026-03-02", 3, injections=[Gap("E1", start, plus(start, 17))])
    assert episodes(detect(batch, th), "meter_offline") == [start]


@pytest.mark.parametrize(
    ("gap_start", "gap_end", "expected"),
    [
        # silent inside the run: one episode, 08:00-18:00
        ("2026-03-10 10:00", "2026-03-10 11:00", ("2026-03-10 09:00", "2026-03-10 18:00")),
        # silent on the 4th slot: the run reaches 4 slots at 09:00-09:15, not before
        ("2026-03-10 08:45", "2026-03-10 10:00", ("2026-03-10 10:15", "2026-03-10 18:00")),
        # silent right after the run: it ends at 18:00, not when the readings come back
        ("2026-03-10 18:00", "2026-03-10 20:00", ("2026-03-10 09:00", "2026-03-10 18:00")),
    ],
)
def test_missing_readings_neither_break_nor_extend_a_suspended_run(gap_start, gap_end, expected):
    ctx = FakeContext(statuses=[Status("E1", "2026-03-10 00:00", "2026-03-11 00:00")])
    batch = _day_shift(10, Gap("E1", gap_start, gap_end), entities=("E1", "E2"))
    opened, ended = expected
    assert timeline(detect(batch, context=ctx), "suspended_operation") == [
        ("2026-03-10 08:00", opened, False, None),
        ("2026-03-10 08:00", ended, True, None),
    ]


# -- thresholds ------------------------------------------------------------------------------


def test_county_override_changes_what_fires_for_that_county_only():
    th = thresholds(
        'overrides:\n  regions:\n    "370481":\n      rules:\n'
        "        meter_offline:\n          max_gap_minutes: 360\n"
    )
    # Tengzhou (370481) and Shizhong (370402), same city 3704; both silent for 5 hours.
    ctx = FakeContext(counties={"A": "370481", "B": "370402"})
    gap = ("2026-03-03 10:00", "2026-03-03 15:00")
    batch = readings(("A", "B", "C"), "2026-03-02", 3, injections=[Gap("A", *gap), Gap("B", *gap)])
    dets = detect(batch, th, ctx)
    assert [(d.entity_id, d.county, d.final) for d in dets] == [
        ("B", "370402", False),
        ("B", "370402", True),
    ]
    assert dets[0].thresholds["max_gap_minutes"] == 240


def _split(batch, at: str):
    """The readings up to local time ``at`` (slot ends) and those after it."""
    ts = batch["ts"].cast(pa.int64())
    cut = local_ms(at)
    return batch.filter(pc.less_equal(ts, cut)), batch.filter(pc.greater(ts, cut))


def test_reload_carries_the_new_version_without_reopening_an_episode():
    batch = _day_shift(
        10,
        Set("E1", "2026-03-10 23:00", "2026-03-11 03:00", PROD),
        Set("E2", "2026-03-11 02:00", "2026-03-11 04:00", PROD),
        entities=("E1", "E2"),
    )
    before, after = _split(batch, "2026-03-11 02:30")
    det = detector()
    old = det.thresholds.version
    first = det.step(before).detections
    assert [(d.entity_id, d.final, d.thresholds_version) for d in first] == [("E1", False, old)]

    new = thresholds("rules:\n  night_production:\n    production_fraction: 0.45\n")
    assert new.version != old
    det.reload(new)
    rest = run(det, [after])
    assert timeline(rest, "night_production") == [
        ("2026-03-11 02:00", "2026-03-11 03:00", False, None),  # E2 opens under the new file
        ("2026-03-10 23:00", "2026-03-11 03:00", True, None),  # E1's episode goes on and ends
        ("2026-03-11 02:00", "2026-03-11 04:00", True, None),
    ]
    assert [d.entity_id for d in rest] == ["E2", "E1", "E2"]
    assert {d.thresholds_version for d in rest} == {new.version}
    assert {d.thresholds["production_fraction"] for d in rest} == {0.45}


def test_reload_refuses_other_baseline_settings():
    det = detector()
    run(det, _day_shift(2))
    with pytest.raises(StateMismatchError, match="history_days"):
        det.reload(thresholds(history_days=10))


# -- what the alert's curve shows ----------------------------------------------------------


def _curve_end(d) -> list[float]:
    """The evidence readings of the detection's last abnormal slots (the curve's right end)."""
    return d.evidence["values"][-4:]


def test_night_alert_curve_shows_the_threshold_that_was_crossed():
    # 30 kWh is 75 % of the 40 kWh production level: over the 50 % threshold (20 kWh).
    batch = _day_shift(10, Set("E1", "2026-03-10 23:00", "2026-03-11 02:00", 30.0))
    (_opened, final) = of(detect(batch), "night_production")
    assert final.baseline == pytest.approx(PROD, rel=0.06)  # the production level
    assert final.evidence["threshold"] == pytest.approx(0.5 * final.baseline, rel=1e-3)
    assert min(_curve_end(final)) > final.evidence["threshold"]


@pytest.mark.parametrize(("value", "flagged"), [(70.0, False), (80.0, True)])
def test_surge_alert_curve_threshold_lies_between_normal_and_flagged(value, flagged):
    # Over a 40 kWh baseline, z = 8 and min_ratio = 1.8 put the line at about 72 kWh.
    batch = _day_shift(9, Set("E1", "2026-03-10 10:00", "2026-03-10 12:00", value))
    dets = of(detect(batch), "usage_surge")
    if not flagged:
        assert dets == []
        return
    threshold = dets[-1].evidence["threshold"]
    assert 70.0 < threshold < 80.0
    assert dets[-1].baseline < threshold < min(_curve_end(dets[-1]))


def test_suspended_alert_curve_shows_the_standby_level():
    ctx = FakeContext(statuses=[Status("E1", "2026-03-10 00:00")])
    final = of(detect(_day_shift(9), context=ctx), "suspended_operation")[-1]
    # standby = max(15 % of the 40 kWh production level, 2 kWh)
    assert final.evidence["threshold"] == pytest.approx(0.15 * PROD, rel=0.06)
    assert final.baseline == final.evidence["threshold"]
