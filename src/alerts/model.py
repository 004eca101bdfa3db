"""The alert model: lifecycle states and codes, the alert, its events and frozen evidence.

An alert is what an inspector acts on: one per (entity, rule) while open, absorbing the
episodes that detectors report until it is cleared. Its evidence is frozen when it is
raised, with a content hash, so what the inspector saw can always be shown again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import IntEnum, StrEnum
from typing import Any

from detectors.detection import Detection, canonical_json


class Bilingual:
    """Mixin for enums shown to users as ``中文 / English``; each enum provides ``zh``.

    ``en`` defaults to the capitalised value; enums whose English differs override it.
    """

    @property
    def zh(self) -> str:
        raise NotImplementedError

    @property
    def en(self) -> str:
        return str(self.value).capitalize()  # type: ignore[attr-defined]

    @property
    def label(self) -> str:
        """User-facing label, e.g. ``告警 / Raised``."""
        return f"{self.zh} / {self.en}"


class AlertState(Bilingual, StrEnum):
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


class Outcome(Bilingual, StrEnum):
    """What verification on site found (核查结果)."""

    CONFIRMED = "confirmed"
    EXPLAINED = "explained"

    @property
    def zh(self) -> str:
        return {"confirmed": "属实（违规）", "explained": "情况说明（合理）"}[self.value]


class ReasonCode(Bilingual, StrEnum):
    """Why an explained alert was not a violation."""

    COMMISSIONING = "commissioning"
    PRE_RESUMPTION = "pre_resumption"
    TARIFF_NIGHT_SHIFT = "tariff_night_shift"
    METER_ERROR = "meter_error"
    OTHER = "other"

    @property
    def zh(self) -> str:
        return _REASON_LABELS[self][0]

    @property
    def en(self) -> str:
        return _REASON_LABELS[self][1]


_REASON_LABELS = {
    ReasonCode.COMMISSIONING: ("调试设备", "Equipment commissioning"),
    ReasonCode.PRE_RESUMPTION: ("复工前准备", "Preparation before resuming work"),
    ReasonCode.TARIFF_NIGHT_SHIFT: ("节约成本夜间生产", "Night shift to save on tariffs"),
    ReasonCode.METER_ERROR: ("计量/数据错误", "Meter or data error"),
    ReasonCode.OTHER: ("其他", "Other"),
}


class EscalationLevel(Bilingual, IntEnum):
    """Who supervises an overdue alert (超时督办): the county, then the city, then the province."""

    COUNTY = 0
    CITY = 1
    PROVINCE = 2

    @property
    def zh(self) -> str:
        return ("县级", "市级督办", "省级督办")[self.value]

    @property
    def en(self) -> str:
        return ("County", "City supervision", "Province supervision")[self.value]


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
    seq: int  # number of the last event; callers pass it back to act()
    created_at: int  # UTC ms when the store raised it
    # The lifecycle (see alerts.lifecycle): what the actions recorded, and when.
    department: str | None = None  # dispatched to (推送部门)
    owner: str | None = None  # who claimed it (签收人)
    outcome: Outcome | None = None
    reason_code: ReasonCode | None = None  # when explained
    case_number: str | None = None  # 立案编号
    result: str | None = None  # 销警结果
    dispatched_at_ms: int | None = None
    claimed_at_ms: int | None = None
    verified_at_ms: int | None = None
    enforcing_at_ms: int | None = None
    cleared_at_ms: int | None = None
    escalation_level: EscalationLevel = EscalationLevel.COUNTY
    overdue_since_ms: int | None = None  # missed deadline of the current stage; None: on time
    updated_at_ms: int = 0  # time of the last event

    @property
    def overdue(self) -> bool:
        return self.overdue_since_ms is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (enums as their values)."""
        out = asdict(self)
        out["state"] = self.state.value
        out["outcome"] = None if self.outcome is None else self.outcome.value
        out["reason_code"] = None if self.reason_code is None else self.reason_code.value
        out["escalation_level"] = int(self.escalation_level)
        out["overdue"] = self.overdue
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


def frozen_evidence(detection: Detection) -> tuple[dict[str, Any], str]:
    """The evidence an alert keeps from the detection that raised it, and its sha256."""
    # Decoded from the stored text, so the dict is exactly what a reader gets back.
    text, digest = frozen_evidence_json(detection)
    return json.loads(text), digest


def frozen_evidence_json(detection: Detection) -> tuple[str, str]:
    """The canonical JSON text of that evidence, as the store writes it, and its sha256."""
    text = canonical_json(
        {
            "evidence": detection.evidence,
            "observed": detection.observed,
            "baseline": detection.baseline,
            "thresholds": detection.thresholds,
            "thresholds_version": detection.thresholds_version,
            "explanation": detection.explanation,
        }
    )
    return text, evidence_hash(text)


def evidence_hash(canonical_text: str) -> str:
    """Content hash of canonical evidence JSON, ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()
