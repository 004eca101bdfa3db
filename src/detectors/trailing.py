"""Trailing windows per group over a batch, and robust statistics across them.

A streaming score must judge each reading against the readings of its series that came
before it, including those earlier in the same batch. :func:`trailing_windows` gives every
reading of a batch its window at once: the group's history (a ring kept between batches,
oldest first, NaN where empty) and the batch's values are laid out group by group in one
array, and each reading's window is a slice of it. No loop per reading or per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
MEAN_AD_TO_SIGMA = 1.2533  # sqrt(pi / 2): the same for the mean absolute deviation


@dataclass(frozen=True, slots=True)
class Windows:
    """Each reading's trailing window, and the groups' rings after the batch."""

    values: np.ndarray  # (readings, C), in reading order, oldest first, NaN = empty
    groups: np.ndarray  # the distinct groups of the batch
    rings: np.ndarray  # (len(groups), C): their last C pushed values


def trailing_windows(
    groups: np.ndarray, values: np.ndarray, push: np.ndarray, ring: np.ndarray
) -> Windows:
    """The last C pushed values of each reading's group, strictly before the reading.

    ``groups`` (int, one per reading) index the rows of ``ring`` (groups x C), the history
    before the batch. Readings are taken in batch order within their group; a reading with
    ``push`` set enters its group's window after it has been judged.
    """
    c = ring.shape[1]
    if len(groups) == 0:
        return Windows(np.empty((0, c)), np.empty(0, np.int64), np.empty((0, c)))
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    touched, first, counts = np.unique(g, return_index=True, return_counts=True)
    member = np.repeat(np.arange(len(touched)), counts)
    p = push[order]
    cum = np.cumsum(p, dtype=np.int64)
    before = cum - p - (cum[first] - p[first])[member]  # pushes earlier in the group
    pushed = np.add.reduceat(p.astype(np.int64), first)
    seg = c + pushed
    base = np.cumsum(seg) - seg
    ext = np.empty(int(seg.sum()), dtype=np.float64)
    ext[(base[:, None] + np.arange(c)).ravel()] = ring[touched].ravel()
    ext[base[member[p]] + c + before[p]] = values[order][p]
    view = sliding_window_view(ext, c)
    out = np.empty((len(groups), c), dtype=np.float64)
    out[order] = view[base[member] + before]
    return Windows(out, touched, view[base + pushed])


@dataclass(frozen=True, slots=True)
class Robust:
    """Median and robust standard deviation across each row of windows."""

    centre: np.ndarray  # NaN where the row has too few values
    spread: np.ndarray  # 1.4826 MAD; the scaled mean absolute deviation when the MAD is 0
    count: np.ndarray  # values present in the row


def robust_rows(windows: np.ndarray, min_count: np.ndarray | int) -> Robust:
    """Median and spread of each row, ignoring NaN; NaN below ``min_count`` values.

    A sort along the rows: for windows of tens to hundreds of values it is faster than
    the sorting network that :mod:`detectors.baseline` runs over a few days of history.
    """
    n, c = windows.shape
    present = ~np.isnan(windows)
    count = present.sum(axis=1)
    if c == 0 or n == 0:
        nan = np.full(n, np.nan)
        return Robust(nan, nan.copy(), count)
    ranked = np.where(present, windows, np.inf)
    ranked.sort(axis=1)
    centre = _median_sorted(ranked, count)
    dev = ranked - centre[:, None]  # padding stays inf (NaN in empty rows): sorts last
    np.abs(dev, out=dev)
    dev.sort(axis=1)
    mad = _median_sorted(dev, count)
    spread = MAD_TO_SIGMA * mad
    flat = np.flatnonzero(mad == 0)
    if flat.size:  # over half the window equal: the mean deviation still sees the rest
        d = dev[flat]
        mean_dev = np.where(np.isfinite(d), d, 0.0).sum(axis=1) / count[flat]
        spread[flat] = MEAN_AD_TO_SIGMA * mean_dev
    short = count < np.maximum(min_count, 1)
    centre[short] = np.nan
    spread[short] = np.nan
    return Robust(centre, spread, count)


def _median_sorted(ranked: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the first ``count`` entries of each sorted row (inf padding after them)."""
    safe = np.maximum(count, 1)
    lo = np.take_along_axis(ranked, ((safe - 1) // 2)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(ranked, (safe // 2)[:, None], axis=1)[:, 0]
    med = 0.5 * (lo + hi)
    med[count == 0] = np.nan
    return med
