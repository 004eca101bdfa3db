"""Episodes: the minimum run that opens one and the recovery that ends it, for every rule.

Each behaviour rule gets runs of abnormal slots on Tue 2026-03-10 of a day-shift plant:
- suspended_operation: suspended all day, at standby (1 kWh) except the runs at 40 kWh;
- night_production: runs at 40 kWh from 22:00 (standby otherwise);
- usage_surge: runs at 100 kWh from 10:00 over its usual 40 kWh.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from factories import (
    Exemption,
    FakeContext,
    Set,
    Status,
    detect,
    detector,
    per_slot_batches,
    plus,
    readings,
    run,
    thresholds,
    timeline,
)

from detectors.electricity import BEHAVIOUR_RULES, NIGHT_RECOVERY_SLOTS
from detectors.episodes import EpisodeTracker, episode_columns
from detectors.state import EntityState

START = {
    "suspended_operation": "2026-03-10 10:00",
    "night_production": "2026-03-10 22:00",
    "usage_surge": "2026-03-10 10:00",
}
ABNORMAL = {"suspended_operation": 40.0, "night_production": 40.0, "usage_surge": 100.0}
NORMAL = {"suspended_operation": 1.0, "night_production": 1.0, "usage_surge": 40.0}


def _context(rule: str) -> FakeContext | None:
    if rule != "suspended_operation":
        return None
    return FakeContext(statuses=[Status("E1", "2026-03-10 00:00", "2026-03-11 00:00")])


def _runs(rule: str, *lengths: int):
    """Readings with alternating abnormal/normal runs of ``lengths`` slots from START."""
    injections = []
    if rule == "suspended_operation":
        injections.append(Set("E1", "2026-03-10 00:00", "2026-03-11 00:00", NORMAL[rule]))
    at = START[rule]
    for i, n in enumerate(lengths):
        value = ABNORMAL[rule] if i % 2 == 0 else NORMAL[rule]
        injections.append(Set("E1", at, plus(at, n), value))
        at = plus(at, n)
    return readings(("E1",), "2026-03-02", 10, injections=injections)


def _min_run(th, rule: str) -> int:
    return int(th.rules[rule]["min_run_slots"])


def _recovery(th, rule: str) -> int:
    return int(th.rules[rule].values.get("recovery_slots", NIGHT_RECOVERY_SLOTS))


@pytest.mark.parametrize("rule", BEHAVIOUR_RULES)
@pytest.mark.parametrize("min_run", [None, 2, 6])
def test_run_of_exactly_min_run_slots_fires(rule, min_run):
    extra = f"rules:\n  {rule}:\n    min_run_slots: {min_run}\n" if min_run else ""
    th = thresholds(extra)
    n = _min_run(th, rule)
    start = START[rule]
    assert timeline(detect(_runs(rule, n), th, _context(rule)), rule) == [
        (start, plus(start, n), False, None),
        (start, plus(start, n), True, None),
    ]


@pytest.mark.parametrize("rule", BEHAVIOUR_RULES)
@pytest.mark.parametrize("min_run", [None, 2, 6])
def test_run_one_below_min_run_does_not_fire(rule, min_run):
    extra = f"rules:\n  {rule}:\n    min_run_slots: {min_run}\n" if min_run else ""
    th = thresholds(extra)
    n = _min_run(th, rule) - 1
    assert timeline(detect(_runs(rule, n), th, _context(rule)), rule) == []


@pytest.mark.parametrize("rule", BEHAVIOUR_RULES)
def test_dip_shorter_than_recovery_keeps_one_episode(rule):
    th = thresholds()
    n, rec = _min_run(th, rule), _recovery(th, rule)
    start = START[rule]
    dets = detect(_runs(rule, n, rec - 1, n), th, _context(rule))
    assert timeline(dets, rule) == [
        (start, plus(start, n), False, None),
        (start, plus(start, 2 * n + rec - 1), True, None),
    ]


@pytest.mark.parametrize("rule", BEHAVIOUR_RULES)
def test_dip_of_recovery_slots_gives_two_episodes(rule):
    th = thresholds()
    n, rec = _min_run(th, rule), _recovery(th, rule)
    start, second = START[rule], plus(START[rule], n + rec)
    dets = detect(_runs(rule, n, rec, n), th, _context(rule))
    # (in one batch the opening detections of a block come before its final ones)
    assert sorted(timeline(dets, rule)) == [
        (start, plus(start, n), False, None),
        (start, plus(start, n), True, None),
        (second, plus(second, n), False, None),
        (second, plus(second, n), True, None),
    ]


@pytest.mark.parametrize("rule", ["suspended_operation", "usage_surge"])
def test_recovery_slots_is_read_from_the_thresholds(rule):
    th = thresholds(f"rules:\n  {rule}:\n    recovery_slots: 8\n")
    n = _min_run(th, rule)
    start = START[rule]
    dets = detect(_runs(rule, n, 7, n), th, _context(rule))
    assert timeline(dets, rule) == [
        (start, plus(start, n), False, None),
        (start, plus(start, 2 * n + 7), True, None),
    ]


@pytest.mark.parametrize("batching", ["one batch", "per slot"])
def test_short_exempted_runs_do_not_add_up_to_an_episode(batching):
    # Two 2-slot runs of commissioning under an approved exemption, hours apart: neither
    # reaches the 4-slot minimum, whatever the batches the readings came in.
    ctx = FakeContext(
        statuses=[Status("E1", "2026-03-10 00:00", "2026-03-11 00:00")],
        exemptions=[
            Exemption("BB-1", "E1", "suspended_operation", "2026-03-10 06:00", "2026-03-10 20:00")
        ],
    )
    batch = readings(
        ("E1",),
        "2026-03-09",
        2,
        injections=[
            Set("E1", "2026-03-10 00:00", "2026-03-11 00:00", 1.0),
            Set("E1", "2026-03-10 08:00", "2026-03-10 08:30", 40.0),
            Set("E1", "2026-03-10 12:00", "2026-03-10 12:30", 40.0),
        ],
    )
    batches = [batch] if batching == "one batch" else per_slot_batches(batch)
    assert run(detector(context=ctx), batches) == []


# -- hysteresis and peaks (the station rules' use of the tracker) ---------------------------


def _tracker_run(cond, hold=None, peak=None, tag=None, split=None):
    """One entity through the tracker (min run 2, recovery 2), in one block or two."""
    state = EntityState(episode_columns("r", peak=True), {})
    state.rows_for(["S1"])
    tracker = EpisodeTracker("r")
    arrays = [np.array([a]) if a is not None else None for a in (cond, hold, peak, tag)]
    cuts = [0, split or len(cond), len(cond)]
    events = []
    for a, b in itertools.pairwise(cuts):
        if a == b:
            continue
        part = [x[:, a:b] if x is not None else None for x in arrays]
        c = part[0].astype(bool)
        ev = tracker.step(
            state,
            c,
            np.ones_like(c),
            np.ones(c.shape),
            a,
            np.array([2]),
            np.array([2]),
            hold=None if part[1] is None else part[1].astype(bool),
            peak=part[2],
            tag=part[3],
        )
        events += [
            ("open", int(s), int(t), float(p), int(g))
            for s, t, p, g in zip(ev.open_start, ev.open_at, ev.open_peak, ev.open_tag, strict=True)
        ]
        events += [
            ("close", int(s), int(t), float(p), int(g))
            for s, t, p, g in zip(
                ev.close_start, ev.close_last, ev.close_peak, ev.close_tag, strict=True
            )
        ]
    return sorted(events, key=lambda e: (e[1], e[0] == "close"))


def test_hold_keeps_an_open_episode_going_inside_the_band():
    cond = [1, 1, 0, 0, 0, 1, 0, 0, 0]
    band = [1, 1, 1, 1, 1, 1, 0, 0, 0]
    without = _tracker_run(cond)
    assert [e[:3] for e in without] == [("open", 0, 1), ("close", 0, 1)]
    with_band = _tracker_run(cond, hold=band)
    assert [e[:3] for e in with_band] == [("open", 0, 1), ("close", 0, 5)]


def test_the_peak_and_its_tag_are_the_worst_of_the_episode_whatever_the_blocks():
    cond = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0]
    peak = [1.0, 3.0, 2.0, 5.0, 9.0, 9.0, 4.0, 2.0, 0.0, 0.0]
    tag = [0, 1, 0, 2, 7, 7, 1, 0, 0, 0]
    whole = _tracker_run(cond, peak=peak, tag=tag)
    assert whole == [
        ("open", 0, 1, 3.0, 1),
        ("close", 0, 3, 5.0, 2),  # readings off the episode (9.0) never count
        ("open", 6, 7, 4.0, 1),
        ("close", 6, 7, 4.0, 1),
    ]
    assert _tracker_run(cond, peak=peak, tag=tag, split=3) == whole


def _episodes_in_blocks(cond, valid, observed, min_run, recovery, cuts, hold=None):
    """Every event of a tracker fed the slots in blocks cut at ``cuts``, and its final state."""
    state = EntityState(episode_columns("r"), {})
    state.rows_for([f"E{i}" for i in range(cond.shape[0])])
    tracker = EpisodeTracker("r")
    events = []
    for a, b in itertools.pairwise([0, *cuts, cond.shape[1]]):
        ev = tracker.step(
            state,
            cond[:, a:b],
            valid[:, a:b],
            observed[:, a:b],
            a,
            min_run,
            recovery,
            hold=None if hold is None else hold[:, a:b],
        )
        events += zip(
            ["open"] * ev.open_rows.size,
            ev.open_rows.tolist(),
            ev.open_start.tolist(),
            ev.open_at.tolist(),
            ev.open_mean.tolist(),
            strict=True,
        )
        events += zip(
            ["close"] * ev.close_rows.size,
            ev.close_rows.tolist(),
            ev.close_start.tolist(),
            ev.close_last.tolist(),
            ev.close_mean.tolist(),
            strict=True,
        )
    final = {name: state[name][: cond.shape[0]].tolist() for name in state.columns}
    return sorted(events), final


@pytest.mark.parametrize("with_hold", [False, True])
def test_episodes_and_their_means_do_not_depend_on_the_blocks(with_hold):
    # Runs of all lengths with missing slots, for entities of different minimum runs and
    # recoveries: fed slot by slot, by day or in uneven blocks, the same episodes open and
    # end at the same slots with the same (bit-identical) means.
    rng = np.random.default_rng(3)
    n, t_len = 60, 400
    rate = rng.choice([0.02, 0.3, 0.7, 0.97], size=(n, 1))
    cond = rng.random((n, t_len)) < rate
    cond[:5, 40:300] = True  # long episodes spanning many blocks
    valid = rng.random((n, t_len)) < rng.choice([0.7, 0.95, 1.0], size=(n, 1))
    observed = (rng.random((n, t_len)) * 50).astype(np.float32)
    hold = cond | (rng.random((n, t_len)) < 0.5) if with_hold else None
    min_run = rng.integers(1, 6, size=n)
    recovery = rng.integers(0, 5, size=n)
    uneven = sorted(rng.choice(np.arange(1, t_len), size=25, replace=False).tolist())
    for rows in (slice(0, n), *(slice(i, i + 3) for i in range(0, n, 3))):  # all, and few
        args = (cond[rows], valid[rows], observed[rows], min_run[rows], recovery[rows])
        h = None if hold is None else hold[rows]
        per_slot = _episodes_in_blocks(*args, list(range(1, t_len)), h)
        assert per_slot[0]  # episodes did open and end
        assert _episodes_in_blocks(*args, list(range(96, t_len, 96)), h) == per_slot
        assert _episodes_in_blocks(*args, uneven, h) == per_slot
