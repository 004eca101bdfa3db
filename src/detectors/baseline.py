"""Seasonal robust baseline: per entity, per day type and 15-minute slot of day.

For each (day type, slot) the baseline keeps the entity's last ``history_days`` values of
that slot on days of that type, and summarises them as a median (centre) and a scaled
median absolute deviation (spread). Whole days are pushed at once for every entity of a
batch: the update is a sort along the short history axis, never a loop per reading. Only
the centre is kept; the spread, which the rules read for a few entries only, is computed
from the history when asked.

Values that must not teach the baseline what normal is (flagged slots, suspended or
exempted periods) arrive as NaN and are ignored. A (day type, slot) whose history holds
fewer than ``min_history_days`` values has no centre: the baseline is "not ready" there.
"""

from __future__ import annotations

import functools

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
    }


@functools.cache
def _network(size: int) -> tuple[tuple[int, int], ...]:
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
    return tuple(pairs)


#: Entries (rows x slots) summarised at a time: the columns of a piece and the network's
#: work on them stay in the CPU cache instead of streaming whole arrays ~80 times.
PIECE_ENTRIES = 1 << 15


@functools.cache
def _pruned(size: int, middle: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """The compare-exchanges of ``_network(size)`` that the outputs ``middle``,
    ``size - 1 - middle`` and ``size - 1`` (the largest) depend on, with which of their
    two results (minimum, maximum) is needed. Those outputs come out as a full sort's."""
    needed = {middle, size - 1 - middle, size - 1}
    pruned = []
    for a, b in reversed(_network(size)):
        low, high = a in needed, b in needed
        if low or high:
            pruned.append((a, b, low, high))
            needed |= {a, b}
    return tuple(pruned[::-1])


def _sort_columns(
    cols: list[np.ndarray], spare: np.ndarray, middle: int | None = None
) -> np.ndarray:
    """Sort element-wise across equally shaped arrays, in place; returns the spare buffer.

    The list is permuted (a compare-exchange writes its minimum into the spare buffer and
    hands the old buffer back as the next spare), so no array is allocated. With
    ``middle``, only the columns ``middle``, ``len - 1 - middle`` and the last one end up
    sorted (see :func:`_pruned`); the others hold leftovers.
    """
    if middle is None:
        for a, b in _network(len(cols)):
            np.minimum(cols[a], cols[b], out=spare)
            np.maximum(cols[a], cols[b], out=cols[b])
            cols[a], spare = spare, cols[a]
        return spare
    for a, b, low, high in _pruned(len(cols), middle):
        if low and high:
            np.minimum(cols[a], cols[b], out=spare)
            np.maximum(cols[a], cols[b], out=cols[b])
            cols[a], spare = spare, cols[a]
        elif low:
            np.minimum(cols[a], cols[b], out=cols[a])
        else:
            np.maximum(cols[a], cols[b], out=cols[b])
    return spare


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


def _kth_of_two(a: list[np.ndarray], b: list[np.ndarray], k: int, out: np.ndarray) -> None:
    """k-th smallest (1-based) of the union of two ascending runs, element-wise.

    It is the smallest of ``max(a[i-1], b[k-i-1])`` over the splits i of k between the runs.
    """
    splits = range(max(0, k - len(b)), min(k, len(a)) + 1)
    terms = [_larger(a, i, b, k - i) for i in splits]
    np.copyto(out, terms[0])
    for term in terms[1:]:
        np.minimum(out, term, out=out)


def _larger(a: list[np.ndarray], i: int, b: list[np.ndarray], j: int) -> np.ndarray:
    """max(a[i-1], b[j-1]), where an empty prefix (i or j zero) counts as -inf."""
    if not i:
        return b[j - 1]
    if not j:
        return a[i - 1]
    return np.maximum(a[i - 1], b[j - 1])


def _mad_of_full(cols: list[np.ndarray], med: np.ndarray, out: np.ndarray) -> None:
    """MAD of sorted columns that all hold a value, by merging instead of sorting.

    Below the median the deviations ``med - x`` fall as x rises, above it ``x - med``
    rises: two sorted runs (the median lies between the middle values, so no absolute
    value is needed), and the median of their union is a few min/max passes. The columns
    are overwritten with the deviations.
    """
    k = len(cols)
    h = k // 2
    lower = [np.subtract(med, c, out=c) for c in cols[:h][::-1]]
    upper = [np.subtract(c, med, out=c) for c in cols[h:]]
    _kth_of_two(lower, upper, (k + 1) // 2, out)
    if k % 2 == 0:
        second = np.empty_like(out)
        _kth_of_two(lower, upper, h + 1, second)
        out += second
        out *= 0.5


def _summarise_piece(
    cols: list[np.ndarray],
    min_count: int,
    spare: np.ndarray,
    med: np.ndarray,
    mad: np.ndarray | None,
    src: np.ndarray,
    present: np.ndarray,
) -> None:
    """Median (and MAD) of one piece whose columns hold +inf where a value is missing.

    ``cols`` are the ``present`` columns of ``src`` (rows x K x slots). Without ``mad``, the
    network computes only the middle values and the largest one; the few entries that miss
    a value are taken again from ``src`` and sorted on their own.
    """
    k = len(cols)
    spare = _sort_columns(cols, spare, None if mad is not None else (k - 1) // 2)
    np.add(cols[(k - 1) // 2], cols[k // 2], out=med)
    med *= 0.5
    # entries missing a value have +inf last; only those need the per-count treatment
    short = np.flatnonzero(cols[-1] == np.inf)
    if short.size:
        at, slot = np.divmod(short, src.shape[2])
        part = list(np.fmin(src[at, :, slot][:, present].T, np.inf))
        _sort_columns(part, np.empty_like(part[0]))
        count = np.zeros(short.size, dtype=np.int16)
        for c in part:
            count += c < np.inf
        part_med = _median_of_sorted(part, count, min_count)
        med[short] = part_med
    if mad is None:
        return
    _mad_of_full(cols, med, mad)
    if short.size:
        dev = [np.abs(np.subtract(c, part_med, out=c), out=c) for c in part]
        _sort_columns(dev, np.empty_like(part_med))
        mad[short] = _median_of_sorted(dev, count, min_count)


def robust_centre_spread(
    history: np.ndarray, min_count: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD across axis 1 of ``history`` (rows x K x slots), ignoring NaN.

    ``history`` holds finite values or NaN (missing). With ``rows``, only those rows of
    ``history`` are summarised (the result has one row per entry of ``rows``).

    A sorting network over the K history columns (a few whole-array min/max operations
    instead of a sort per (row, slot)), piece by piece so the work stays in cache. Where
    every column holds a value, the MAD merges two sorted runs of deviations instead of
    sorting them again; the few entries with missing values take the general path.

    Each entry's result depends on its own values only, not on the other entries
    summarised with it: the MAD of a few entries can be computed when it is needed.
    """
    med, mad = _summarise(history, min_count, rows, with_mad=True)
    assert mad is not None
    return med, mad


def robust_centre(
    history: np.ndarray, min_count: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """The median of :func:`robust_centre_spread` alone (the same values), at less cost."""
    return _summarise(history, min_count, rows, with_mad=False)[0]


def _summarise(
    history: np.ndarray, min_count: int, rows: np.ndarray | None, with_mad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    n = history.shape[0] if rows is None else rows.size
    k, s = history.shape[1], history.shape[2]
    if n == 0 or k < min_count:
        nan = np.full((n, s), np.nan, dtype=history.dtype)
        return nan, nan.copy() if with_mad else None
    med = np.empty((n, s), dtype=history.dtype)
    mad = np.empty((n, s), dtype=history.dtype) if with_mad else None
    step = max(1, PIECE_ENTRIES // max(s, 1))
    buf = np.empty((k + 1, min(step, n) * s), dtype=history.dtype)
    inf = history.dtype.type(np.inf)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        m = (r1 - r0) * s
        src = history[r0:r1] if rows is None else history[rows[r0:r1]]
        # NaN -> +inf on the way in (missing values sort last), column by column
        np.fmin(src.transpose(1, 0, 2), inf, out=buf[:k, :m].reshape(k, r1 - r0, s))
        present = np.flatnonzero(buf[:k, :m].min(axis=1) < inf)  # columns with any value
        if present.size < min_count:
            med[r0:r1] = np.nan  # no entry of this piece is ready
            if mad is not None:
                mad[r0:r1] = np.nan
            continue
        _summarise_piece(
            [buf[j, :m] for j in present],
            min_count,
            buf[k, :m],
            med[r0:r1].reshape(-1),
            None if mad is None else mad[r0:r1].reshape(-1),
            src,
            present,
        )
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
        self,
        state: EntityState,
        rows: np.ndarray,
        day_type: int,
        values: np.ndarray,
        count: np.ndarray | None = None,
    ) -> np.ndarray:
        """Learn one local day of values (rows x 96, NaN = not learnable); returns rows learnt.

        ``count`` is the number of learnable values of each row, when the caller knows it.

        Only production days teach the baseline: a day whose mean level is below
        ``shutdown_fraction`` of the best day in the history (a maintenance stop, a plant
        idle over a holiday week) is not learnt, and when a production day arrives, history
        days far below it are dropped. A plant that was stopped while the baseline warmed
        up is therefore not judged against its stopped level once it runs again.
        """
        if rows.size == 0:
            return rows
        if count is None:
            count = np.count_nonzero(~np.isnan(values), axis=1)
        level = np.where(count > 0, np.nansum(values, axis=1) / np.maximum(count, 1), np.nan)
        levels = state["hist_level"][rows, day_type]
        best = np.max(np.nan_to_num(levels, nan=-np.inf), axis=1)
        learn = (count > 0) & ((best == -np.inf) | (level >= self.shutdown_fraction * best))
        if not learn.all():
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
        state["hist_days"][rows, day_type] = (~np.isnan(state["hist_level"][rows, day_type])).sum(
            axis=1
        )
        self.refresh(state, rows, day_type)
        return rows

    def refresh(self, state: EntityState, rows: np.ndarray, day_type: int) -> None:
        """The centre of ``rows`` after their history of ``day_type`` changed."""
        n = len(state)
        everyone = rows.size == n and n > 0 and rows[0] == 0 and rows[-1] == n - 1
        history = state["hist"][:, day_type]
        state["centre"][rows, day_type] = robust_centre(
            history[:n] if everyone else history, self.min_history_days, None if everyone else rows
        )

    def spread(
        self, state: EntityState, rows: np.ndarray, day_type: int, slots: np.ndarray
    ) -> np.ndarray:
        """1.4826 MAD of each entry (``rows[i]``, ``slots[i]``); NaN where not ready.

        Computed from the history when asked: the rules need it for a few entries only
        (surge candidates, detections), and the history changes only in :meth:`push_day`.
        """
        history = state["hist"][rows, day_type, :, slots]
        _, mad = robust_centre_spread(history[:, :, None], self.min_history_days)
        mad *= MAD_TO_SIGMA
        return mad[:, 0]

    def spread_of_rows(
        self, state: EntityState, rows: np.ndarray, day_types: list[int]
    ) -> np.ndarray:
        """:meth:`spread` of every slot of ``rows`` on days of ``day_types``, one day after
        the other (rows x (day types x slots)), in one go."""
        history = state["hist"][rows][:, day_types]  # rows x types x K x slots
        history = history.transpose(0, 2, 1, 3).reshape(rows.size, self.history_days, -1)
        _, mad = robust_centre_spread(history, self.min_history_days)
        mad *= MAD_TO_SIGMA
        return mad

    def ready(self, state: EntityState, rows: np.ndarray | slice, day_type: int) -> np.ndarray:
        return state["hist_days"][rows, day_type] >= self.min_history_days
