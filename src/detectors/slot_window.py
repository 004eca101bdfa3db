"""A daily time window in 15-minute slots, such as the night window "22:00-06:00".

Windows are local time (China Standard Time). The start slot is included, the end slot is
excluded, and a window whose end is not after its start crosses midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ingest.schema import SLOT_MINUTES, SLOTS_PER_DAY

_WINDOW_RE = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")

WINDOW_EXPECTED = (
    'a local-time window "HH:MM-HH:MM" with hours 00-23 and minutes a multiple of '
    f'{SLOT_MINUTES} (00, 15, 30, 45), start different from end, e.g. "22:00-06:00"'
)


@dataclass(frozen=True, slots=True)
class SlotWindow:
    """Slots of the day ``[start_slot, end_slot)``, wrapping past midnight when end <= start."""

    start_slot: int
    end_slot: int

    @classmethod
    def parse(cls, text: str) -> SlotWindow:
        """Parse "HH:MM-HH:MM"; raise ValueError (with WINDOW_EXPECTED) when malformed."""
        match = _WINDOW_RE.match(text)
        if match is None:
            raise ValueError(WINDOW_EXPECTED)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 % SLOT_MINUTES or m2 % SLOT_MINUTES or m1 > 59 or m2 > 59:
            raise ValueError(WINDOW_EXPECTED)
        start = (h1 * 60 + m1) // SLOT_MINUTES
        end = (h2 * 60 + m2) // SLOT_MINUTES
        if start == end:
            raise ValueError(WINDOW_EXPECTED)
        return cls(start, end)

    @property
    def crosses_midnight(self) -> bool:
        return self.end_slot <= self.start_slot

    @property
    def n_slots(self) -> int:
        return (self.end_slot - self.start_slot) % SLOTS_PER_DAY

    def contains(self, slots: np.ndarray | int) -> np.ndarray | bool:
        """Whether each slot of the day (0..95) lies inside the window."""
        s = np.asarray(slots)
        if self.crosses_midnight:
            inside = (s >= self.start_slot) | (s < self.end_slot)
        else:
            inside = (s >= self.start_slot) & (s < self.end_slot)
        return bool(inside) if inside.ndim == 0 else inside

    def __str__(self) -> str:
        return f"{_hhmm(self.start_slot)}-{_hhmm(self.end_slot)}"


def in_window(slots: np.ndarray, start_slot: np.ndarray, end_slot: np.ndarray) -> np.ndarray:
    """Vectorized :meth:`SlotWindow.contains` over per-entity ``window_start_slot``/``_end_slot``.

    All three arguments broadcast together (e.g. the slot of each reading and the window of
    its entity, as taken from ``Thresholds.param_table``).
    """
    s, start, end = np.asarray(slots), np.asarray(start_slot), np.asarray(end_slot)
    return np.where(end <= start, (s >= start) | (s < end), (s >= start) & (s < end))


def _hhmm(slot: int) -> str:
    minutes = slot * SLOT_MINUTES
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
