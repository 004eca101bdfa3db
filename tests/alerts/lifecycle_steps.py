"""The lifecycle in test form: valid payloads, paths to each position, one step at a time."""

from __future__ import annotations

from typing import Any

from alerts.model import Alert, AlertEvent
from alerts.store import AlertStore

NOW_MS = 1_750_000_000_000
HOUR_MS = 3_600_000

# A valid payload for every user action, and the action paths to each lifecycle position.
DISPATCH = ("dispatch", {"department": "滕州市应急管理局 安监股", "comment": "请核查"})
CLAIM = ("claim", {"owner": "王伟"})
CONFIRM = ("verify", {"outcome": "confirmed", "comment": "现场核实：夜间生产"})
EXPLAIN = ("verify", {"outcome": "explained", "reason_code": "commissioning"})
ENFORCE = ("enforce", {"case_number": "滕应急罚〔2024〕17号"})
CLEAR = ("clear", {"result": "已整改 / rectified"})
COMMENT = ("comment", {"text": "企业负责人已约谈"})
VALID = {a: p for a, p in (DISPATCH, CLAIM, CONFIRM, ENFORCE, CLEAR, COMMENT)}
VALID["escalate"] = {}

PATHS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "raised": [],
    "dispatched": [DISPATCH],
    "claimed": [DISPATCH, CLAIM],
    "confirmed": [DISPATCH, CLAIM, CONFIRM],
    "explained": [DISPATCH, EXPLAIN],
    "enforcing": [DISPATCH, CLAIM, CONFIRM, ENFORCE],
    "cleared_explained": [DISPATCH, EXPLAIN, CLEAR],
    "cleared_enforced": [DISPATCH, CLAIM, CONFIRM, ENFORCE, CLEAR],
}


def step(
    store: AlertStore,
    alert: Alert,
    action: str,
    payload: dict[str, Any],
    *,
    actor: str = "李娜",
    now_ms: int | None = None,
) -> Alert:
    """Act as the user who has just read ``alert`` (its seq)."""
    return store.act(
        alert.id,
        action,
        actor=actor,
        expected_seq=alert.seq,
        payload=payload,
        now_ms=NOW_MS + alert.seq * HOUR_MS if now_ms is None else now_ms,
    )


def snapshot(store: AlertStore, alert_id: str) -> tuple[Alert | None, list[AlertEvent]]:
    """What a user can read of one alert: its state and its log."""
    return store.get(alert_id), store.events(alert_id)
