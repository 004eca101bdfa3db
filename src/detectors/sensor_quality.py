"""Data quality of one station sensor over a block of slots: spikes, stuck values, silence.

Whole-array functions over (sensors x slots) blocks; what carries from one block to the
next (the last reading, the current run of equal readings) is passed in and returned, so a
stream cut into any blocks gives the same flags.

- spike: a single reading away from both its neighbours, in the same direction, by more
  than a physically plausible jump (an out-and-back excursion; a real step or fall is not
  one, its next reading stays on the new side).
- stuck: the same reading over and over; the run counts readings equal to the previous
  valid one (missing slots neither break nor extend it).
- silent: no reading for more than the allowed gap since the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Previous:
    """For each slot, the last valid reading strictly before it: value and global slot."""

    value: np.ndarray  # (n, T) float32, NaN when the sensor never read
    slot: np.ndarray  # (n, T) int64, -1 when the sensor never read
    last_value: np.ndarray  # (n,) the last valid reading up to the block's end
    last_slot: np.ndarray  # (n,)


def previous(
    values: np.ndarray, first: int, carry_value: np.ndarray, carry_slot: np.ndarray
) -> Previous:
    """Last valid reading before each slot of a block starting at global slot ``first``."""
    n, t_len = values.shape
    valid = ~np.isnan(values)
    upto = np.maximum.accumulate(np.where(valid, np.arange(t_len), -1), axis=1)
    before = np.concatenate([np.full((n, 1), -1), upto[:, :-1]], axis=1)
    has = before >= 0
    taken = np.take_along_axis(values, np.maximum(before, 0), axis=1)
    value = np.where(has, taken, carry_value[:, None]).astype(np.float32)
    slot = np.where(has, first + before, carry_slot[:, None])
    last = upto[:, -1] if t_len else np.full(n, -1)
    last_value = np.where(last >= 0, values[np.arange(n), np.maximum(last, 0)], carry_value)
    last_slot = np.where(last >= 0, first + last, carry_slot)
    return Previous(value, slot, last_value.astype(np.float32), last_slot.astype(np.int64))


def spikes(
    values: np.ndarray, left: np.ndarray, right: np.ndarray, jump: np.ndarray, relative: bool
) -> np.ndarray:
    """Readings away from both neighbours, in the same direction, by more than ``jump``.

    ``jump`` (per sensor) is in the metric's unit, or with ``relative`` a percentage of
    each neighbour's magnitude. A missing neighbour never makes a spike.
    """
    j = jump[:, None].astype(np.float32)
    with np.errstate(invalid="ignore"):
        jl = j / 100 * np.abs(left) if relative else j
        jr = j / 100 * np.abs(right) if relative else j
        up = (values - left > jl) & (values - right > jr)
        down = (left - values > jl) & (right - values > jr)
    return up | down


@dataclass(frozen=True, slots=True)
class Runs:
    """Runs of equal readings: how many repeats so far and the slot the run started."""

    repeats: np.ndarray  # (n, T) readings equal to the previous one since the run began
    since: np.ndarray  # (n, T) global slot of the run's first reading
    last_repeats: np.ndarray  # (n,) carried to the next block
    last_since: np.ndarray  # (n,)


def equal_runs(
    values: np.ndarray,
    left: np.ndarray,
    first: int,
    carry_repeats: np.ndarray,
    carry_since: np.ndarray,
    ignore_zero: np.ndarray,
) -> Runs:
    """Count repeats of the previous valid reading; with ``ignore_zero`` a 0 never repeats."""
    t_len = values.shape[1]
    valid = ~np.isnan(values)
    same = valid & (values == left) & ~(ignore_zero[:, None] & (values == 0))
    fresh = valid & ~same  # a reading that starts a new run
    count = np.cumsum(same, axis=1)
    start = np.maximum.accumulate(np.where(fresh, np.arange(t_len), -1), axis=1)
    has = start >= 0
    at_start = np.take_along_axis(count, np.maximum(start, 0), axis=1)
    repeats = np.where(has, count - at_start, carry_repeats[:, None] + count)
    since = np.where(has, first + start, carry_since[:, None])
    if t_len == 0:
        return Runs(repeats, since, carry_repeats.copy(), carry_since.copy())
    return Runs(repeats, since, repeats[:, -1].astype(np.int32), since[:, -1].astype(np.int64))


def silent(
    values: np.ndarray, first: int, carry_slot: np.ndarray, max_gap_slots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Slots more than ``max_gap_slots`` after the last reading (at or before them), and the
    slot of that last reading (-1: the sensor never read, never silent)."""
    t_len = values.shape[1]
    upto = np.maximum.accumulate(np.where(~np.isnan(values), np.arange(t_len), -1), axis=1)
    last = np.where(upto >= 0, first + upto, carry_slot[:, None])
    slots = first + np.arange(t_len)
    return (last >= 0) & (slots[None, :] - last > max_gap_slots[:, None]), last
