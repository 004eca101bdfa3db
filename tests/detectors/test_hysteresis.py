"""Hysteresis of scores: enter above the high mark, leave below the low one, no flapping."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from detectors.hysteresis import hysteresis

score_st = st.one_of(st.just(np.nan), st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]))


def test_a_score_hovering_at_the_threshold_makes_one_anomaly() -> None:
    score = np.array([0.5, 0.991, 0.989, 0.9905, 0.985, 0.991, 0.97, 0.5])
    flags = hysteresis(np.zeros(8, np.int64), score, 0.99, 0.98, np.zeros(1, bool))
    assert flags.flags.tolist() == [False, True, True, True, True, True, False, False]
    assert not flags.state[0]


def test_exactly_at_the_marks_neither_enters_nor_leaves() -> None:
    at_high = hysteresis(np.zeros(1, np.int64), np.array([0.99]), 0.99, 0.98, np.zeros(1, bool))
    at_low = hysteresis(np.zeros(1, np.int64), np.array([0.98]), 0.99, 0.98, np.ones(1, bool))
    assert not at_high.flags[0]
    assert at_low.flags[0] and at_low.state[0]


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(0, 30), groups=st.integers(1, 3))
def test_matches_a_reading_by_reading_state_machine(data, n, groups):
    g = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, groups - 1)))
    score = np.array(data.draw(st.lists(score_st, min_size=n, max_size=n)), dtype=np.float64)
    prior = data.draw(hnp.arrays(np.bool_, groups))
    got = hysteresis(g, score, 0.95, 0.9, prior)
    state = prior.copy()
    for i in range(n):
        if score[i] > 0.95:
            state[g[i]] = True
        elif score[i] < 0.9:
            state[g[i]] = False
        assert got.flags[i] == (state[g[i]] and not np.isnan(score[i]))
    for k, s in zip(got.groups, got.state, strict=True):
        assert s == state[k]
