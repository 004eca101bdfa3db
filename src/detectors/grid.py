"""The slot grid: readings of a batch scattered into an (entity row x slot) matrix.

Readings arrive in batches of any size and order. The grid holds the slots that may still
receive readings (the allowed lateness behind the newest reading, the watermark) and hands
out the slots that have closed as one dense float32 block per call, NaN where an entity
sent nothing. A reading for a slot that has already closed is reported as too late.

Slots are 15 minutes for electricity; station sensors (gas every minute, water every five)
use grids of their own slot size (:class:`SlotClock`), counted the same way in local time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.schema import CST_OFFSET_MS, SLOT_MINUTES


@dataclass(frozen=True, slots=True)
class SlotClock:
    """Slots of ``minutes`` in local time: slot s is ``[s·m − 8 h, (s+1)·m − 8 h)`` UTC.

    ``s // per_day`` is the local day and ``s % per_day`` the slot of the day; a reading
    (stamped at its interval's end) belongs to the slot it ends.
    """

    minutes: int = SLOT_MINUTES

    @property
    def ms(self) -> int:
        return self.minutes * 60_000

    @property
    def per_day(self) -> int:
        return 24 * 60 // self.minutes

    def index(self, ts_ms: np.ndarray, since: int = 0) -> np.ndarray:
        """Slot of readings ending at ``ts_ms`` (UTC epoch ms), counted from slot ``since``."""
        slots = np.asarray(ts_ms, dtype=np.int64) + (CST_OFFSET_MS - 1 - since * self.ms)
        return np.floor_divide(slots, self.ms, out=slots)

    def start_ms(self, slots: np.ndarray | int) -> np.ndarray:
        return np.asarray(slots, dtype=np.int64) * self.ms - CST_OFFSET_MS

    def end_ms(self, slots: np.ndarray | int) -> np.ndarray:
        return self.start_ms(slots) + self.ms


@dataclass(frozen=True, slots=True)
class ClosedBlock:
    """Closed slots [first_slot, first_slot + values.shape[1]) for rows 0..n-1."""

    first_slot: int
    values: np.ndarray  # float32, (rows, slots), NaN = no reading


class SlotGrid:
    """Open-slot buffer with an event-time watermark.

    The open slots are kept slot-major (slot x entity row): readings come roughly in time
    order, and in entity order within a time, so a batch lands in a few nearby stretches
    instead of one row apart each (scattered row-major, every reading touched its own
    cache line). Closed slots are handed out entity-major (row x slot), as rules use them.
    """

    def __init__(self, lateness_ms: int, clock: SlotClock | None = None) -> None:
        self.lateness_ms = lateness_ms
        self.clock = clock or SlotClock()
        self.open_base = -1  # first slot not handed out yet; -1 before the first reading
        # (slot - open_base, row); always C-contiguous: only ever cut at the front
        self.open_vals = np.empty((0, 0), dtype=np.float32)
        self.watermark_ms = np.iinfo(np.int64).min

    def add(
        self, rows: np.ndarray, ts_ms: np.ndarray, values: np.ndarray, n_rows: int
    ) -> np.ndarray:
        """Scatter readings; returns the mask of readings whose slot had already closed."""
        if ts_ms.size == 0:
            return np.zeros(0, dtype=bool)
        t_low, t_high = int(ts_ms.min()), int(ts_ms.max())
        low, high = (int(s) for s in self.clock.index(np.array([t_low, t_high])))
        if self.open_base < 0:
            self.open_base = int(self.clock.index(np.array([t_low - self.lateness_ms]))[0])
        self.watermark_ms = max(self.watermark_ms, t_high)
        end = max(self.open_base + self.open_vals.shape[0], high + 1)
        self._resize(n_rows, end - self.open_base)
        flat = self.clock.index(ts_ms, since=self.open_base)
        if low >= self.open_base:  # nothing late: one flat scatter, no masking
            late = np.zeros(flat.size, dtype=bool)
        else:
            late = flat < 0
            keep = ~late
            rows, flat, values = rows[keep], flat[keep], values[keep]
        flat *= self.open_vals.shape[1]
        flat += rows
        self.open_vals.reshape(-1)[flat] = values
        return late

    def _resize(self, n_rows: int, width: int) -> None:
        old = self.open_vals
        if old.shape[0] >= width and old.shape[1] >= n_rows:
            return
        new = np.full((max(width, old.shape[0]), max(n_rows, old.shape[1])), np.nan, np.float32)
        new[: old.shape[0], : old.shape[1]] = old
        self.open_vals = new

    def closable_until(self, flush: bool = False) -> int:
        """First slot that is still open: slots before it may not receive readings any more."""
        if self.open_base < 0:
            return -1
        if flush:  # every slot up to the newest reading: its end <= the watermark
            return (self.watermark_ms + CST_OFFSET_MS) // self.clock.ms
        # A reading (stamped at its slot's end) exactly the allowed lateness behind the
        # watermark is still on time, so slot s closes once its end,
        # (s + 1) * slot_ms - CST_OFFSET_MS, is < watermark - lateness.
        horizon = self.watermark_ms - self.lateness_ms
        return (horizon + CST_OFFSET_MS - 1) // self.clock.ms

    def take_closed(self, n_rows: int, flush: bool = False) -> ClosedBlock | None:
        """Hand out every closed slot; they leave the grid."""
        if self.open_base < 0:
            return None
        until = min(self.closable_until(flush), self.open_base + self.open_vals.shape[0])
        k = until - self.open_base
        if k <= 0:
            return None
        self._resize(n_rows, self.open_vals.shape[0])
        block = ClosedBlock(self.open_base, np.ascontiguousarray(self.open_vals[:k, :n_rows].T))
        self.open_vals = self.open_vals[k:]
        self.open_base = until
        return block

    def snapshot_arrays(self) -> dict[str, np.ndarray]:
        """Open slots as (row, slot), the layout snapshots have always had."""
        return {
            "grid.open_vals": self.open_vals.T,
            "grid.scalars": np.array([self.open_base, self.watermark_ms], dtype=np.int64),
        }

    def restore_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.open_vals = np.array(arrays["grid.open_vals"].T, dtype=np.float32, order="C")
        self.open_base, self.watermark_ms = (int(x) for x in arrays["grid.scalars"])
