"""The generic score: calibrated across series, online, vectorized across series, restorable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.generic_score import GenericScorer
from detectors.state import StateMismatchError
from detectors.thresholds import parse_thresholds

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
FIVE_MIN = 300_000


def _thresholds(**params: object):
    body = "".join(f"    {k}: {v}\n" for k, v in params.items())
    return parse_thresholds("rules:\n  generic_score:\n" + (body or "    enabled: true\n"))


def _series(n: int, seed: int, level: float, noise: float, cycle: float = 0.0, step=FIVE_MIN):
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n, dtype=np.int64) * step
    hours = (ts / 3_600_000 + 8) % 24
    values = level + cycle * np.sin(2 * np.pi * hours / 24) + rng.normal(0.0, noise, n)
    return ts, values


def _score(scorer: GenericScorer, name: str, ts: np.ndarray, values: np.ndarray):
    row = scorer.rows([name])[0]
    return scorer.score(np.full(len(ts), row), ts, values)


def test_a_planted_spike_is_flagged_and_the_noise_around_it_is_not() -> None:
    ts, values = _series(8000, seed=1, level=400.0, noise=2.0, cycle=50.0)
    values[6000] += 25.0  # 12.5 noise sigmas, a quarter of the daily swing
    result = _score(GenericScorer(_thresholds()), "station", ts, values)
    assert result.is_anomaly[6000]
    assert result.score[6000] > 0.9999
    assert result.seasonal[6000]  # the daily cycle was recognised
    assert result.is_anomaly[5000:5990].sum() <= 2


@pytest.mark.parametrize("threshold", [0.99, 0.999])
def test_one_threshold_flags_the_same_share_on_different_series(threshold: float) -> None:
    """Level, scale, noise, daily cycle and sampling differ; the false-positive rate does not."""
    thresholds = _thresholds(threshold=threshold, hysteresis=0.0)
    series = {
        "pressure_kpa": _series(40_000, seed=2, level=400.0, noise=3.0, cycle=60.0),
        "level_m": _series(40_000, seed=3, level=0.8, noise=0.004, step=60_000),
    }
    rates = {}
    for name, (ts, values) in series.items():
        result = _score(GenericScorer(thresholds), name, ts, values)
        scored = ~np.isnan(result.score)
        scored[:2000] = False  # warm-up: the seasonal baseline needs days
        rates[name] = result.is_anomaly[scored].mean()
    expected = 1.0 - threshold
    for rate in rates.values():
        assert 0.6 * expected < rate < 1.6 * expected, rates
    low, high = sorted(rates.values())
    assert high < 2.0 * low, rates


def test_scores_are_in_the_unit_interval_and_unscored_until_min_history() -> None:
    ts, values = _series(200, seed=4, level=5.0, noise=1.0)
    values[50] = np.nan
    result = _score(GenericScorer(_thresholds(min_history=10, seasonal="none")), "s", ts, values)
    assert np.isnan(result.score[:10]).all()
    assert not np.isnan(result.score[10:50]).any()
    assert np.isnan(result.score[50]) and not result.is_anomaly[50]
    scored = result.score[~np.isnan(result.score)]
    assert ((scored >= 0) & (scored <= 1)).all()


def test_a_constant_series_flags_any_change() -> None:
    ts = T0 + np.arange(60, dtype=np.int64) * FIVE_MIN
    values = np.full(60, 7.0)
    values[59] = 7.01
    result = _score(GenericScorer(_thresholds(seasonal="none")), "stuck", ts, values)
    assert result.score[58] == 0.0 and not result.is_anomaly[58]
    assert result.score[59] == 1.0 and result.is_anomaly[59]


def test_a_series_without_a_daily_cycle_is_judged_on_its_rolling_baseline() -> None:
    ts, values = _series(6000, seed=5, level=10.0, noise=1.0)
    result = _score(GenericScorer(_thresholds()), "flat", ts, values)
    assert result.seasonal[3000:].mean() < 0.05


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 1199), max_size=6), seed=st.integers(0, 3))
def test_any_cut_into_batches_gives_the_same_scores(cuts: list[int], seed: int) -> None:
    """Online: a score depends on its reading and earlier ones only, never on the batching."""
    ts, values = _series(1200, seed=seed, level=50.0, noise=1.0, cycle=10.0, step=3_600_000)
    values[::97] = np.nan
    thresholds = _thresholds(window=16, min_history=4, min_season_days=2, threshold=0.99)
    whole = _score(GenericScorer(thresholds), "s", ts, values)
    scorer = GenericScorer(thresholds)
    row = scorer.rows(["s"])[0]
    parts = []
    bounds = [0, *sorted(set(cuts)), len(ts)]
    for a, b in itertools.pairwise(bounds):
        parts.append(scorer.score(np.full(b - a, row), ts[a:b], values[a:b]))
    np.testing.assert_array_equal(np.concatenate([p.score for p in parts]), whole.score)
    np.testing.assert_array_equal(np.concatenate([p.is_anomaly for p in parts]), whole.is_anomaly)


def test_many_series_in_one_batch_score_as_each_alone() -> None:
    thresholds = _thresholds(window=32, min_history=8)
    a_ts, a = _series(3000, seed=6, level=3.0, noise=0.1, cycle=1.0)
    b_ts, b = _series(3000, seed=7, level=900.0, noise=20.0)
    alone_a = _score(GenericScorer(thresholds), "a", a_ts, a)
    alone_b = _score(GenericScorer(thresholds), "b", b_ts, b)
    scorer = GenericScorer(thresholds)
    rows = scorer.rows(["a", "b"])
    mixed = scorer.score(
        np.stack([np.full(3000, rows[0]), np.full(3000, rows[1])], axis=1).ravel(),
        np.stack([a_ts, b_ts], axis=1).ravel(),
        np.stack([a, b], axis=1).ravel(),
    )
    np.testing.assert_array_equal(mixed.score[0::2], alone_a.score)
    np.testing.assert_array_equal(mixed.score[1::2], alone_b.score)


def test_snapshot_and_restore_carry_on_exactly() -> None:
    thresholds = _thresholds(window=24, min_history=6)
    ts, values = _series(3000, seed=8, level=20.0, noise=2.0, cycle=5.0)
    whole = _score(GenericScorer(thresholds), "s", ts, values)
    first = GenericScorer(thresholds)
    _score(first, "s", ts[:1700], values[:1700])
    second = GenericScorer(thresholds)
    second.restore(first.snapshot())
    rest = _score(second, "s", ts[1700:], values[1700:])
    np.testing.assert_array_equal(rest.score, whole.score[1700:])


def test_state_shaped_by_another_window_is_refused() -> None:
    scorer = GenericScorer(_thresholds(window=24))
    _score(scorer, "s", *_series(100, seed=9, level=1.0, noise=0.1))
    other = GenericScorer(_thresholds(window=48))
    with pytest.raises(StateMismatchError):
        other.restore(scorer.snapshot())
    with pytest.raises(StateMismatchError, match="window"):
        scorer.reload(_thresholds(window=48))
    scorer.reload(_thresholds(window=24, threshold=0.99))  # same shape: accepted
    assert scorer.params["threshold"][0] == 0.99


def test_an_entity_override_shortens_its_window_only() -> None:
    text = (
        "rules:\n  generic_score: {window: 64, min_history: 8, seasonal: none}\n"
        "overrides:\n  entities:\n    'E2': {rules: {generic_score: {window: 8}}}\n"
    )
    scorer = GenericScorer(parse_thresholds(text))
    rows = scorer.rows(["E1|x", "E2|x"], entities=["E1", "E2"])
    values = np.r_[np.zeros(40), np.full(12, 10.0)] + np.tile([0.0, 0.1], 26)
    ts = T0 + np.arange(52, dtype=np.int64) * FIVE_MIN
    result = scorer.score(np.repeat(rows, 52), np.tile(ts, 2), np.tile(values, 2))
    long_window, short_window = result.score[:52], result.score[52:]
    assert long_window[-1] > 0.999  # 64 readings: the step is still far from normal
    assert short_window[-1] < 0.99  # 8 readings: the new level is normal by now
