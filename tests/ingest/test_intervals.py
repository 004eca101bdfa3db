"""Point-in-interval lookup agrees with a plain scan, overlaps and open ends included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.intervals import EPOCH_MS, OPEN_END, IntervalIndex

T = EPOCH_MS + 10**12  # a time well inside the supported range

intervals = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 100),
        st.one_of(st.integers(1, 50), st.just(None)),
    ),
    max_size=12,
)
queries = st.lists(st.tuples(st.integers(-1, 4), st.integers(-5, 160)), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(intervals, queries)
def test_covering_matches_a_scan(spec, probes) -> None:
    group = np.array([g for g, _, _ in spec], dtype=np.int64)
    start = np.array([T + s for _, s, _ in spec], dtype=np.int64)
    end = np.array([OPEN_END if n is None else T + s + n for _, s, n in spec], dtype=np.int64)
    index = IntervalIndex(group, start, end)
    q_group = np.array([g for g, _ in probes])
    q_ts = np.array([T + t for _, t in probes])
    got = index.covering(q_group, q_ts)
    for (g, t), hit in zip(probes, got, strict=True):
        covers = [i for i in range(len(spec)) if group[i] == g and start[i] <= T + t < end[i]]
        if covers:
            assert hit in covers
        else:
            assert hit == -1


def test_labels_are_returned_instead_of_positions() -> None:
    index = IntervalIndex(
        np.array([0, 1]), np.array([T, T]), np.array([T + 10, T + 10]), labels=np.array([7, 9])
    )
    assert index.covering(np.array([1, 0, 2]), np.array([T, T + 9, T])).tolist() == [9, 7, -1]


def test_empty_index_finds_nothing() -> None:
    index = IntervalIndex(np.empty(0), np.empty(0), np.empty(0))
    assert index.covering(np.array([0, 1]), np.array([T, T])).tolist() == [-1, -1]
