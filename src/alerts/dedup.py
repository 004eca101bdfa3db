"""Applying detections: each delivery raises, extends or joins an alert, or is suppressed.

How a new detection is applied (within a call, in (end_ms, rule, entity) order):

- its key was recorded before: a duplicate, nothing changes;
- it is suppressed: by the detector (``suppressed_by`` from the registry files) or by an
  active exemption in the store; recorded with the exemption's id and nothing else;
- its episode already belongs to an alert (the other delivery of the episode was
  applied): it extends that alert's first/last seen, unless the alert is cleared
  (then it is only recorded: ``late``);
- an open alert exists for the same entity and rule: that alert absorbs the new episode;
- otherwise a new alert is raised, with id ``episode_alert_id(rule, entity, episode start)``.

Concurrent writers (several workers on one PostgreSQL) are serialised per (rule, entity)
and inserts are ``ON CONFLICT DO NOTHING``, so a detection delivered twice at the same
moment creates its alert once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from alerts.db import Db
from alerts.exemptions import ExemptionIndex
from alerts.model import AlertState, frozen_evidence_json
from alerts.sql import insert_event
from detectors.detection import Detection, episode_alert_id

SYSTEM_ACTOR = "dianyan"
_SEVERITY_RANK = (
    "(CASE {0} WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 "
    "WHEN 'critical' THEN 3 ELSE -1 END)"
)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one ``apply`` call did, one count per detection."""

    created: int = 0
    absorbed: int = 0  # a new episode joined an open alert of the same entity and rule
    extended: int = 0  # the other delivery of an episode already in an alert
    duplicates: int = 0  # key already recorded: ignored
    suppressed: int = 0  # covered by an exemption: recorded, no alert
    late: int = 0  # the episode's alert was cleared meanwhile: recorded, alert unchanged

    @property
    def total(self) -> int:
        return (
            self.created
            + self.absorbed
            + self.extended
            + self.duplicates
            + self.suppressed
            + self.late
        )


#: Keys asked for in one ``SELECT ... IN``: well below SQLite's and PostgreSQL's limits.
_KEYS_PER_SELECT = 500


def apply_detections(db: Db, detections: Iterable[Detection], now_ms: int) -> ApplyResult:
    """Apply a batch in one transaction; safe to repeat and to run from several workers."""
    ordered = sorted(((d, d.to_json()) for d in detections), key=_processing_order)
    outcomes: Counter[str] = Counter()
    with db.transaction():
        db.lock(f"{d.rule}|{d.entity_id}" for d, _ in ordered)
        exemptions = ExemptionIndex.load(db, [d for d, _ in ordered if d.suppressed_by is None])
        # Under the locks nobody else records these keys: read them all once, then keep
        # the map up to date as this call records its own.
        recorded = _recorded(db, ordered)
        rows: list[tuple[Any, ...]] = []
        for detection, text in ordered:
            outcomes[_apply_one(db, detection, text, exemptions, recorded, rows, now_ms)] += 1
        if rows:
            db.executemany(
                "INSERT INTO detections (key, rule, entity_id, county, episode_start_ms, end_ms, "
                "alert_id, suppressed_by, applied_at_ms, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                rows,
            )
    return ApplyResult(**outcomes)


def _recorded(db: Db, ordered: list[tuple[Detection, str]]) -> dict[str, str | None]:
    """Key -> alert id of the deliveries (and their episodes' other deliveries) recorded."""
    keys = sorted({k for d, _ in ordered for k in (d.key, _other_key(d))})
    found: dict[str, str | None] = {}
    for i in range(0, len(keys), _KEYS_PER_SELECT):
        part = keys[i : i + _KEYS_PER_SELECT]
        marks = ", ".join("?" * len(part))
        sql = f"SELECT key, alert_id FROM detections WHERE key IN ({marks})"
        found.update(db.execute(sql, part).fetchall())
    return found


def _other_key(d: Detection) -> str:
    """Key of the episode's other delivery (the open one for a final one, and back)."""
    return f"{d.rule}|{d.entity_id}|{d.episode_start_ms}|{int(not d.final)}"


