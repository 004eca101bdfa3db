"""Overdue escalation (超时督办): deadlines from config, levels county → city → province."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lifecycle_steps import CLAIM, DISPATCH, HOUR_MS, NOW_MS, step

from alerts.deadlines import Deadlines, load_deadlines
from alerts.model import Alert, EscalationLevel
from alerts.store import AlertStore
from dianyan.errors import ConfigError, StaleSequenceError

RaiseAlert = Callable[..., Alert]
REPO = Path(__file__).resolve().parents[2]
# Short deadlines, in hours, so that the arithmetic in the tests is easy to follow.
DEADLINES = Deadlines(
    dispatch_ms=2 * HOUR_MS,
    claim_ms=4 * HOUR_MS,
    verify_ms=10 * HOUR_MS,
    follow_up_ms=20 * HOUR_MS,
    clear_ms=30 * HOUR_MS,
    province_after_ms=5 * HOUR_MS,
)


def at(hours: float) -> int:
    return NOW_MS + round(hours * HOUR_MS)


def test_an_undispatched_alert_escalates_to_the_city_then_the_province_once_each(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    alert = raise_alert()  # raised at NOW_MS: dispatch due 2 h later
    assert store.escalate_overdue(at(1.99), DEADLINES) == []

    [city] = store.escalate_overdue(at(2), DEADLINES)
    assert (city.escalation_level, city.overdue_since_ms) == (EscalationLevel.CITY, at(2))
    assert city == store.get(alert.id)
    assert store.escalate_overdue(at(2), DEADLINES) == []  # idempotent
    assert store.escalate_overdue(at(6.9), DEADLINES) == []  # still the city's

    [province] = store.escalate_overdue(at(7), DEADLINES)
    assert province.escalation_level is EscalationLevel.PROVINCE
    assert province.overdue_since_ms == at(2)
    assert store.escalate_overdue(at(7), DEADLINES) == []
    assert store.escalate_overdue(at(100), DEADLINES) == []  # the province is the top

    events = store.events(alert.id)[1:]
    assert [(e.action, e.actor, e.at_ms) for e in events] == [
        ("escalate", "dianyan", at(2)),
        ("escalate", "dianyan", at(7)),
    ]
    assert events[0].payload == {"stage": "dispatch", "due_ms": at(2), "level": 1, "from_level": 0}
    assert events[1].payload["level"] == 2
    assert province.seq == 3


def test_a_late_first_run_escalates_straight_to_the_province_in_one_event(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    alert = raise_alert()
    [escalated] = store.escalate_overdue(at(50), DEADLINES)
    assert escalated.escalation_level is EscalationLevel.PROVINCE
    [event] = store.events(alert.id)[1:]
    assert (event.payload["from_level"], event.payload["level"]) == (0, 2)


def test_acting_lifts_the_overdue_flag_but_never_lowers_the_level(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    alert = raise_alert()
    [overdue] = store.escalate_overdue(at(3), DEADLINES)
    dispatched = step(store, overdue, *DISPATCH, now_ms=at(3))
    assert (dispatched.overdue_since_ms, dispatched.escalation_level) == (None, 1)
    assert store.list_alerts(overdue=True) == []
    assert store.escalate_overdue(at(6.9), DEADLINES) == []  # claim due at 3 + 4 h

    [again] = store.escalate_overdue(at(7), DEADLINES)
    assert (again.overdue_since_ms, again.escalation_level) == (at(7), EscalationLevel.CITY)
    assert store.events(alert.id)[-1].payload["stage"] == "claim"


@pytest.mark.parametrize(
    ("path", "stage", "due_hours"),
    [
        ("raised", "dispatch", 2),
        ("dispatched", "claim", 1 + 4),  # the path's steps happen 1, 2, 3... hours after NOW
        ("claimed", "verify", 1 + 10),
        ("confirmed", "enforce", 3 + 20),
        ("explained", "clear", 2 + 20),
        ("enforcing", "clear", 4 + 30),
    ],
)
def test_each_stage_has_its_deadline(
    store: AlertStore, raise_alert: RaiseAlert, path: str, stage: str, due_hours: int
) -> None:
    alert = raise_alert(path)
    assert DEADLINES.due(alert) == (stage, at(due_hours))
    assert store.escalate_overdue(at(due_hours) - 1, DEADLINES) == []
    [overdue] = store.escalate_overdue(at(due_hours), DEADLINES)
    assert overdue.id == alert.id
    assert store.events(alert.id)[-1].payload["stage"] == stage


def test_cleared_alerts_are_never_overdue(store: AlertStore, raise_alert: RaiseAlert) -> None:
    raise_alert("cleared_explained")
    raise_alert("cleared_enforced")
    assert store.escalate_overdue(at(10_000), DEADLINES) == []


def test_overdue_alerts_are_listed_filtered_and_counted(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    late = raise_alert(county="370481")
    on_time = raise_alert("dispatched", county="370502")
    store.escalate_overdue(at(3), DEADLINES)
    assert [a.id for a in store.list_alerts(overdue=True)] == [late.id]
    assert [a.id for a in store.list_alerts(overdue=False)] == [on_time.id]
    assert [a.id for a in store.page_alerts(overdue=True, region="3704").items] == [late.id]
    assert store.page_alerts(overdue=True, region="3705").items == []
    assert {(r.county, r.overdue) for r in store.stats().rows} == {("370481", 1), ("370502", 0)}


def test_an_inspector_holding_the_old_seq_learns_of_the_escalation(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    alert = raise_alert("dispatched")
    store.escalate_overdue(at(5), DEADLINES)
    with pytest.raises(StaleSequenceError):
        step(store, alert, *CLAIM)


def test_the_shipped_lifecycle_file_holds_the_documented_deadlines() -> None:
    d = load_deadlines(REPO / "config" / "lifecycle.yaml")
    day = 24 * HOUR_MS
    assert (d.dispatch_ms, d.claim_ms, d.verify_ms, d.clear_ms) == (day, day, 3 * day, 30 * day)
    assert d == Deadlines()


def test_a_stage_left_out_takes_its_default(tmp_path: Path) -> None:
    path = tmp_path / "lifecycle.yaml"
    path.write_text("deadlines:\n  verify_hours: 12.5\n", encoding="utf-8")
    assert load_deadlines(path) == Deadlines(verify_ms=45_000_000)
    path.write_text("# nothing set\n", encoding="utf-8")
    assert load_deadlines(path) == Deadlines()


@pytest.mark.parametrize(
    ("text", "key_path", "expected"),
    [
        ("deadlines:\n  verify_hours: -1\n", "deadlines.verify_hours", "above 0"),
        ("deadlines:\n  verify_hours: 0\n", "deadlines.verify_hours", "above 0"),
        ("deadlines:\n  verify_hours: true\n", "deadlines.verify_hours", "number of hours"),
        ("deadlines:\n  verify_hours: 3d\n", "deadlines.verify_hours", "number of hours"),
        ("deadlines:\n  verify_hours: .nan\n", "deadlines.verify_hours", "number of hours"),
        ("deadlines:\n  verfy_hours: 3\n", "deadlines.verfy_hours", "one of dispatch_hours"),
        ("deadline:\n  verify_hours: 3\n", "deadline", "one of deadlines, escalation"),
        ("deadlines: 3\n", "deadlines", "a mapping of deadlines"),
        ("- 1\n", "", "a mapping with the keys deadlines, escalation"),
        ("deadlines:\n  claim_hours: 1\n  claim_hours: 2\n", "line 3", "twice"),
        (
            "escalation:\n  province_after_hours: 99999\n",
            "escalation.province_after_hours",
            "at most 8784",
        ),
    ],
)
def test_a_bad_lifecycle_file_is_refused_with_the_key_path(
    tmp_path: Path, text: str, key_path: str, expected: str
) -> None:
    path = tmp_path / "lifecycle.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_deadlines(path)
    assert refused.value.file == str(path)
    assert refused.value.key_path.startswith(key_path)
    assert expected in str(refused.value)


def test_a_missing_lifecycle_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="readable"):
        load_deadlines(tmp_path / "nope.yaml")
