"""The readings one generator makes for one simulated day, before they are merged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class DayPart:
    """Parallel arrays: entity row (in the generator's own table), minute of the local day
    of ``ts`` (1..1440, the end of the interval), metric code (index in the catalogue's
    ``METRIC_NAMES``) and value."""

    row: np.ndarray
    minute: np.ndarray
    metric: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return self.row.size
