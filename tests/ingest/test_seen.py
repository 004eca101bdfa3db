"""too_late and duplicate: the vectorized tracker agrees with a row-by-row reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.seen import NONE, SeenReadings

N_METRICS = 3
STEP = 60_000
BASE = 1_704_067_200_000


def reference(rows, lateness):
    """Row by row: (too_late, duplicate) of each (entity, metric, ts) in stream order."""
    newest: dict[tuple[int, int], int] = {}
    keys: set[tuple[int, int, int]] = set()
    out = []
    for e, m, t in rows:
        before = newest.get((e, m), NONE)
        if t < before - lateness[e]:
            out.append((True, False))
        elif (e, m, t) in keys:
            out.append((False, True))
        else:
            out.append((False, False))
            keys.add((e, m, t))
            newest[(e, m)] = max(before, t)
    return out


def run(seen, rows, cuts, codes=np.int64):
    """Feed rows to the tracker in chunks cut at ``cuts``; (too_late, duplicate) per row.

    ``codes``: the dtype of entity rows and metric codes (the validator's are int32).
    """
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    out = []
    for chunk in np.split(arr, sorted(set(cuts))):
        e, m = chunk[:, 0].astype(codes), chunk[:, 1].astype(codes)
        late, dup, _ = seen.check(e, m, chunk[:, 2])
        out.extend(zip(late.tolist(), dup.tolist(), strict=True))
    return out


@st.composite
def streams(draw):
    n_entities = draw(st.integers(1, 4))
    n = draw(st.integers(0, 80))
    row = st.tuples(
        st.integers(0, n_entities - 1),
        st.integers(0, N_METRICS - 1),
        st.integers(0, 40).map(lambda k: BASE + k * STEP),
    )
    rows = draw(st.lists(row, min_size=n, max_size=n))
    order = draw(st.sampled_from(["as drawn", "by time", "by entity", "by series", "woven"]))
    if order == "woven":  # each series in time order, series interleaved at random
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        keys = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
        per_series: dict[tuple[int, int], list[float]] = {}
        for r, k in zip(rows, keys, strict=True):
            per_series.setdefault((r[0], r[1]), []).append(k)
        slots = {key: iter(sorted(ks)) for key, ks in per_series.items()}
        woven = [(next(slots[(r[0], r[1])]), r) for r in rows]
        rows = [r for _, r in sorted(woven, key=lambda x: x[0])]
    elif order == "by time":
        rows.sort(key=lambda r: r[2])
    elif order == "by entity":
        rows.sort(key=lambda r: (r[0], r[2]))
    elif order == "by series":
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
    lateness = draw(
        st.lists(
            st.integers(0, 10).map(lambda k: k * STEP), min_size=n_entities, max_size=n_entities
        )
    )
    cuts = draw(st.lists(st.integers(0, max(n, 0)), max_size=5))
    return rows, np.array(lateness, dtype=np.int64), cuts


@settings(max_examples=150, deadline=None)
@given(
    case=streams(),
    prune_min=st.sampled_from([1, 8, 1 << 20]),
    codes=st.sampled_from([np.int64, np.int32]),
)
def test_agrees_with_row_by_row_reference(case, prune_min, codes):
    rows, lateness, cuts = case
    seen = SeenReadings(N_METRICS, prune_min=prune_min)
    seen.add_entities(lateness)
    assert run(seen, rows, cuts, codes) == reference(rows, lateness)


def test_an_ordered_batch_after_the_newest_still_catches_its_own_repeats_and_the_next_late():
    seen = SeenReadings(N_METRICS)
    seen.add_entities(np.array([STEP, STEP], dtype=np.int64))
    e, m = np.array([0, 1, 0, 1, 1]), np.zeros(5, dtype=np.int64)
    t = BASE + STEP * np.array([1, 1, 2, 2, 2])  # in time order; (1, 0, 2) sent twice
    late, dup, before = seen.check(e, m, t)
    assert not late.any() and dup.tolist() == [False, False, False, False, True]
    assert before is None  # nothing late: nothing was compared
    late, dup, before = seen.check(
        np.array([0, 1]), np.zeros(2, np.int64), BASE + STEP * np.array([0, 2])
    )
    assert late.tolist() == [True, False] and dup.tolist() == [False, True]
    assert before is not None and before[0] == BASE + 2 * STEP


def test_too_late_reports_the_newest_it_was_compared_with():
    seen = SeenReadings(N_METRICS)
    seen.add_entities(np.array([STEP], dtype=np.int64))
    e = np.zeros(3, dtype=np.int64)
    m = np.zeros(3, dtype=np.int64)
    late, dup, before = seen.check(e, m, np.array([BASE + 10 * STEP, BASE, BASE + 9 * STEP]))
    assert late.tolist() == [False, True, False]
    assert dup.tolist() == [False, False, False]
    assert before[1] == BASE + 10 * STEP


def test_series_are_independent_for_lateness():
    """A metric read hours after another metric of the same entity is not late."""
    seen = SeenReadings(N_METRICS)
    seen.add_entities(np.array([STEP], dtype=np.int64))
    hours = np.arange(24, dtype=np.int64) * 3_600_000 + BASE
    zeros = np.zeros(24, dtype=np.int64)
    seen.check(zeros, zeros, hours)
    late, _, _ = seen.check(zeros, zeros + 1, hours)
    assert not late.any()


def test_keys_stay_bounded_on_a_long_in_order_stream():
    seen = SeenReadings(N_METRICS, prune_min=1000)
    entities = 50
    lateness_slots = 8
    seen.add_entities(np.full(entities, lateness_slots * STEP, dtype=np.int64))
    e = np.tile(np.arange(entities, dtype=np.int64), 100)
    m = np.zeros_like(e)
    peak = 0
    for day in range(20):
        t = BASE + (np.repeat(np.arange(100), entities) + day * 100) * STEP
        late, dup, _ = seen.check(e, m, t)
        assert not late.any() and not dup.any()
        peak = max(peak, seen.held_keys)
    live = entities * (lateness_slots + 1)
    assert peak <= max(2 * live, 1000) + len(e)
