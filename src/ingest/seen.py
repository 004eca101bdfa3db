"""What validation has accepted so far: the basis of ``too_late`` and ``duplicate``.

A *series* is one entity's one metric (row number × metric code). For each series the
newest accepted timestamp is kept; a reading more than its entity's allowed lateness
behind that newest timestamp is too late. Lateness is tracked per series, not per
entity, so that files holding one metric each (``flow.csv`` read before
``pressure.csv``) do not make one metric late against another.

For duplicates the accepted ``(series, ts)`` keys are kept while they are within their
series' lateness horizon; anything older would be too late anyway, so memory stays
bounded by what arrives within the horizon. Keys are pruned when their number doubles.

Cost: streams whose batches are ordered (by time, by entity then time, or by series then
time) are checked with a few vectorized passes and no sorting. Other batches pay a
stable (radix) sort by series; when a series itself goes back in time within a batch,
duplicates are found with a hash as well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: "Nothing seen yet": far below any timestamp even after subtracting a lateness.
NONE = np.iinfo(np.int64).min // 4
#: Timestamp differences within a batch fit in this many bits (validation rejects
#: timestamps outside 2000-01-01 .. 2069-09-07 as absurd).
TS_BITS = 41
#: Most rows :meth:`SeenReadings.check` takes at once (series fit in 22 bits of a key).
MAX_CHECK_ROWS = 1 << 22
_MIN_PRUNE = 1 << 18


class SeenReadings:
    """Newest accepted timestamp per series and the recent keys, for one validator."""

    def __init__(self, n_metrics: int, prune_min: int = _MIN_PRUNE) -> None:
        self._m = n_metrics
        self._prune_min = prune_min
        self._lateness = np.empty(0, np.int64)  # per entity row
        self._newest = np.empty(0, np.int64)  # per series
        self._key_s: list[np.ndarray] = []
        self._key_t: list[np.ndarray] = []
        self._n_keys = 0
        self._prune_at = prune_min
        self._uniform: int | None = None  # the lateness when every entity has the same
        self._newest_all = NONE  # newest accepted ts of any series

    def add_entities(self, lateness_ms: np.ndarray) -> None:
        """Make room for new entity rows with their allowed lateness."""
        self._lateness = np.concatenate([self._lateness, lateness_ms.astype(np.int64)])
        fresh = np.full(len(lateness_ms) * self._m, NONE, np.int64)
        self._newest = np.concatenate([self._newest, fresh])
        if len(self._lateness):
            low, high = self._lateness.min(), self._lateness.max()
            self._uniform = int(low) if low == high else None

    def clear_entities(self) -> None:
        """Forget every entity row: their lateness and newest timestamps."""
        self._lateness = np.empty(0, np.int64)
        self._newest = np.empty(0, np.int64)
        self._newest_all = NONE
        self._uniform = None

    def state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(newest ts per series, kept key series, kept key ts)``: what a snapshot keeps."""
        key_s, key_t = self._keys()
        return self._newest, key_s, key_t

    def load(self, newest: np.ndarray, key_s: np.ndarray, key_t: np.ndarray) -> None:
        """Take over a :meth:`state` whose series are numbered for this instance's rows."""
        if len(newest) != len(self._lateness) * self._m:
            raise ValueError(
                f"{len(newest)} series given, this instance has {len(self._lateness) * self._m}"
            )
        self._newest = np.asarray(newest, np.int64).copy()
        self._newest_all = int(self._newest.max()) if self._newest.size else NONE
        self._key_s, self._key_t = [np.asarray(key_s, np.int64)], [np.asarray(key_t, np.int64)]
        self._n_keys = len(key_s)
        self._prune_at = max(2 * self._n_keys, self._prune_min)

    def _allowed(self, entity: np.ndarray) -> np.ndarray | int:
        return self._uniform if self._uniform is not None else self._lateness[entity]

    @property
    def held_keys(self) -> int:
        """Number of (series, ts) keys currently kept for duplicate checks."""
        return self._n_keys

    def newest(self, entity: np.ndarray, metric: np.ndarray) -> np.ndarray:
        """Newest accepted ts per (entity row, metric code); :data:`NONE` if none."""
        return self._newest[entity * self._m + metric]

    def check(
        self, entity: np.ndarray, metric: np.ndarray, ts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(too_late, duplicate, newest_before)`` per row, and accept the other rows.

        Rows are in stream order; ``newest_before`` is the newest accepted ts of the
        row's series before that row (what a too-late row was compared with); None when
        no row is too late.
        """
        n = len(ts)
        if n > MAX_CHECK_ROWS:
            raise ValueError(f"check at most {MAX_CHECK_ROWS} rows at a time, got {n}")
        series = entity * self._m + metric  # int32 when the codes are: cheaper passes
        if n and ts[0] > self._newest_all and bool((ts[1:] >= ts[:-1]).all()):
            # In time order and newer than anything accepted (the next batch of an ordered
            # stream): nothing is late or repeats a kept key, only rows of this batch.
            dup = _repeated_in_time_order(entity, series, ts)
            if dup is None:
                self._accept(series, ts, entity, in_time_order=True)
                return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), None
            keep = ~dup
            self._accept(series[keep], ts[keep], entity[keep], in_time_order=True)
            return np.zeros(n, dtype=bool), dup, None
        series = series.astype(np.int64, copy=False)  # keys below shift series left
        dt = np.diff(ts)
        allowed = self._allowed(entity)
        held_newest = self._newest[series]
        repeats: np.ndarray | None = None  # rows repeating an earlier row, when known
        if _each_series_in_time_order(entity, series, dt):
            newest_before = held_newest
        else:
            newest_before, repeats = _grouped_by_series(series, ts, held_newest)
        late = ts < newest_before - allowed
        duplicate = np.zeros(n, dtype=bool)
        rows = np.flatnonzero(~late) if late.any() else None
        s, t, e = (series, ts, entity) if rows is None else (series[rows], ts[rows], entity[rows])
        if repeats is None:
            dup = _repeated_keys(e, s, t, dt if rows is None else np.diff(t))
        else:  # a repeat of a late row is late too: it has the same ts
            dup = repeats if rows is None else repeats[rows]
            dup = dup if dup.any() else None
        candidate = t <= (held_newest if rows is None else held_newest[rows])
        if candidate.any():
            held = np.zeros(len(t), dtype=bool)
            held[candidate] = self._holds(s[candidate], t[candidate])
            dup = held if dup is None else dup | held
        if dup is not None:
            if rows is None:
                duplicate = dup
            else:
                duplicate[rows] = dup
            keep = ~dup
            s, t, e = s[keep], t[keep], e[keep]
        self._accept(s, t, e)
        return late, duplicate, newest_before if rows is not None else None

    def _accept(
        self, series: np.ndarray, ts: np.ndarray, entity: np.ndarray, in_time_order: bool = False
    ) -> None:
        if not len(ts):
            return
        np.maximum.at(self._newest, series, ts)
        self._newest_all = max(self._newest_all, int(ts[-1] if in_time_order else ts.max()))
        # Keys already behind their series' horizon are never needed: a batch spanning
        # more than the lateness keeps only its recent end.
        horizon = self._newest[series]
        horizon -= self._allowed(entity)
        live = ts >= horizon
        if not live.all():
            series, ts = series[live], ts[live]
        self._key_s.append(series.astype(np.int64, copy=False))
        self._key_t.append(ts)
        self._n_keys += len(ts)
        if self._n_keys > self._prune_at:
            self._prune()

    def _keys(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._key_s) != 1:
            self._key_s = [np.concatenate(self._key_s or [np.empty(0, np.int64)])]
            self._key_t = [np.concatenate(self._key_t or [np.empty(0, np.int64)])]
        return self._key_s[0], self._key_t[0]

    def _prune(self) -> None:
        ks, kt = self._keys()
        if self._uniform is not None:
            live = kt >= self._newest[ks] - self._uniform
        else:
            live = kt >= self._newest[ks] - self._lateness[ks // self._m]
        self._key_s, self._key_t = [ks[live]], [kt[live]]
        self._n_keys = int(live.sum())
        self._prune_at = max(2 * self._n_keys, self._prune_min)

    def _holds(self, series: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Which (series, ts) pairs are among the kept keys."""
        ks, kt = self._keys()
        if not len(ks):
            return np.zeros(len(ts), dtype=bool)
        base = min(int(ts.min()), int(kt.min()))
        span = max(int(ts.max()), int(kt.max())) - base
        s_bits = max(int(series.max()), int(ks.max())).bit_length()
        t_bits = max(span.bit_length(), 1)
        if s_bits + t_bits > 62:  # renumber series to make the pair fit in one integer
            distinct = np.unique(series)
            pick = np.isin(ks, distinct)
            ks, kt = np.searchsorted(distinct, ks[pick]), kt[pick]
            series, t_bits = np.searchsorted(distinct, series), TS_BITS
        held = (ks << t_bits) | (kt - base)
        asked = (series << t_bits) | (ts - base)
        return pd.Series(asked).isin(held).to_numpy()


def _each_series_in_time_order(entity: np.ndarray, series: np.ndarray, dt: np.ndarray) -> bool:
    """Cheap sufficient test that no series goes back in time within the batch."""
    forward = dt >= 0
    if forward.all():
        return True  # ordered by time
    de = np.diff(entity)
    if ((de > 0) | ((de == 0) & forward)).all():
        return True  # ordered by entity, then time
    ds = np.diff(series)
    return bool(((ds > 0) | ((ds == 0) & forward)).all())  # by series, then time


def _grouped_by_series(
    series: np.ndarray, ts: np.ndarray, held_newest: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows grouped by series (a stable sort): ``(newest_before, repeats)``.

    ``newest_before`` is the newest ts of the row's series before the row (held state
    and earlier rows). When every series is in time order after all (only interleaved
    in an order the cheap tests do not recognize), repeated keys are adjacent in the
    grouping and ``repeats`` marks them; otherwise ``repeats`` is None (not computed).
    """
    order = _stable_order(series)
    s, t = series[order], ts[order]
    start = np.ones(len(s), dtype=bool)
    start[1:] = s[1:] != s[:-1]
    step = np.diff(t)
    if ((step >= 0) | start[1:]).all():
        repeats = np.zeros(len(s), dtype=bool)
        repeats[order[1:]] = (step == 0) & ~start[1:]
        return held_newest, repeats
    group = np.cumsum(start) - 1
    base = t.min()
    mask = (1 << TS_BITS) - 1
    running = (np.maximum.accumulate((group << TS_BITS) | (t - base)) & mask) + base
    before = np.empty_like(running)
    before[1:] = running[:-1]
    before[start] = NONE
    out = np.empty_like(before)
    out[order] = np.maximum(before, held_newest[order])
    return out, None


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of integer keys, by 16-bit radix passes where the range allows."""
    k = keys - keys.min()
    span = int(k.max())
    if span >= (1 << 16) and span < 4 * len(k):
        k = _dense(k, span)  # few distinct keys spread wide: number them 0, 1, 2, ...
        span = int(k.max())
    if span < (1 << 16):
        return np.argsort(k.astype(np.uint16), kind="stable")
    if span < (1 << 32):
        order = np.argsort((k & 0xFFFF).astype(np.uint16), kind="stable")
        return order[np.argsort((k[order] >> 16).astype(np.uint16), kind="stable")]
    return np.argsort(keys, kind="stable")


def _dense(k: np.ndarray, span: int) -> np.ndarray:
    """Keys renumbered 0..distinct-1 in the same order (k holds values 0..span)."""
    present = np.zeros(span + 1, dtype=bool)
    present[k] = True
    return (np.cumsum(present) - 1)[k]


def _repeated_in_time_order(
    entity: np.ndarray, series: np.ndarray, ts: np.ndarray
) -> np.ndarray | None:
    """:func:`_repeated_keys` of rows in time order. The usual case, each time's rows by
    series, is recognized from where the series does not go up: only time steps there."""
    back = np.flatnonzero(series[1:] <= series[:-1])
    if (ts[back + 1] > ts[back]).all():
        return None
    return _repeated_keys(entity, series.astype(np.int64, copy=False), ts, np.diff(ts))


def _repeated_keys(
    entity: np.ndarray, series: np.ndarray, ts: np.ndarray, dt: np.ndarray
) -> np.ndarray | None:
    """Rows repeating an earlier row's (series, ts) in this batch; None if there are none."""
    if len(ts) < 2:
        return None
    ds = np.diff(series)
    later, same_t = dt > 0, dt == 0
    if (later | (same_t & (ds > 0))).all():
        return None  # strictly ordered by (time, series)
    if ((ds > 0) | ((ds == 0) & later)).all():
        return None  # strictly ordered by (series, time)
    de = np.diff(entity)
    if ((de > 0) | ((de == 0) & (later | (same_t & (ds > 0))))).all():
        return None  # strictly ordered by (entity, time, metric)
    local = series
    if series.max() >= (1 << (62 - TS_BITS)):
        local = np.unique(series, return_inverse=True)[1]
    key = (local << TS_BITS) | (ts - ts.min())
    repeated = pd.Series(key).duplicated(keep="first").to_numpy()
    return repeated if repeated.any() else None
