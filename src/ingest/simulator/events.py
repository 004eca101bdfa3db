"""Labelled events: what was injected where, and the rule that keeps them apart.

Every injected behaviour becomes one :class:`Event` and one row of ``truth.csv``. Spans
are half-open ``[start, end)`` in simulator minutes (see :mod:`.timeline`): ``start`` is
the start of the first interval whose reading shows the behaviour, ``end`` the end of
the last one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

VIOLATION = "violation"
BENIGN = "benign"
DATA_QUALITY = "data_quality"

ELECTRICITY_VIOLATIONS = (
    "suspended_operation",
    "night_production",
    "usage_surge",
    "meter_offline",
)
GAS_VIOLATIONS = (
    "pressure_out_of_bounds",
    "pressure_drop_rate",
    "night_min_flow",
    "leak_concentration",
)
WATER_VIOLATIONS = (
    "level_over_limit",
    "level_rise_rate",
    "rainfall_accumulation",
    "eco_flow_shortfall",
)
BENIGN_LABELS = (
    "continuous_process_night",
    "night_shift_history",
    "maintenance_shutdown",
    "exempt_commissioning",
    "comm_gap",
)
DATA_QUALITY_LABELS = ("register_rollover", "meter_replacement")

#: Minimum quiet time between two events of one entity, in minutes.
EVENT_GAP_MINUTES = 24 * 60


@dataclass(slots=True)
class Event:
    """One injected behaviour of one entity.

    ``level`` is the label's main parameter (a fraction of the production level, a
    factor, a target value); ``keypoints`` hold piecewise-linear curves for station
    events as ``(minutes, values)``; ``details`` end up in the truth file.
    """

    label: str
    category: str
    entity_id: str
    row: int  # row of the entity in its generator's arrays
    start: int
    end: int
    level: float = float("nan")
    effect: tuple[int, int] | None = None  # minutes the data is touched, if wider than the span
    keypoints: tuple[np.ndarray, np.ndarray] | None = None
    details: dict[str, object] = field(default_factory=dict)

    @property
    def effect_span(self) -> tuple[int, int]:
        return self.effect or (self.start, self.end)

    def detail_text(self) -> str:
        """``key=value`` pairs separated by ``;``, floats with up to 4 significant digits."""
        parts = []
        for key, value in self.details.items():
            text = _decimal(value) if isinstance(value, float) else str(value)
            parts.append(f"{key}={text}")
        return ";".join(parts)


def _decimal(x: float) -> str:
    """Plain decimal notation with at most 4 decimals: 0.7486, 3422150.12, 1000000."""
    return f"{x:.4f}".rstrip("0").rstrip(".")


class Occupancy:
    """Per-entity booked spans, so that events of one entity never overlap and keep
    at least :data:`EVENT_GAP_MINUTES` between them."""

    def __init__(self, gap: int = EVENT_GAP_MINUTES) -> None:
        self.gap = gap
        self._spans: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def free(self, entity_id: str, start: int, end: int) -> bool:
        return all(end + self.gap <= s or start >= e + self.gap for s, e in self._spans[entity_id])

    def take(self, entity_id: str, start: int, end: int) -> None:
        self._spans[entity_id].append((start, end))

    def count(self, entity_id: str) -> int:
        return len(self._spans[entity_id])

    def try_take(self, entity_id: str, start: int, end: int) -> bool:
        """Book the span if it is free; tell whether it was."""
        if not self.free(entity_id, start, end):
            return False
        self.take(entity_id, start, end)
        return True


def scaled_count(rate: float, population: int, minimum: int = 1) -> int:
    """How many entities get a behaviour: ``rate`` of the population, at least ``minimum``
    (when there is anybody)."""
    if population <= 0:
        return 0
    return int(min(population, max(minimum, round(rate * population))))


def pick(
    rng: np.random.Generator, candidates: np.ndarray, k: int, occupancy: Occupancy, ids: np.ndarray
) -> np.ndarray:
    """``k`` rows among ``candidates`` (row numbers), preferring entities without events."""
    if k <= 0 or candidates.size == 0:
        return np.empty(0, dtype=np.int64)
    shuffled = rng.permutation(candidates)
    busy = np.array([occupancy.count(ids[r]) for r in shuffled])
    return shuffled[np.argsort(busy, kind="stable")][:k]


def place(
    count: int, occupancy: Occupancy, propose: Callable[[], Event | None], tries: int = 40
) -> list[Event]:
    """Up to ``count`` events from ``propose``, each kept only where its entity is free
    over the whole span its data is touched (ramps included)."""
    events = []
    for _ in range(count):
        for _ in range(tries):
            event = propose()
            if event is not None and occupancy.try_take(event.entity_id, *event.effect_span):
                events.append(event)
                break
    return events
