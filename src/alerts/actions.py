"""One lifecycle action on one alert: checked, written with its event, in one transaction.

The order of the checks decides which error a caller sees: an alert outside the caller's
region does not exist for them (AlertNotFound), then a stale sequence (StaleSequenceError),
then an action illegal from the current state (AlertActionError), then a malformed payload
(AlertPayloadError). Any error rolls the transaction back: nothing changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from alerts.db import Db
from alerts.lifecycle import Action, changes, check_allowed, check_payload, parse_action
from alerts.model import Alert
from alerts.sql import insert_event, read_alert, update_alert
from dianyan.errors import AlertNotFound, AlertPayloadError, StaleSequenceError


def act(
    db: Db,
    alert_id: str,
    action: Action | str,
    *,
    actor: str,
    expected_seq: int,
    payload: dict[str, Any],
    now_ms: int,
    region: str | None = None,
) -> Alert:
    """Apply ``action`` if the alert is still at ``expected_seq``; return the alert after it."""
    action_ = parse_action(action)
    if not isinstance(actor, str) or not actor.strip():
        raise AlertPayloadError(f"actor must name who acts (non-empty text), not {actor!r}.")
    if isinstance(expected_seq, bool) or not isinstance(expected_seq, int):
        raise AlertPayloadError(
            f"expected_seq must be the seq of the alert as last read (an integer), "
            f"not {expected_seq!r}."
        )
    with db.transaction():
        alert = read_alert(db, alert_id, region, lock=True)
        if alert is None:
            where = f" in region {region}" if region is not None else ""
            raise AlertNotFound(f"no alert {alert_id!r}{where}; check the id or your region.")
        _check_seq(alert, expected_seq)
        check_allowed(alert, action_)
        clean = check_payload(action_, payload)
        values = {**changes(alert, action_, clean, now_ms), "updated_at_ms": now_ms}
        if not update_alert(db, alert, values):  # a writer that took no row lock got there first
            raise _stale(alert.id, expected_seq, expected_seq + 1)
        insert_event(db, alert.id, alert.seq + 1, now_ms, actor.strip(), action_.value, clean)
    return replace(alert, **values, seq=alert.seq + 1)


def _check_seq(alert: Alert, expected_seq: int) -> None:
    if expected_seq != alert.seq:
        raise _stale(alert.id, expected_seq, alert.seq)


def _stale(alert_id: str, expected: int, current: int) -> StaleSequenceError:
    return StaleSequenceError(
        f"alert {alert_id} changed since you read it (you sent seq {expected}, it is at "
        f"{current} or later); reload it, check what changed, and act again.",
        expected=expected,
        current=current,
    )
