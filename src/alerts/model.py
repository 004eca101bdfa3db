"""The alert model: lifecycle states, the alert, its events and frozen evidence.

An alert is what an inspector acts on: one per (entity, rule) while open, absorbing the
episodes that detectors report until it is cleared. Its evidence is frozen when it is
raised, with a content hash, so what the inspector saw can always be shown again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from detectors.detection import Detection


class AlertState(StrEnum):
    """Lifecycle states (闭环监管); values are what the store and the API use."""

    RAISED = "raised"
    DISPATCHED = "dispatched"
    VERIFIED = "verified"
    ENFORCING = "enforcing"
    CLEARED = "cleared"

    @property
    def zh(self) -> str:
        return _ZH[self]

    @property
    def en(self) -> str:
        return self.value.capitalize()

    @property
    def label(self) -> str:
        """User-facing label, e.g. ``告警 / Raised``."""
        return f"{self.zh} / {self.en}"

    @property
    def is_open(self) -> bool:
        """Open alerts absorb new episodes of the same entity and rule."""
        return self is not AlertState.CLEARED


_ZH = {
    AlertState.RAISED: "告警",
    AlertState.DISPATCHED: "已推送",
    AlertState.VERIFIED: "已核查",
    AlertState.ENFORCING: "立案查处",
    AlertState.CLEARED: "销警",
}


@dataclass(frozen=True, slots=True)
class Alert:
    """Current state of one alert; times are UTC epoch milliseconds."""

    id: str
    rule: str
    entity_id: str
    county: str
    severity: str
    state: AlertState
    first_seen_ms: int
    last_seen_ms: int
    episode_start_ms: int  # start of the episode that raised it (its id derives from this)
    occurrences: int  # distinct episodes absorbed, the raising one included
    thresholds_version: str
    explanation: str
    evidence: dict[str, Any]
    evidence_hash: str
    seq: int  # number of the last event; callers pass it back to act (issue 4)
    created_at: int  # UTC ms when the store raised it

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (state as its value)."""
        out = asdict(self)
        out["state"] = self.state.value
        return out


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One entry of an alert's append-only audit log."""

    alert_id: str
    seq: int
    at_ms: int
    actor: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SuppressedDetection:
    """A detection an approved exemption (报备) covered: recorded, never alerted."""

    key: str
    exemption_id: str
    applied_at_ms: int
    detection: Detection


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal content gives equal text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def frozen_evidence(detection: Detection) -> tuple[dict[str, Any], str]:
    """The evidence an alert keeps from the detection that raised it, and its sha256."""
    evidence = {
        "evidence": detection.evidence,
        "observed": detection.observed,
        "baseline": detection.baseline,
        "thresholds": detection.thresholds,
        "thresholds_version": detection.thresholds_version,
        "explanation": detection.explanation,
    }
    # Round-trip so the returned dict is exactly what a reader gets back from the store.
    text = canonical_json(evidence)
    return json.loads(text), evidence_hash(text)


def evidence_hash(canonical_text: str) -> str:
    """Content hash of canonical evidence JSON, ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()
