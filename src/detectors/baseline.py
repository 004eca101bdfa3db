"""Seasonal robust baseline: per entity, per day type and 15-minute slot of day.

For each (day type, slot) the baseline keeps the entity's last ``history_days`` values of
that slot on days of that type, and summarises them as a median (centre) and a scaled
median absolute deviation (spread). Whole days are pushed at once for every entity of a
batch: the update is a sort along the short history axis, never a loop per reading.

Values that must not teach the baseline what normal is (flagged slots, suspended or
exempted periods) arrive as NaN and are ignored. A (day type, slot) whose history holds
fewer than ``min_history_days`` values has no centre: the baseline is "not ready" there.
"""

from __future__ import annotations

import numpy as np

from detectors.state import Column, EntityState
from ingest.schema import SLOTS_PER_DAY

DAY_TYPES = 2  # 0 workday, 1 rest day
MAD_TO_SIGMA = 1.4826


def baseline_columns(history_days: int) -> dict[str, Column]:
    """The per-entity arrays a baseline needs."""
    nan = np.float32(np.nan)
    return {
        "hist": Column((DAY_TYPES, history_days, SLOTS_PER_DAY), "float32", nan),
        "hist_days": Column((DAY_TYPES,), "int16", 0),
        "hist_pos": Column((DAY_TYPES,), "int16", 0),
        "centre": Column((DAY_TYPES, SLOTS_PER_DAY), "float32", nan),
        "spread": Column((DAY_TYPES, SLOTS_PER_DAY), "float32", nan),
    }


def _nan_median_last_axis(x: np.ndarray, min_count: int) -> np.ndarray:
    """Median along the last axis ignoring NaN; NaN where fewer than ``min_count`` values."""
    s = np.sort(x, axis=-1)  # NaN sorts last
    count = np.count_nonzero(~np.isnan(x), axis=-1)
    lo = np.maximum(count - 1, 0) // 2
    hi = count // 2
    hi = np.minimum(hi, x.shape[-1] - 1)
    med = 0.5 * (
        np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
        + np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    )
    med[count < max(min_count, 1)] = np.nan
    return med


class SeasonalBaseline:
    """Median/MAD per (entity, day type, slot of day) over the last N same-type days."""

    def __init__(self, history_days: int, min_history_days: int) -> None:
        self.history_days = history_days
        self.min_history_days = min_history_days

    def push_day(
        self, state: EntityState, rows: np.ndarray, day_type: int, values: np.ndarray
    ) -> None:
        """Append one local day of values (rows x 96, NaN = not learnable) and refresh."""
        if rows.size == 0:
            return
        pos = state["hist_pos"][rows, day_type].astype(np.int64)
        state["hist"][rows, day_type, pos, :] = values
        state["hist_pos"][rows, day_type] = (pos + 1) % self.history_days
        days = state["hist_days"][rows, day_type]
        state["hist_days"][rows, day_type] = np.minimum(days + 1, self.history_days)
        self.refresh(state, rows, day_type)

    def refresh(self, state: EntityState, rows: np.ndarray, day_type: int) -> None:
        hist = np.swapaxes(state["hist"][rows, day_type], 1, 2)  # rows x slot x history
        centre = _nan_median_last_axis(hist, self.min_history_days)
        dev = np.abs(hist - centre[..., None])
        mad = _nan_median_last_axis(dev, self.min_history_days)
        state["centre"][rows, day_type] = centre
        state["spread"][rows, day_type] = mad * MAD_TO_SIGMA

    def ready(self, state: EntityState, rows: np.ndarray, day_type: int) -> np.ndarray:
        return state["hist_days"][rows, day_type] >= self.min_history_days
