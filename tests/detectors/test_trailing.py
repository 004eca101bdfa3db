"""Trailing windows and robust row statistics against plain per-reading references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from detectors.trailing import MAD_TO_SIGMA, robust_rows, trailing_windows

values_st = st.one_of(st.just(np.nan), st.floats(-1e6, 1e6))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(0, 40), c=st.integers(1, 6), groups=st.integers(1, 4))
def test_each_reading_sees_the_last_pushed_values_of_its_group_before_it(data, n, c, groups):
    g = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, groups - 1)))
    x = data.draw(hnp.arrays(np.float64, n, elements=values_st))
    push = data.draw(hnp.arrays(np.bool_, n))
    ring = data.draw(hnp.arrays(np.float64, (groups, c), elements=values_st))
    win = trailing_windows(g, x, push, ring)
    history = {k: list(ring[k]) for k in range(groups)}
    for i in range(n):
        np.testing.assert_array_equal(win.values[i], history[g[i]][-c:])
        if push[i]:
            history[g[i]].append(x[i])
    for k, ring_after in zip(win.groups, win.rings, strict=True):
        np.testing.assert_array_equal(ring_after, history[k][-c:])
    assert sorted(win.groups.tolist()) == sorted(set(g.tolist()))


@settings(max_examples=60, deadline=None)
@given(
    w=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 12)),
        elements=st.one_of(st.just(np.nan), st.floats(-1e3, 1e3)),
    ),
    min_count=st.integers(1, 12),
)
def test_robust_rows_are_the_median_and_scaled_mad_ignoring_nan(w, min_count):
    got = robust_rows(w, min_count)
    for i, row in enumerate(w):
        vals = row[~np.isnan(row)]
        assert got.count[i] == len(vals)
        if len(vals) < min_count:
            assert np.isnan(got.centre[i]) and np.isnan(got.spread[i])
            continue
        med = np.median(vals)
        mad = np.median(np.abs(vals - med))
        assert np.isclose(got.centre[i], med)
        if mad > 0:
            assert np.isclose(got.spread[i], MAD_TO_SIGMA * mad)
        else:  # over half the values equal: the mean deviation speaks for the rest
            assert np.isclose(got.spread[i], 1.2533 * np.abs(vals - med).mean())
