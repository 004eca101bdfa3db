"""The sorting-network median/MAD equals numpy's nanmedian for any history."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from detectors.baseline import _network, robust_centre, robust_centre_spread


def _reference(h: np.ndarray, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(h, axis=1)
        count = (~np.isnan(h)).sum(axis=1)
        med[count < min_count] = np.nan
        mad = np.nanmedian(np.abs(h - med[:, None, :]), axis=1)
        mad[count < min_count] = np.nan
    return med, mad


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=12),
        elements=st.one_of(st.just(np.nan), st.floats(0, 1e4, width=32)),
    ),
    st.integers(1, 6),
)
def test_matches_nanmedian(history: np.ndarray, min_count: int) -> None:
    med, mad = robust_centre_spread(history, min_count)
    ref_med, ref_mad = _reference(history.astype(np.float64), min_count)
    np.testing.assert_allclose(med, ref_med, rtol=1e-5, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(mad, ref_mad, rtol=1e-5, atol=1e-3, equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=12),
        elements=st.one_of(st.just(np.nan), st.sampled_from([0.0, 1.0, 2.5, 7.0])),
    ),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
)
def test_each_entry_on_its_own_gives_the_same_bits(
    history: np.ndarray, min_count: int, seed: int
) -> None:
    # the daily refresh keeps the median only; the MAD of a few entries is computed when a
    # rule needs it, and must be what the whole-array pass would have given, bit for bit,
    # whatever the entries summarised with it (whole missing columns, missing values)
    rng = np.random.default_rng(seed)
    history[: history.shape[0] // 2, rng.integers(0, history.shape[1])] = np.nan
    med, mad = robust_centre_spread(history, min_count)
    np.testing.assert_array_equal(robust_centre(history, min_count), med)
    row, slot = np.divmod(rng.permutation(med.size), history.shape[2])
    one_med, one_mad = robust_centre_spread(history[row, :, slot][:, :, None], min_count)
    np.testing.assert_array_equal(one_med[:, 0], med[row, slot])
    np.testing.assert_array_equal(one_mad[:, 0], mad[row, slot])


def test_network_sorts_every_zero_one_input() -> None:
    # the 0-1 principle: a comparator network that sorts every 0/1 input sorts everything
    for size in range(1, 13):
        pairs = _network(size)
        for bits in range(1 << size):
            x = [(bits >> i) & 1 for i in range(size)]
            for a, b in pairs:
                if x[a] > x[b]:
                    x[a], x[b] = x[b], x[a]
            assert x == sorted(x), (size, bits)
