"""What detectors need to know about entities besides their readings.

County and industry (to resolve thresholds), the regulatory status timeline (suspended /
closed), approved exemptions (报备) and station limits (pressure bounds, water levels, the
required ecological flow). The registry provides them; without a registry every entity is
in an unknown county, of unknown industry, normal, exempt from nothing and without limits.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ingest.registry import Registry
from ingest.registry_files import LIMIT_COLUMNS

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

    def limits(self, entity_ids: list[str]) -> dict[str, np.ndarray]:
        """Station limits by registry column name (float64 aligned arrays, NaN where none)."""
        ...


def no_limits(n: int) -> dict[str, np.ndarray]:
    """Limits of ``n`` entities that have none."""
    return {col: np.full(n, np.nan) for col in LIMIT_COLUMNS}


class NoRegistry:
    """Context of a run without master data."""

    def describe(self, entity_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(entity_ids)
        return np.full(n, UNKNOWN_COUNTY, dtype=object), np.full(n, UNKNOWN_INDUSTRY, dtype=object)

    def status(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray) -> np.ndarray:
        return np.zeros((len(entity_ids), len(slot_end_ms)), dtype=np.int8)

    def exemption(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray, rule: str) -> np.ndarray:
        return np.full((len(entity_ids), len(slot_end_ms)), "", dtype=object)

    def limits(self, entity_ids: list[str]) -> dict[str, np.ndarray]:
        return no_limits(len(entity_ids))


class RegistryContext:
    """Entity context backed by the entity registry (master data, status, exemptions)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._status_rows = registry.status_entity_rows()
        self._kept: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # (order, ids in order)
        self._exemption_ids: np.ndarray | None = None

    def _rows(self, entity_ids: np.ndarray) -> np.ndarray:
        """Registry row per id, -1 if unknown (as ``Registry.row_of``, the first if repeated).

        A binary search in the ids sorted once: row_of hashes every registry id per call.
        """
        if self._sorted is None:
            ids = np.asarray(self.registry.entity_ids, dtype=str)
            order = np.argsort(ids, kind="stable")
            self._sorted = order, ids[order]
        order, known = self._sorted
        query = np.asarray(entity_ids, dtype=str)
        if known.size == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(known, query), known.size - 1)
        return np.where(known[at] == query, order[at], -1).astype(np.int64)

    def describe(self, entity_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = self.registry.row_of(entity_ids)
        known = rows >= 0
        safe = np.maximum(rows, 0)
        county = np.where(
            known, self.registry.county[safe] if len(self.registry) else "", UNKNOWN_COUNTY
        )
        industry = np.where(
            known, self.registry.industry[safe] if len(self.registry) else "", UNKNOWN_INDUSTRY
        )
        return county.astype(object), industry.astype(object)

    def status(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray) -> np.ndarray:
        out = np.zeros((len(entity_ids), len(slot_end_ms)), dtype=np.int8)
        if self._status_rows.size == 0 or len(entity_ids) == 0:
            return out
        rows, some = self._with_status(entity_ids)
        if some.size:
            out[some] = self.registry.status_at(rows[some, None], slot_end_ms[None, :])
        return out

    def _with_status(self, entity_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Registry rows of the entities, and which of the entities have a status timeline.

        A detector asks about the same read-only array of its entities block after block;
        the answer for the last such array is kept instead of looking up every id again.
        """
        kept = self._kept
        if kept is not None and kept[0] is entity_ids:
            return kept[1], kept[2]
        rows = self.registry.row_of(entity_ids)
        some = np.flatnonzero(np.isin(rows, self._status_rows))
        if isinstance(entity_ids, np.ndarray) and not entity_ids.flags.writeable:
            self._kept = (entity_ids, rows, some)
        return rows, some

    def exemption(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray, rule: str) -> np.ndarray:
        rows = self._rows(entity_ids)
        found = self.registry.exempt_at(rows[:, None], slot_end_ms[None, :], rule)
        if self._exemption_ids is None:
            self._exemption_ids = np.asarray(self.registry.exemption_ids, dtype=object)
        ids = self._exemption_ids
        return np.where(found >= 0, ids[np.maximum(found, 0)] if ids.size else "", "").astype(
            object
        )

    def limits(self, entity_ids: list[str]) -> dict[str, np.ndarray]:
        rows = self.registry.row_of(entity_ids)
        out = no_limits(len(entity_ids))
        known = np.flatnonzero(rows >= 0)
        for col, values in self.registry.limits.items():
            if col in out and known.size:
                out[col][known] = values[rows[known]]
        return out
