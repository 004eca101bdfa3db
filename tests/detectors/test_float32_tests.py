"""Rule tests made in float32 for speed give the float64 tests' results, to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from factories import detector, readings, run

from detectors.electricity import _below32, _Block
from ingest.normalize import slot_end_ms
from ingest.schema import SLOTS_PER_DAY


def _neighbours(x: np.ndarray, steps: int = 2) -> np.ndarray:
    """The float32 values within ``steps`` of the float32 nearest to each x (x by 2*steps+1)."""
    with np.errstate(over="ignore"):
        near = x.astype(np.float32)
    around = [near]
    up, down = near, near
    for _ in range(steps):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(-np.inf))
        around += [up, down]
    return np.stack(around, axis=1)


def test_below32_compares_like_the_float64_value():
    rng = np.random.default_rng(7)
    special = [0.0, -0.0, 1e-45, -1e-45, 3.5e38, -3.5e38, 1e300, -1e300, np.inf, -np.inf, np.nan]
    x = np.concatenate([rng.normal(0, 100, 5000), rng.normal(0, 1e-40, 500), special])
    v = _neighbours(x)
    assert np.array_equal(v > x[:, None], v > _below32(x)[:, None])


@pytest.mark.parametrize("day_type, holiday", [(0, False), (1, False), (0, True)])
@pytest.mark.parametrize("negative", [False, True])
def test_surge_ratio_test_is_the_float64_one(day_type, holiday, negative):
    entities = [f"E{i}" for i in range(40)]
    det = detector()
    run(det, readings(entities, "2026-03-02", 1), flush=False)
    rng = np.random.default_rng(day_type + 2 * holiday + 4 * negative)
    st, n = det.state, len(det.state)
    det.day_type, det.holiday = day_type, holiday
    st["hist_days"][:n] = det.baseline.min_history_days
    centre = rng.gamma(2.0, 10.0, (n, 2, SLOTS_PER_DAY)).astype(np.float32)
    centre[rng.random(centre.shape) < 0.05] = np.nan
    if negative:  # a bound that holds for non-negative factors only must not be used
        centre[rng.random(centre.shape) < 0.3] *= -1
    st["centre"][:n] = centre
    p = det.params["usage_surge"]
    p["min_ratio"][:n] = rng.uniform(1.0, 3.0, n)  # mostly not a float32
    p["enabled"][:n] = rng.random(n) < 0.9
    if negative:
        p["min_ratio"][:3] = -1.5
    day, first_col, t_len = det.day, 10, 50
    cols = slice(first_col, first_col + t_len)
    ref = det._surge_centre(slice(0, n), cols)
    level = ref.astype(np.float64) * p["min_ratio"][:n, None]
    # values at the float64 level's float32 neighbours, where a rounding would show
    pick = rng.integers(0, 5, level.shape)
    values = np.take_along_axis(_neighbours(level.ravel()), pick.reshape(-1, 1), 1)
    values = values.reshape(level.shape)
    slots = day * SLOTS_PER_DAY + first_col + np.arange(t_len)
    blk = _Block(
        slots[0],
        values,
        ~np.isnan(values),
        slots,
        slots % SLOTS_PER_DAY,
        slot_end_ms(slots),
        det.ids[:n],
        cols,
    )
    r, t, got = det._over_ratio(blk)
    er, et = np.nonzero(p["enabled"][:n, None] & (values > level))
    assert er.size > 0
    assert np.array_equal(r, er) and np.array_equal(t, et)
    assert np.array_equal(got, ref[er, et])
