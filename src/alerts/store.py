"""The SQLite alert store: detections in, alerts and their audit log out.

Tables (see ``alerts.migrations``): ``alerts`` holds each alert's current state,
``alert_events`` its append-only log (``seq`` 1 is 'raised'), ``detections`` every
delivery ever applied, keyed by ``Detection.key`` so that re-deliveries and replays are
recognised and change nothing. One ``apply`` call is one transaction.

How a new detection is applied (within a call, in (end_ms, rule, entity) order):

- its episode already belongs to an alert (the other delivery of the episode was
  applied): it extends that alert's first/last seen, unless the alert is cleared
  (then it is only recorded: ``late``);
- an open alert exists for the same entity and rule: that alert absorbs the new episode;
- otherwise a new alert is raised, with id ``episode_alert_id(rule, entity, episode start)``.

A detection with ``suppressed_by`` is recorded with its exemption id and nothing else.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from alerts.migrations import migrate
from alerts.model import (
    Alert,
    AlertEvent,
    AlertState,
    SuppressedDetection,
    canonical_json,
    frozen_evidence,
)
from alerts.region import check_region
from detectors.detection import Detection, episode_alert_id

SYSTEM_ACTOR = "dianyan"

_ALERT_COLUMNS = (
    "id, rule, entity_id, county, severity, state, first_seen_ms, last_seen_ms, "
    "episode_start_ms, occurrences, thresholds_version, explanation, evidence, "
    "evidence_hash, seq, created_at"
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


class SqliteAlertStore:
    """Alert store in one SQLite file (WAL) or ``":memory:"``; use it as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._conn = sqlite3.connect(os.fspath(path), isolation_level=None, timeout=30.0)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteAlertStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    def apply(self, detections: Iterable[Detection], now_ms: int) -> ApplyResult:
        """Apply a batch of detections in one transaction; safe to repeat."""
        ordered = sorted(detections, key=_processing_order)
        outcomes: Counter[str] = Counter()
        with self._transaction():
            for detection in ordered:
                outcomes[self._apply_one(detection, now_ms)] += 1
        return ApplyResult(**outcomes)

    def _apply_one(self, d: Detection, now_ms: int) -> str:
        other_key = replace(d, final=not d.final).key
        recorded = dict(
            self._conn.execute(
                "SELECT key, alert_id FROM detections WHERE key IN (?, ?)", (d.key, other_key)
            ).fetchall()
        )
        if d.key in recorded:
            return "duplicates"
        if d.suppressed_by is not None:
            self._record(d, None, now_ms)
            return "suppressed"

        episode_alert_id_ = recorded.get(other_key)
        if episode_alert_id_ is not None:
            alert = self._require(episode_alert_id_)
            self._record(d, alert.id, now_ms)
            if not alert.state.is_open:
                return "late"
            self._set_seen(alert, d, alert.occurrences)
            return "extended"

        alert = self._open_alert(d.entity_id, d.rule)
        if alert is not None:
            self._set_seen(alert, d, alert.occurrences + 1)
            self._record(d, alert.id, now_ms)
            return "absorbed"

        alert_id = self._raise(d, now_ms)
        self._record(d, alert_id, now_ms)
        return "created"

    def _raise(self, d: Detection, now_ms: int) -> str:
        alert_id = episode_alert_id(d.rule, d.entity_id, d.episode_start_ms)
        evidence, digest = frozen_evidence(d)
        self._conn.execute(
            f"INSERT INTO alerts ({_ALERT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                canonical_json(evidence),
                digest,
                1,
                now_ms,
            ),
        )
        self._conn.execute(
            "INSERT INTO alert_events (alert_id, seq, at_ms, actor, action, payload) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                alert_id,
                1,
                now_ms,
                SYSTEM_ACTOR,
                AlertState.RAISED.value,
                canonical_json({"detection": d.key, "severity": d.severity}),
            ),
        )
        return alert_id

    def _set_seen(self, alert: Alert, d: Detection, occurrences: int) -> None:
        self._conn.execute(
            "UPDATE alerts SET first_seen_ms = ?, last_seen_ms = ?, occurrences = ? WHERE id = ?",
            (
                min(alert.first_seen_ms, d.start_ms),
                max(alert.last_seen_ms, d.end_ms),
                occurrences,
                alert.id,
            ),
        )

    def _record(self, d: Detection, alert_id: str | None, now_ms: int) -> None:
        self._conn.execute(
            "INSERT INTO detections (key, rule, entity_id, county, episode_start_ms, end_ms, "
            "alert_id, suppressed_by, applied_at_ms, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                d.key,
                d.rule,
                d.entity_id,
                d.county,
                d.episode_start_ms,
                d.end_ms,
                alert_id,
                d.suppressed_by,
                now_ms,
                d.to_json(),
            ),
        )

    def _open_alert(self, entity_id: str, rule: str) -> Alert | None:
        row = self._conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts "
            "WHERE entity_id = ? AND rule = ? AND state <> ? "
            "ORDER BY first_seen_ms, id LIMIT 1",
            (entity_id, rule, AlertState.CLEARED.value),
        ).fetchone()
        return None if row is None else _alert(row)

    def _require(self, alert_id: str) -> Alert:
        alert = self.get(alert_id)
        if alert is None:  # the foreign key makes this unreachable short of manual edits
            raise LookupError(f"detections refer to alert {alert_id} which is missing")
        return alert

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- reading -------------------------------------------------------------------------

    def get(self, alert_id: str) -> Alert | None:
        """The alert with this id, or None."""
        row = self._conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone()
        return None if row is None else _alert(row)

    def list_alerts(
        self,
        region: str | None = None,
        rule: str | None = None,
        state: AlertState | str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts in a region (2/4/6-digit code prefix), ordered by first seen then id."""
        where, params = _filters(region=region, rule=rule, state=state)
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts{where} ORDER BY first_seen_ms, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(_check_limit(limit))
        return [_alert(row) for row in self._conn.execute(sql, params)]

    def events(self, alert_id: str) -> list[AlertEvent]:
        """The alert's audit log, oldest first (empty for an unknown id)."""
        rows = self._conn.execute(
            "SELECT alert_id, seq, at_ms, actor, action, payload FROM alert_events "
            "WHERE alert_id = ? ORDER BY seq",
            (alert_id,),
        )
        return [
            AlertEvent(a, s, t, actor, action, json.loads(p)) for a, s, t, actor, action, p in rows
        ]

    def detections_of(self, alert_id: str) -> list[Detection]:
        """Every delivery recorded against the alert, in event-time order."""
        rows = self._conn.execute(
            "SELECT payload FROM detections WHERE alert_id = ? ORDER BY end_ms, key",
            (alert_id,),
        )
        return [Detection.from_json(payload) for (payload,) in rows]

    def counts_by_rule_state(self, region: str | None = None) -> dict[tuple[str, AlertState], int]:
        """Number of alerts per (rule, state), e.g. for the open-alerts gauge."""
        where, params = _filters(region=region)
        rows = self._conn.execute(
            f"SELECT rule, state, COUNT(*) FROM alerts{where} GROUP BY rule, state", params
        )
        return {(rule, AlertState(state)): n for rule, state, n in rows}

    def suppressed(
        self,
        region: str | None = None,
        rule: str | None = None,
        exemption_id: str | None = None,
        limit: int | None = None,
    ) -> list[SuppressedDetection]:
        """Detections that exemptions covered, in event-time order: why nothing was raised."""
        where, params = _filters(region=region, rule=rule)
        where += " AND suppressed_by IS NOT NULL" if where else " WHERE suppressed_by IS NOT NULL"
        if exemption_id is not None:
            where += " AND suppressed_by = ?"
            params.append(exemption_id)
        sql = (
            f"SELECT key, suppressed_by, applied_at_ms, payload FROM detections{where} "
            "ORDER BY end_ms, key"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(_check_limit(limit))
        return [
            SuppressedDetection(key, exemption, at_ms, Detection.from_json(payload))
            for key, exemption, at_ms, payload in self._conn.execute(sql, params)
        ]


def _processing_order(d: Detection) -> tuple[Any, ...]:
    # A total order on content, so a call's result never depends on its input order.
    return (d.end_ms, d.rule, d.entity_id, d.episode_start_ms, d.final, d.to_json())


def _filters(
    region: str | None = None, rule: str | None = None, state: AlertState | str | None = None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if region is not None:
        clauses.append("county LIKE ?")
        params.append(check_region(region) + "%")  # digits only, so no LIKE wildcards
    if rule is not None:
        clauses.append("rule = ?")
        params.append(rule)
    if state is not None:
        clauses.append("state = ?")
        params.append(_check_state(state).value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _check_state(state: AlertState | str) -> AlertState:
    try:
        return AlertState(state)
    except ValueError:
        allowed = ", ".join(s.value for s in AlertState)
        raise ValueError(f"unknown alert state {state!r}; use one of {allowed}.") from None


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a whole number >= 0, not {limit!r}.")
    return limit


def _alert(row: tuple[Any, ...]) -> Alert:
    values = list(row)
    values[5] = AlertState(values[5])
    values[12] = json.loads(values[12])
    return Alert(*values)
