"""Point-in-interval lookup for many (group, time) queries at once.

Status timelines and exemptions are half-open intervals ``[start, end)`` attached to a
group (an entity row, or a region code). A query asks, for each (group, ts), which
interval of that group covers ts. Intervals are sorted once on a combined integer key
``group << 42 | ms since 2000-01-01 UTC``, so a whole batch is answered with one
``searchsorted``. Overlapping intervals are allowed: a running maximum of the end key
remembers, for every prefix, the interval reaching furthest, and that one is returned.
"""

from __future__ import annotations

import numpy as np

#: Times are kept as ms since 2000-01-01 UTC in 42 bits (until the year 2139).
EPOCH_MS = 946_684_800_000
TIME_BITS = 42
MAX_GROUP = (1 << (63 - TIME_BITS)) - 1
OPEN_END = np.iinfo(np.int64).max


def _time_key(ts_ms: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(ts_ms, dtype=np.int64) - EPOCH_MS, 0, (1 << TIME_BITS) - 1)


class IntervalIndex:
    """Answers "which interval covers this (group, ts)?" for whole arrays of queries."""

    def __init__(
        self,
        group: np.ndarray,
        start_ms: np.ndarray,
        end_ms: np.ndarray,
        labels: np.ndarray | None = None,
    ) -> None:
        """``group`` in ``0..MAX_GROUP``; ``end_ms`` may be :data:`OPEN_END`.

        :meth:`covering` answers ``labels[i]`` for interval ``i`` (default: ``i`` itself).
        """
        group = np.asarray(group, dtype=np.int64)
        labels = np.arange(group.size) if labels is None else np.asarray(labels, dtype=np.int64)
        if group.size and (group.min() < 0 or group.max() > MAX_GROUP):
            raise ValueError(f"interval groups must lie in 0..{MAX_GROUP}")
        order = np.lexsort((np.asarray(start_ms, dtype=np.int64), group))
        g = group[order] << TIME_BITS
        self._start_key = g | _time_key(np.asarray(start_ms)[order])
        end_key = g | _time_key(np.asarray(end_ms)[order])
        self._reach = np.maximum.accumulate(end_key) if end_key.size else end_key
        positions = np.where(end_key == self._reach, np.arange(end_key.size), 0)
        self._best = labels[order[np.maximum.accumulate(positions)]] if end_key.size else order

    def covering(self, group: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        """Label (by default the index) of an interval covering each query, or -1.

        A group below 0 (e.g. an unknown entity) never matches.
        """
        group, ts_ms = np.broadcast_arrays(
            np.asarray(group, dtype=np.int64), np.asarray(ts_ms, dtype=np.int64)
        )
        if self._start_key.size == 0:
            return np.full(group.shape, -1, dtype=np.int64)
        valid = (group >= 0) & (group <= MAX_GROUP)
        query = (np.where(valid, group, 0) << TIME_BITS) | _time_key(ts_ms)
        i = np.searchsorted(self._start_key, query, side="right") - 1
        safe = np.maximum(i, 0)
        # Every key up to i has a group <= the query's, so reaching past the query key means
        # an interval of the same group whose end is after ts.
        hit = valid & (i >= 0) & (self._reach[safe] > query)
        return np.where(hit, self._best[safe], -1)