def _apply_one(
    db: Db,
    d: Detection,
    text: str,
    exemptions: ExemptionIndex,
    recorded: dict[str, str | None],
    rows: list[tuple[Any, ...]],
    now_ms: int,
) -> str:
    if d.key in recorded:
        return "duplicates"
    original = d

    def record(d: Detection, alert_id: str | None, outcome: str) -> str:
        recorded[d.key] = alert_id
        rows.append(_detection_row(d, alert_id, now_ms, text if d is original else d.to_json()))
        return outcome

    if d.suppressed_by is None:
        exemption = exemptions.covering(d)
        if exemption is not None:
            d = replace(d, suppressed_by=exemption.id)
    if d.suppressed_by is not None:
        return record(d, None, "suppressed")

    episode_alert = recorded.get(_other_key(d))
    if episode_alert is not None:
        seen = _seen(db, "id = ?", (episode_alert,))
        if seen is None:  # the foreign key makes this unreachable short of manual edits
            raise LookupError(f"detections refer to alert {episode_alert} which is missing")
        if not _set_seen(db, seen, d, seen.occurrences):
            return record(d, seen.id, "late")
        return record(d, seen.id, "extended")

    seen = _seen(
        db,
        "entity_id = ? AND rule = ? AND state <> ? ORDER BY first_seen_ms, id LIMIT 1",
        (d.entity_id, d.rule, AlertState.CLEARED.value),
    )
    if seen is not None and _set_seen(db, seen, d, seen.occurrences + 1):
        return record(d, seen.id, "absorbed")
    return record(d, _raise(db, d, now_ms), "created")


def _raise(db: Db, d: Detection, now_ms: int) -> str:
    alert_id = episode_alert_id(d.rule, d.entity_id, d.episode_start_ms)
    evidence, digest = frozen_evidence_json(d)  # encoded once: the stored text is hashed
    db.execute(
        "INSERT INTO alerts (id, rule, entity_id, county, severity, state, first_seen_ms, "
        "last_seen_ms, episode_start_ms, occurrences, thresholds_version, explanation, "
        "evidence, evidence_hash, seq, created_at, updated_at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            alert_id,
            d.rule,
            d.entity_id,
            d.county,
            d.severity,
            AlertState.RAISED.value,
            d.start_ms,
            d.end_ms,
            d.episode_start_ms,
            1,
            d.thresholds_version,
            d.explanation,
            evidence,
            digest,
            1,
            now_ms,
            now_ms,
        ),
    )
    payload = {"detection": d.key, "severity": d.severity}
    insert_event(db, alert_id, 1, now_ms, SYSTEM_ACTOR, AlertState.RAISED.value, payload)
    return alert_id


@dataclass(frozen=True, slots=True)
class _Seen:
    """The columns of an alert that applying a detection reads."""

    id: str
    first_seen_ms: int
    last_seen_ms: int
    occurrences: int


def _seen(db: Db, condition: str, params: tuple[Any, ...]) -> _Seen | None:
    row = db.execute(
        f"SELECT id, first_seen_ms, last_seen_ms, occurrences FROM alerts WHERE {condition}",
        params,
    ).fetchone()
    return None if row is None else _Seen(*row)


def _set_seen(db: Db, alert: _Seen, d: Detection, occurrences: int) -> bool:
    """Widen an open alert to the detection; False if it is cleared (maybe just now)."""
    # Not a lifecycle action: seq stays, so an inspector's pending action is not refused.
    # An episode that worsens (high -> critical) raises the alert's severity, never lowers it.
    cursor = db.execute(
        "UPDATE alerts SET first_seen_ms = ?, last_seen_ms = ?, occurrences = ?, "
        f"severity = CASE WHEN {_SEVERITY_RANK.format('?')} > {_SEVERITY_RANK.format('severity')} "
        "THEN ? ELSE severity END "
        "WHERE id = ? AND state <> ?",
        (
            min(alert.first_seen_ms, d.start_ms),
            max(alert.last_seen_ms, d.end_ms),
            occurrences,
            d.severity,
            d.severity,
            alert.id,
            AlertState.CLEARED.value,
        ),
    )
    return cursor.rowcount == 1


def _detection_row(
    d: Detection, alert_id: str | None, now_ms: int, payload: str
) -> tuple[Any, ...]:
    return (
        d.key,
        d.rule,
        d.entity_id,
        d.county,
        d.episode_start_ms,
        d.end_ms,
        alert_id,
        d.suppressed_by,
        now_ms,
        payload,
    )


def _processing_order(item: tuple[Detection, str]) -> tuple[Any, ...]:
    # A total order on content, so a call's result never depends on its input order.
    d, text = item
    return (d.end_ms, d.rule, d.entity_id, d.episode_start_ms, d.final, text)
