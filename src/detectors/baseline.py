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
        "hist_level": Column((DAY_TYPES, history_days), "float32", nan),
        "centre": Column((DAY_TYPES, SLOTS_PER_DAY), "float32", nan),
        "spread": Column((DAY_TYPES, SLOTS_PER_DAY), "float32", nan),
    }


def _network(size: int) -> list[tuple[int, int]]:
    """Compare-exchange pairs of Batcher's odd-even merge sort for ``size`` inputs.

    Built for the next power of two; pairs touching the padding (which would hold +inf,
    the largest value) are dropped, which leaves a valid network for ``size``.
    """
    n = 1 << max(size - 1, 0).bit_length()
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < size:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    return pairs


def _sort_columns(cols: list[np.ndarray]) -> None:
    """Sort element-wise across a list of equally shaped arrays, in place."""
    for a, b in _network(len(cols)):
        lo = np.minimum(cols[a], cols[b])
        np.maximum(cols[a], cols[b], out=cols[b])
        cols[a] = lo


def _median_of_sorted(cols: list[np.ndarray], count: np.ndarray, min_count: int) -> np.ndarray:
    """Median of the first ``count`` entries of sorted columns; NaN below ``min_count``."""
    k = len(cols)
    med = 0.5 * (cols[(k - 1) // 2] + cols[k // 2])  # a full history, the common case
    if min_count > k:
        return np.full_like(med, np.nan)
    if count.min() >= k:
        return med
    value = np.empty_like(med)
    for c in range(1, k):
        hit = count == c
        if c < min_count:
            med[hit] = np.nan
        elif hit.any():
            np.add(cols[(c - 1) // 2], cols[c // 2], out=value)
            value *= 0.5
            np.copyto(med, value, where=hit)
    med[count == 0] = np.nan
    return med


def robust_centre_spread(history: np.ndarray, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD across axis 1 of ``history`` (rows x K x slots), ignoring NaN.

    A sorting network over the K history columns: a few whole-array min/max operations
    instead of a sort per (row, slot).
    """
    cols = []
    count = np.zeros((history.shape[0], history.shape[2]), dtype=np.int16)
    for k in range(history.shape[1]):
        col = np.array(history[:, k], dtype=history.dtype, order="C")
        missing = np.isnan(col)
        col[missing] = np.inf
        count += ~missing
        cols.append(col)
    _sort_columns(cols)
    med = _median_of_sorted(cols, count, min_count)
    dev = []
    for c in cols:  # +inf stays +inf and sorts last again
        d = np.subtract(c, med)
        dev.append(np.abs(d, out=d))
    _sort_columns(dev)
    mad = _median_of_sorted(dev, count, min_count)
    return med, mad


class SeasonalBaseline:
    """Median/MAD per (entity, day type, slot of day) over the last N same-type days."""

    def __init__(
        self, history_days: int, min_history_days: int, shutdown_fraction: float = 0.3
    ) -> None:
        self.history_days = history_days
        self.min_history_days = min_history_days
        self.shutdown_fraction = shutdown_fraction

    def push_day(
        self, state: EntityState, rows: np.ndarray, day_type: int, values: np.ndarray
    ) -> np.ndarray:
        """Learn one local day of values (rows x 96, NaN = not learnable); returns rows learnt.

        Only production days teach the baseline: a day whose mean level is below
        ``shutdown_fraction`` of the best day in the history (a maintenance stop, a plant
        idle over a holiday week) is not learnt, and when a production day arrives, history
        days far below it are dropped. A plant that was stopped while the baseline warmed
        up is therefore not judged against its stopped level once it runs again.
        """
        if rows.size == 0:
            return rows
        count = np.count_nonzero(~np.isnan(values), axis=1)
        level = np.where(count > 0, np.nansum(values, axis=1) / np.maximum(count, 1), np.nan)
        levels = state["hist_level"][rows, day_type]
        best = np.max(np.nan_to_num(levels, nan=-np.inf), axis=1)
        learn = (count > 0) & ((best == -np.inf) | (level >= self.shutdown_fraction * best))
        rows, values, level = rows[learn], values[learn], level[learn]
        if rows.size == 0:
            return rows
        pos = state["hist_pos"][rows, day_type].astype(np.int64)
        state["hist"][rows, day_type, pos, :] = values
        state["hist_level"][rows, day_type, pos] = level
        state["hist_pos"][rows, day_type] = (pos + 1) % self.history_days
        levels = state["hist_level"][rows, day_type]
        stale = levels < self.shutdown_fraction * level[:, None]
        if stale.any():
            r, k = np.nonzero(stale)
            state["hist"][rows[r], day_type, k, :] = np.nan
            state["hist_level"][rows[r], day_type, k] = np.nan
        state["hist_days"][rows, day_type] = np.count_nonzero(
            ~np.isnan(state["hist_level"][rows, day_type]), axis=1
        )
        self.refresh(state, rows, day_type)
        return rows

    def refresh(self, state: EntityState, rows: np.ndarray, day_type: int) -> None:
        n = len(state)
        everyone = rows.size == n and n > 0 and rows[0] == 0 and rows[-1] == n - 1
        history = state["hist"][:n, day_type] if everyone else state["hist"][rows, day_type]
        centre, mad = robust_centre_spread(history, self.min_history_days)
        state["centre"][rows, day_type] = centre
        state["spread"][rows, day_type] = mad * MAD_TO_SIGMA

    def ready(self, state: EntityState, rows: np.ndarray, day_type: int) -> np.ndarray:
        return state["hist_days"][rows, day_type] >= self.min_history_days
