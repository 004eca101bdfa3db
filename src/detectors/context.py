"""What detectors need to know about entities besides their readings.

County and industry (to resolve thresholds), the regulatory status timeline (suspended /
closed) and approved exemptions (报备). The registry provides them; without a registry every
entity is in an unknown county, of unknown industry, normal, and exempt from nothing.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

UNKNOWN_COUNTY = "000000"
UNKNOWN_INDUSTRY = "unknown"
NORMAL, SUSPENDED, CLOSED = 0, 1, 2


class EntityContext(Protocol):
    def describe(self, entity_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """County codes and industries of the entities (aligned arrays of str)."""
        ...

    def status(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray) -> np.ndarray:
        """(entities x slots) int8 status codes at each slot's end."""
        ...

    def exemption(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray, rule: str) -> np.ndarray:
        """(entities x slots) id of the covering exemption, "" where none."""
        ...


class NoRegistry:
    """Context of a run without master data."""

    def describe(self, entity_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(entity_ids)
        return np.full(n, UNKNOWN_COUNTY, dtype=object), np.full(n, UNKNOWN_INDUSTRY, dtype=object)

    def status(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray) -> np.ndarray:
        return np.zeros((len(entity_ids), len(slot_end_ms)), dtype=np.int8)

    def exemption(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray, rule: str) -> np.ndarray:
        return np.full((len(entity_ids), len(slot_end_ms)), "", dtype=object)
