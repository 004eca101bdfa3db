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

    def index(self, ts_ms: np.ndarray) -> np.ndarray:
        """Slot of readings ending at ``ts_ms`` (UTC epoch ms)."""
        return np.floor_divide(np.asarray(ts_ms, dtype=np.int64) + (CST_OFFSET_MS - 1), self.ms)

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
    """Open-slot buffer with an event-time watermark."""

    def __init__(self, lateness_ms: int, clock: SlotClock | None = None) -> None:
        self.lateness_ms = lateness_ms
        self.clock = clock or SlotClock()
        self.open_base = -1  # first slot not handed out yet; -1 before the first reading
        self.open_vals = np.empty((0, 0), dtype=np.float32)
        self.watermark_ms = np.iinfo(np.int64).min

    def add(
        self, rows: np.ndarray, ts_ms: np.ndarray, values: np.ndarray, n_rows: int
    ) -> np.ndarray:
        """Scatter readings; returns the mask of readings whose slot had already closed."""
        if ts_ms.size == 0:
            return np.zeros(0, dtype=bool)
        slots = self.clock.index(ts_ms)
        t_low, t_high = int(ts_ms.min()), int(ts_ms.max())
        low, high = (int(s) for s in self.clock.index(np.array([t_low, t_high])))
        if self.open_base < 0:
            self.open_base = int(self.clock.index(np.array([t_low - self.lateness_ms]))[0])
        self.watermark_ms = max(self.watermark_ms, t_high)
        end = max(self.open_base + self.open_vals.shape[1], high + 1)
        self._resize(n_rows, end - self.open_base)
        if not self.open_vals.flags.c_contiguous:  # the flat scatter below needs one block
            self.open_vals = np.ascontiguousarray(self.open_vals)
        width = self.open_vals.shape[1]
        if low >= self.open_base:  # nothing late: one flat scatter, no masking
            late = np.zeros(slots.size, dtype=bool)
        else:
            late = slots < self.open_base
            keep = ~late
            rows, slots, values = rows[keep], slots[keep], values[keep]
        slots -= self.open_base
        flat = rows * width
        flat += slots
        self.open_vals.reshape(-1)[flat] = values
        return late

    def _resize(self, n_rows: int, width: int) -> None:
        old = self.open_vals
        if old.shape[0] >= n_rows and old.shape[1] >= width:
            return
        new = np.full((max(n_rows, old.shape[0]), max(width, old.shape[1])), np.nan, np.float32)
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
        until = min(self.closable_until(flush), self.open_base + self.open_vals.shape[1])
        k = until - self.open_base
        if k <= 0:
            return None
        self._resize(n_rows, self.open_vals.shape[1])
        # views, not copies: readings only ever land in open slots, never in handed-out ones
        block = ClosedBlock(self.open_base, self.open_vals[:n_rows, :k])
        self.open_vals = self.open_vals[:, k:]
        self.open_base = until
        return block

    def snapshot_arrays(self) -> dict[str, np.ndarray]:
        return {
            "grid.open_vals": self.open_vals,
            "grid.scalars": np.array([self.open_base, self.watermark_ms], dtype=np.int64),
        }

    def restore_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.open_vals = np.array(arrays["grid.open_vals"], dtype=np.float32)
        self.open_base, self.watermark_ms = (int(x) for x in arrays["grid.scalars"])
