"""The alert store: detections in; alerts, their lifecycle and audit log out.

One API over two backends, :class:`SqliteAlertStore` (one file, WAL; the embedded
default) and :class:`PostgresAlertStore` (several workers and the feed sharing one
database). Tables (see ``alerts.migrations``): ``alerts`` holds each alert's current
state, ``alert_events`` its append-only log (``seq`` 1 is 'raised', then one event per
action or escalation), ``detections`` every delivery ever applied (keyed by
``Detection.key``, so re-deliveries change nothing), ``exemptions`` the 报备 records.

Every write is one transaction. ``region`` arguments are the caller's jurisdiction (a
2/4/6-digit division code prefix; None = everywhere): an alert outside it reads as absent.
A store object holds one connection; threads may share it (calls take turns) or open one
store each (calls run in parallel, as the database allows).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from functools import wraps
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from alerts import actions, dedup, escalation, exemptions, stats
from alerts.db import Db, PostgresDb, SqliteDb
from alerts.deadlines import Deadlines
from alerts.dedup import SYSTEM_ACTOR, ApplyResult
from alerts.exemptions import Exemption
from alerts.lifecycle import Action
from alerts.model import Alert, AlertEvent, AlertState, SuppressedDetection
from alerts.paging import Page, encode_cursor, keyset_clause
from alerts.sql import (
    ALERT_COLUMNS,
    alert_filters,
    alert_from_row,
    check_limit,
    read_alert,
    region_clause,
    where,
)
from alerts.stats import Stats, WeekRow
from detectors.detection import Detection

__all__ = [
    "SYSTEM_ACTOR",
    "AlertStore",
    "ApplyResult",
    "Page",
    "PostgresAlertStore",
    "SqliteAlertStore",
]

P = ParamSpec("P")
R = TypeVar("R")


def _serialised(method: Callable[P, R]) -> Callable[P, R]:
    @wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0]._lock:  # the store (self): one call at a time on its connection
            return method(*args, **kwargs)

    return call


def _now_ms() -> int:
    return int(time.time() * 1000)


class AlertStore:
    """The store API over a :class:`alerts.db.Db`; use a backend subclass."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    @_serialised
    def apply(self, detections: Iterable[Detection], now_ms: int) -> ApplyResult:
        """Apply a batch of detections in one transaction; safe to repeat (see alerts.dedup)."""
        return dedup.apply_detections(self._db, detections, now_ms)

    @_serialised
    def act(
        self,
        alert_id: str,
        action: Action | str,
        *,
        actor: str,
        expected_seq: int,
        payload: dict[str, Any],
        now_ms: int,
        region: str | None = None,
    ) -> Alert:
        """One lifecycle action (see alerts.lifecycle), if the alert is still at expected_seq.

        Raises AlertNotFound (absent or outside ``region``), StaleSequenceError,
        AlertActionError (illegal from the current state) or AlertPayloadError; on any
        error nothing changes.
        """
        return actions.act(
            self._db,
            alert_id,
            action,
            actor=actor,
            expected_seq=expected_seq,
            payload=payload,
            now_ms=now_ms,
            region=region,
        )

    @_serialised
    def escalate_overdue(self, now_ms: int, deadlines: Deadlines) -> list[Alert]:
        """Flag overdue alerts and raise their escalation level; returns those that changed."""
        return escalation.escalate_overdue(self._db, now_ms, deadlines)

    # -- exemptions (报备) ----------------------------------------------------------------

    @_serialised
    def add_exemption(
        self,
        *,
        entity_id: str | None = None,
        region: str | None = None,
        rules: Iterable[str],
        start_ms: int,
        end_ms: int,
        reason: str,
        approver: str,
        created_by: str,
        exemption_id: str | None = None,
        jurisdiction: str | None = None,
        now_ms: int | None = None,
    ) -> Exemption:
        """Record an approved exemption for one entity or a whole region.

        ``region`` is the region exempted, or with ``entity_id`` the entity's county (looked
        up from its detections when omitted). ``rules``: rule names or ``["*"]``. The id is
        ``exemption_id`` (e.g. the permit number) or a new ``EX-...``. ``jurisdiction``: the
        creator's region, which must contain the exemption. Raises ExemptionError.
        """
        return exemptions.add_exemption(
            self._db,
            entity_id=entity_id,
            region=region,
            rules=rules,
            start_ms=start_ms,
            end_ms=end_ms,
            reason=reason,
            approver=approver,
            created_by=created_by,
            now_ms=_now_ms() if now_ms is None else now_ms,
            exemption_id=exemption_id,
            jurisdiction=jurisdiction,
        )

    @_serialised
    def list_exemptions(
        self, region: str | None = None, active_at_ms: int | None = None
    ) -> list[Exemption]:
        """Exemptions that apply inside ``region``; only those active then, if given."""
        return exemptions.list_exemptions(self._db, region, active_at_ms)

    @_serialised
    def get_exemption(self, exemption_id: str, region: str | None = None) -> Exemption:
        """One exemption inside ``region``; ExemptionNotFound otherwise."""
        return exemptions.get_exemption(self._db, exemption_id, region)

    @_serialised
    def revoke_exemption(
        self,
        exemption_id: str,
        actor: str,
        now_ms: int | None = None,
        *,
        region: str | None = None,
    ) -> Exemption:
        """End an exemption at ``now_ms``; raises ExemptionNotFound or ExemptionError."""
        now = _now_ms() if now_ms is None else now_ms
        return exemptions.revoke_exemption(self._db, exemption_id, actor, now, region)

    # -- reading -------------------------------------------------------------------------

    @_serialised
    def get(self, alert_id: str, region: str | None = None) -> Alert | None:
        """The alert with this id inside ``region``, or None."""
        return read_alert(self._db, alert_id, region)

    @_serialised
    def list_alerts(
        self,
        region: str | None = None,
        rule: str | None = None,
        state: AlertState | str | None = None,
        limit: int | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        overdue: bool | None = None,
    ) -> list[Alert]:
        """Every matching alert (or the first ``limit``), by first seen then id."""
        clauses, params = alert_filters(region, rule, state, since_ms, until_ms, overdue)
        sql = f"SELECT {ALERT_COLUMNS} FROM alerts{where(clauses)} ORDER BY first_seen_ms, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(check_limit(limit))
        return [alert_from_row(row) for row in self._db.execute(sql, params)]

    @_serialised
    def page_alerts(
        self,
        region: str | None = None,
        rule: str | None = None,
        state: AlertState | str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        overdue: bool | None = None,
        cursor: str | None = None,
        limit: int = 50,
        *,
        newest_first: bool = False,
    ) -> Page:
        """One page of matching alerts, by (first seen, id); pass next_cursor for the next."""
        clauses, params = alert_filters(region, rule, state, since_ms, until_ms, overdue)
        after, after_params = keyset_clause(cursor, newest_first)
        if after is not None:
            clauses.append(after)
            params.extend(after_params)
        direction = " DESC" if newest_first else ""
        limit = check_limit(limit, minimum=1)
        rows = self._db.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts{where(clauses)} "
            f"ORDER BY first_seen_ms{direction}, id{direction} LIMIT ?",
            [*params, limit + 1],
        ).fetchall()
        items = [alert_from_row(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1], newest_first) if more else None)

    @_serialised
    def events(self, alert_id: str, region: str | None = None) -> list[AlertEvent]:
        """The alert's audit log, oldest first (empty if absent or outside ``region``)."""
        clause, params = region_clause(region, "a.county")
        rows = self._db.execute(
            "SELECT e.alert_id, e.seq, e.at_ms, e.actor, e.action, e.payload "
            "FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
            f"WHERE e.alert_id = ?{' AND ' + clause if clause else ''} ORDER BY e.seq",
            [alert_id, *params],
        )
        return [
            AlertEvent(a, s, t, actor, action, json.loads(p)) for a, s, t, actor, action, p in rows
        ]

    @_serialised
    def detections_of(self, alert_id: str) -> list[Detection]:
        """Every delivery recorded against the alert, in event-time order."""
        rows = self._db.execute(
            "SELECT payload FROM detections WHERE alert_id = ? ORDER BY end_ms, key",
            (alert_id,),
        )
        return [Detection.from_json(payload) for (payload,) in rows]

    @_serialised
    def counts_by_rule_state(self, region: str | None = None) -> dict[tuple[str, AlertState], int]:
        """Number of alerts per (rule, state), e.g. for the open-alerts gauge."""
        clauses, params = alert_filters(region)
        rows = self._db.execute(
            f"SELECT rule, state, COUNT(*) FROM alerts{where(clauses)} GROUP BY rule, state",
            params,
        )
        return {(rule, AlertState(state)): int(n) for rule, state, n in rows}

    @_serialised
    def suppressed(
        self,
        region: str | None = None,
        rule: str | None = None,
        exemption_id: str | None = None,
        limit: int | None = None,
    ) -> list[SuppressedDetection]:
        """Detections that exemptions covered, in event-time order: why nothing was raised."""
        clauses, params = alert_filters(region=region, rule=rule)
        clauses.append("suppressed_by IS NOT NULL")
        if exemption_id is not None:
            clauses.append("suppressed_by = ?")
            params.append(exemption_id)
        sql = (
            f"SELECT key, suppressed_by, applied_at_ms, payload FROM detections{where(clauses)} "
            "ORDER BY end_ms, key"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(check_limit(limit))
        return [
            SuppressedDetection(key, exemption, at_ms, Detection.from_json(payload))
            for key, exemption, at_ms, payload in self._db.execute(sql, params)
        ]

    @_serialised
    def stats(
        self, region: str | None = None, since_ms: int | None = None, until_ms: int | None = None
    ) -> Stats:
        """Per (county, rule) counts by state, confirmed, explained, overdue and precision,
        and the weekly series of confirmed versus explained over the whole region."""
        return Stats(
            rows=stats.stats(self._db, region, since_ms, until_ms),
            weekly=stats.weekly_outcomes(self._db, region, None, since_ms, until_ms),
        )

    @_serialised
    def weekly_outcomes(
        self,
        region: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[WeekRow]:
        """Per week (Monday, CST) of first seen: alerts, confirmed and explained."""
        return stats.weekly_outcomes(self._db, region, rule, since_ms, until_ms)


class SqliteAlertStore(AlertStore):
    """Alert store in one SQLite file (WAL) or ``":memory:"``; use it as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(SqliteDb(path))


class PostgresAlertStore(AlertStore):
    """Alert store in PostgreSQL; tables live in the first schema of the DSN's search_path.

    ``dsn`` is a libpq connection string or URL, e.g. ``postgresql://user@host/db``.
    """

    def __init__(self, dsn: str) -> None:
        super().__init__(PostgresDb(dsn))
