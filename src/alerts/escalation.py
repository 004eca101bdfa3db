"""Overdue escalation (超时督办): flag alerts whose stage deadline passed, raise their level.

An alert whose current stage is past its deadline (``Deadlines.due``) is flagged overdue
(``overdue_since_ms`` = the missed deadline) and escalated to the city (level 1); still
overdue ``province_after`` later, to the province (level 2). The level never goes down;
the flag is lifted by the next action that starts a new stage. Every change is an
``escalate`` event by the system, so running twice at the same ``now_ms`` changes nothing.
"""

from __future__ import annotations

from dataclasses import replace

from alerts.db import Db
from alerts.deadlines import Deadlines
from alerts.dedup import SYSTEM_ACTOR
from alerts.lifecycle import Action
from alerts.model import Alert, AlertState, EscalationLevel
from alerts.sql import ALERT_COLUMNS, alert_from_row, insert_event, update_alert

ESCALATE = Action.ESCALATE.value


def escalate_overdue(db: Db, now_ms: int, deadlines: Deadlines) -> list[Alert]:
    """Flag and escalate what is overdue at ``now_ms``; return the alerts that changed.

    One transaction: readers see a run whole or not at all. It takes the (rule, entity)
    locks that ``apply`` takes, in the same order, so the two cannot deadlock.
    """
    rows = db.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE state <> ? ORDER BY first_seen_ms, id",
        (AlertState.CLEARED.value,),
    ).fetchall()
    due = [
        (a, after) for a in map(alert_from_row, rows) if (after := _escalated(a, now_ms, deadlines))
    ]
    changed: list[Alert] = []
    with db.transaction():
        db.lock(f"{alert.rule}|{alert.entity_id}" for alert, _ in due)
        for alert, after in due:
            stage, due_ms = deadlines.due(alert) or ("", 0)
            values = {
                "escalation_level": after.escalation_level,
                "overdue_since_ms": after.overdue_since_ms,
                "updated_at_ms": now_ms,
            }
            if not update_alert(db, alert, values):
                continue  # an action got there first; the next run looks again
            payload = {
                "stage": stage,
                "due_ms": due_ms,
                "level": int(after.escalation_level),
                "from_level": int(alert.escalation_level),
            }
            insert_event(db, alert.id, alert.seq + 1, now_ms, SYSTEM_ACTOR, ESCALATE, payload)
            changed.append(replace(after, seq=alert.seq + 1, updated_at_ms=now_ms))
    return changed


def _escalated(alert: Alert, now_ms: int, deadlines: Deadlines) -> Alert | None:
    """The alert with its new flag and level, or None when nothing changes."""
    due = deadlines.due(alert)
    if due is None or now_ms < due[1]:
        return None
    overdue_since = alert.overdue_since_ms if alert.overdue_since_ms is not None else due[1]
    target = (
        EscalationLevel.PROVINCE
        if now_ms >= overdue_since + deadlines.province_after_ms
        else EscalationLevel.CITY
    )
    level = max(alert.escalation_level, target)
    if (level, overdue_since) == (alert.escalation_level, alert.overdue_since_ms):
        return None
    return replace(alert, escalation_level=EscalationLevel(level), overdue_since_ms=overdue_since)
