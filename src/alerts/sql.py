"""SQL shared by both backends: alert rows, filters, and the guarded write of an action."""

from __future__ import annotations

import json
from dataclasses import fields
from enum import IntEnum, StrEnum
from typing import Any

from alerts.db import Db
from alerts.model import (
    Alert,
    AlertState,
    EscalationLevel,
    Outcome,
    ReasonCode,
    canonical_json,
)
from alerts.region import check_region

ALERT_FIELDS = tuple(f.name for f in fields(Alert))
ALERT_COLUMNS = ", ".join(ALERT_FIELDS)
_CONVERT = {
    "state": AlertState,
    "evidence": json.loads,
    "outcome": Outcome,
    "reason_code": ReasonCode,
    "escalation_level": EscalationLevel,
}


def alert_from_row(row: tuple[Any, ...]) -> Alert:
    """An :class:`Alert` from a row of ``SELECT ALERT_COLUMNS``."""
    values = {
        name: (value if value is None or name not in _CONVERT else _CONVERT[name](value))
        for name, value in zip(ALERT_FIELDS, row, strict=True)
    }
    return Alert(**values)


def region_clause(region: str | None, column: str = "county") -> tuple[str, list[Any]]:
    """``column LIKE 'prefix%'`` for a checked region, or nothing for all regions."""
    if region is None:
        return "", []
    return f"{column} LIKE ?", [check_region(region) + "%"]  # digits only: no wildcards


def alert_filters(
    region: str | None = None,
    rule: str | None = None,
    state: AlertState | str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    overdue: bool | None = None,
) -> tuple[list[str], list[Any]]:
    """WHERE clauses (to be joined with AND) and their parameters; times on first seen."""
    clause, params = region_clause(region)
    clauses = [clause] if clause else []
    if rule is not None:
        clauses.append("rule = ?")
        params.append(rule)
    if state is not None:
        clauses.append("state = ?")
        params.append(check_state(state).value)
    if since_ms is not None:
        clauses.append("first_seen_ms >= ?")
        params.append(check_ms(since_ms, "since_ms"))
    if until_ms is not None:
        clauses.append("first_seen_ms < ?")
        params.append(check_ms(until_ms, "until_ms"))
    if overdue is not None:
        if not isinstance(overdue, bool):
            raise ValueError(f"overdue must be True, False or None, not {overdue!r}.")
        clauses.append(f"overdue_since_ms IS {'NOT ' if overdue else ''}NULL")
    return clauses, params


def where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def check_state(state: AlertState | str) -> AlertState:
    try:
        return AlertState(state)
    except ValueError:
        allowed = ", ".join(s.value for s in AlertState)
        raise ValueError(f"unknown alert state {state!r}; use one of {allowed}.") from None


def check_ms(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be UTC epoch milliseconds (a whole number), not {value!r}.")
    return value


def check_limit(limit: int, minimum: int = 0) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < minimum:
        raise ValueError(f"limit must be a whole number >= {minimum}, not {limit!r}.")
    return limit


def read_alert(
    db: Db, alert_id: str, region: str | None = None, lock: bool = False
) -> Alert | None:
    """The alert with this id inside ``region``, or None; ``lock`` holds it until commit."""
    clause, params = region_clause(region)
    sql = f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?" + (f" AND {clause}" if clause else "")
    row = db.execute(sql + (db.for_update if lock else ""), [alert_id, *params]).fetchone()
    return None if row is None else alert_from_row(row)


def insert_event(
    db: Db, alert_id: str, seq: int, at_ms: int, actor: str, action: str, payload: dict[str, Any]
) -> None:
    """Append one event to an alert's log; (alert_id, seq) is its primary key."""
    db.execute(
        "INSERT INTO alert_events (alert_id, seq, at_ms, actor, action, payload) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (alert_id, seq, at_ms, actor, action, canonical_json(payload)),
    )


def update_alert(db: Db, alert: Alert, values: dict[str, Any]) -> bool:
    """Set columns and bump seq, only if the alert is still at ``alert.seq``; True if so."""
    values = {**values, "seq": alert.seq + 1}
    assignments = ", ".join(f"{name} = ?" for name in values)
    params = [_column_value(v) for v in values.values()]
    cursor = db.execute(
        f"UPDATE alerts SET {assignments} WHERE id = ? AND seq = ?", [*params, alert.id, alert.seq]
    )
    return cursor.rowcount == 1


def _column_value(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, IntEnum):
        return int(value)
    return value
