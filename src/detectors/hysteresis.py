"""Hysteresis for scores: an anomaly starts above a high mark and ends below a low one.

A value hovering at the threshold would otherwise flap on and off. Vectorized over a batch
of many series: each reading's state is set by the latest reading of its series, up to and
including it, that was decisive (above ``high``: on; below ``low``: off); readings in the
band between, and unscored ones (NaN), keep the state they found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Flags:
    """Per-reading flags and the state each touched group ends the batch in."""

    flags: np.ndarray  # bool per reading: in an anomaly, and scored
    groups: np.ndarray  # distinct groups of the batch
    state: np.ndarray  # bool per group: still in an anomaly after its last reading


def hysteresis(
    groups: np.ndarray,
    score: np.ndarray,
    high: np.ndarray | float,
    low: np.ndarray | float,
    prior: np.ndarray,
) -> Flags:
    """Flags of readings in batch order; ``prior[g]`` is group g's state before the batch.

    On when ``score > high``, off when ``score < low``; a NaN score is never flagged itself
    but does not end an anomaly either.
    """
    n = len(groups)
    if n == 0:
        return Flags(np.zeros(0, bool), np.empty(0, np.int64), np.zeros(0, bool))
    event = np.where(score > high, 1, np.where(score < low, -1, 0)).astype(np.int8)
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    touched, first, counts = np.unique(g, return_index=True, return_counts=True)
    member = np.repeat(np.arange(len(touched)), counts)
    ev = event[order]
    last = np.maximum.accumulate(np.where(ev != 0, np.arange(n), -1))
    decided = last >= first[member]
    on = np.where(decided, ev[np.maximum(last, 0)] > 0, prior[g])
    flags = np.empty(n, dtype=bool)
    flags[order] = on & ~np.isnan(score[order])
    return Flags(flags, touched, on[first + counts - 1])
