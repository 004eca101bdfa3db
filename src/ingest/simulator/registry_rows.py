"""Rows of the simulated registry's status timeline and exemptions (报备)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StatusRow:
    """A regulatory status period ``[start, end)`` in simulator minutes; ``end`` None is open."""

    entity_id: str
    status: str  # suspended | closed
    start: int
    end: int | None


@dataclass(frozen=True, slots=True)
class ExemptionRow:
    """An approved exception covering ``rules`` of one entity for ``[start, end)``."""

    exemption_id: str
    entity_id: str
    rules: str
    start: int
    end: int
    reason: str
    approver: str
    region: str = ""
